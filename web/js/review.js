// The sync wizard (review mode): what waits to sync, in two lists, every entry checked by default; "Approve
// Checked" with one rule for all unchecked entries: "Keep checked" (they come back next run) or "Clear unchecked".
import { get, notYet, post } from "./api.js";
import { announce, h, replace } from "./dom.js";

const LIST = "/admin/review";
const APPROVE = "/admin/review/approve";

/** The number waiting, for the badge beside "Sync wizard"; null when the API has no review queue yet. */
export async function reviewWaiting() {
  try {
    const body = await get(LIST);
    return body.waiting ?? ((body.import || []).length + (body.export || []).length);
  } catch {
    return null;
  }
}

function entryList(title, id, entries) {
  const boxes = entries.map((e) => {
    const box = h("input", { type: "checkbox", checked: true, id: `review-${e.id}`, value: e.id });
    return { box, row: h("li", { class: "field check" }, box, h("label", { for: box.id },
      h("strong", {}, e.name || e.entity_id || e.id), ` (${e.entity}${e.change ? `, ${e.change}` : ""})`,
      e.detail ? h("span", { class: "detail" }, e.detail) : null)) };
  });
  const section = h("section", { class: "card", "aria-labelledby": id },
    h("h2", { id }, title, " ", h("span", { class: "count" }, `(${entries.length})`)),
    boxes.length ? h("ul", { class: "review-list" }, boxes.map((b) => b.row)) : h("p", {}, "Nothing waiting."));
  return { section, boxes };
}

export async function reviewScreen(root) {
  let body;
  try {
    body = await get(LIST);
  } catch (error) {
    if (!(await notYet(error, LIST))) throw error;
    replace(root, h("h1", {}, "Sync wizard"),
      h("p", { class: "card unavailable" }, "The sync wizard is not available yet. ",
        "Once it is, changes found while review mode is on wait here for your approval."));
    return;
  }
  const imports = entryList("Import from QuickBooks", "review-import", body.import || []);
  const exports = entryList("Export to QuickBooks", "review-export", body.export || []);
  const rule = h("select", { id: "review-rule" },
    h("option", { value: "keep" }, "Keep checked"), h("option", { value: "clear" }, "Clear unchecked"));
  const approve = h("button", { type: "button", class: "primary" }, "Approve Checked");
  const status = h("p", { class: "status", role: "status" });
  approve.addEventListener("click", async () => {
    const all = [...imports.boxes, ...exports.boxes];
    const ids = all.filter((b) => b.box.checked).map((b) => b.box.value);
    approve.disabled = true;
    replace(status);
    try {
      const result = await post(APPROVE, { ids, unchecked: rule.value });
      const text = `${ids.length} approved; they are pending until the next sync.` +
        (all.length > ids.length ? (rule.value === "clear" ? " Unchecked entries were cleared."
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
  const waiting = body.waiting ?? (imports.boxes.length + exports.boxes.length);
  replace(root,
    h("h1", {}, "Sync wizard ", h("span", { class: "badge", "aria-label": `${waiting} waiting` }, String(waiting))),
    h("p", {}, "Everything is checked. Uncheck anything you do not want to sync. Choose Keep checked to see the ",
      "unchecked entries again after the next sync, or Clear unchecked so they do not show again unless they change. ",
      "The rule applies to all unchecked entries."),
    imports.section, exports.section,
    h("div", { class: "actions sticky" },
      h("label", { for: "review-rule" }, "Unchecked entries"), rule, approve, status),
    body.pending && body.pending.length ? h("section", { class: "card", "aria-labelledby": "pending-title" },
      h("h2", { id: "pending-title" }, "Pending syncs"),
      h("ul", {}, body.pending.map((e) => h("li", {}, `${e.name || e.id} (${e.entity})`)))) : null);
}
