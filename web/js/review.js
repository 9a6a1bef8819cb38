// The sync wizard (review mode): what waits to sync, in two lists, every entry checked by default; "Approve
// Checked" with one rule for all unchecked entries: "Keep checked" (they come back next run) or "Clear unchecked".
// The routes are the admin API's (docs/admin-api.md "Review mode"): GET /admin/review?side=import|export (paged),
// /admin/review/pending, /admin/review/results?outcome=succeeded|failed, /admin/review/count, and
// POST /admin/review/approve {checked, unchecked, as_of}.
import { get, notYet, post } from "./api.js";
import { announce, h, replace } from "./dom.js";

const LIST = "/admin/review";
const APPROVE = "/admin/review/approve";
const COUNT = "/admin/review/count";
const PAGE = 500;

/** Every page of a list route: {items, as_of} (the first page's as_of, the moment the admin's view starts). */
async function everything(path) {
  const join = path.includes("?") ? "&" : "?";
  let body = await get(`${path}${join}limit=${PAGE}`);
  const items = [...body.items];
  const asOf = body.as_of;
  while (body.next_cursor) {
    body = await get(`${path}${join}limit=${PAGE}&cursor=${encodeURIComponent(body.next_cursor)}`);
    items.push(...body.items);
  }
  return { items, asOf };
}

/** The number waiting, for the badge beside "Sync wizard"; null when the API has no review queue. */
export async function reviewWaiting() {
  try {
    return (await get(COUNT)).waiting;
  } catch {
    return null;
  }
}

function entryLabel(e) {
  return [h("strong", {}, e.name || e.entity_id), ` (${e.entity}, ${e.change})`];
}

function entryList(title, id, entries) {
  const boxes = entries.map((e) => {
    const box = h("input", { type: "checkbox", checked: e.checked !== false, id: `review-${e.id}`, value: e.id });
    return { box, row: h("li", { class: "field check" }, box, h("label", { for: box.id }, entryLabel(e))) };
  });
  const section = h("section", { class: "card", "aria-labelledby": id },
    h("h2", { id }, title, " ", h("span", { class: "count" }, `(${entries.length})`)),
    boxes.length ? h("ul", { class: "review-list" }, boxes.map((b) => b.row)) : h("p", {}, "Nothing waiting."));
  return { section, boxes };
}

function resultList(title, id, entries, empty) {
  return h("section", { class: "card", "aria-labelledby": id },
    h("h2", { id }, title, " ", h("span", { class: "count" }, `(${entries.length})`)),
    entries.length ? h("ul", { class: "review-results" }, entries.map((e) => h("li", {}, entryLabel(e),
      e.message ? h("span", { class: "detail" }, ` ${e.message}`) : null))) : h("p", {}, empty));
}

export async function reviewScreen(root) {
  let lists;
  try {
    lists = await Promise.all([everything(`${LIST}?side=import`), everything(`${LIST}?side=export`),
      everything(`${LIST}/pending`), everything(`${LIST}/results?outcome=succeeded`),
      everything(`${LIST}/results?outcome=failed`)]);
  } catch (error) {
    if (!(await notYet(error, LIST))) throw error;
    replace(root, h("h1", {}, "Sync wizard"),
      h("p", { class: "card unavailable" }, "The sync wizard is not available yet. ",
        "Once it is, changes found while review mode is on wait here for your approval."));
    return;
  }
  const [imported, exported, pending, succeeded, failed] = lists;
  // The earlier of the two lists' moments: the rule for unchecked entries touches only what the admin has seen.
  const asOf = [imported.asOf, exported.asOf].filter(Boolean).sort()[0] || null;
  const imports = entryList("Import from QuickBooks", "review-import", imported.items);
  const exports = entryList("Export to QuickBooks", "review-export", exported.items);
  const rule = h("select", { id: "review-rule" },
    h("option", { value: "keep" }, "Keep checked"), h("option", { value: "clear" }, "Clear unchecked"));
  const approve = h("button", { type: "button", class: "primary" }, "Approve Checked");
  const status = h("p", { class: "status", role: "status" });
  approve.addEventListener("click", async () => {
    const all = [...imports.boxes, ...exports.boxes];
    const checked = all.filter((b) => b.box.checked).map((b) => b.box.value);
    approve.disabled = true;
    replace(status);
    try {
      const result = await post(APPROVE, { checked, unchecked: rule.value, as_of: asOf });
      const text = `${result.approved} approved; they are pending until the next sync.` +
        (all.length > checked.length ? (rule.value === "clear" ? " Unchecked entries were cleared."
          : " Unchecked entries will show again after the next sync.") : "");
      announce(text);
      await reviewScreen(root);
      replace(root.querySelector("[role=status]"), text);
      return result;
    } catch (error) {
      replace(status, h("span", { class: "error-text" }, error.message));
    } finally {
      approve.disabled = false;
    }
    return null;
  });
  const waiting = imports.boxes.length + exports.boxes.length;
  replace(root,
    h("h1", {}, "Sync wizard ", h("span", { class: "badge", "aria-label": `${waiting} waiting` }, String(waiting))),
    h("p", {}, "Everything is checked. Uncheck anything you do not want to sync. Choose Keep checked to see the ",
      "unchecked entries again after the next sync, or Clear unchecked so they do not show again unless they change. ",
      "The rule applies to all unchecked entries."),
    imports.section, exports.section,
    h("div", { class: "actions sticky" },
      h("label", { for: "review-rule" }, "Unchecked entries"), rule, approve, status),
    resultList("Pending syncs", "review-pending", pending.items, "Nothing approved is waiting for the next sync."),
    resultList("Successful syncs", "review-succeeded", succeeded.items, "None yet."),
    resultList("Failed syncs", "review-failed", failed.items, "None."));
}
