// The error log (on screen, and as Excel or CSV), the unsynced entities with Resync, Clear ID and Dismiss, and
// the onboarding conflicts to resolve.
import { ApiError, download, get, post } from "./api.js";
import { announce, confirmDialog, h, replace, when } from "./dom.js";
import { refreshConnection } from "./app.js";

const DIRECTION = { to_quickbooks: "To QuickBooks", to_platform: "From QuickBooks" };

function table(caption, columns, rows) {
  return h("div", { class: "table-wrap" }, h("table", { class: "grid" },
    h("caption", {}, caption),
    h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, rows)));
}

function quickbooksText(e) {
  return [h("span", { class: "code" }, e.code), " ", e.message,
    e.detail && e.detail !== e.message ? h("span", { class: "detail" }, e.detail) : null];
}

export async function errorLogScreen(root) {
  const { items } = await get("/admin/errors");
  const status = h("p", { class: "status", role: "status" });
  const fetchFile = (format, name) => async () => {
    replace(status);
    try {
      await download(`/admin/errors?format=${format}`, name);
      announce(`${name} downloaded.`);
    } catch (error) {
      replace(status, h("span", { class: "error-text" }, error.message));
    }
  };
  replace(root,
    h("h1", {}, "Error log"),
    h("p", {}, "Every record that could not sync, with QuickBooks' own error code and message. Use the suggested ",
      "fix, then resync the record from ", h("a", { href: "#/unsynced" }, "Unsynced entities"), "."),
    h("div", { class: "actions" },
      h("button", { type: "button", class: "secondary", onclick: fetchFile("xlsx", "quickbooks-sync-errors.xlsx") },
        "Download as Excel"),
      h("button", { type: "button", class: "secondary", onclick: fetchFile("csv", "quickbooks-sync-errors.csv") },
        "Download as CSV"),
      status),
    items.length ? table("Errors that occurred during syncs", ["Record", "Direction", "QuickBooks error",
      "Suggested fix", "Attempts", "Last seen"], items.map((e) => h("tr", {},
      h("td", {}, `${e.entity} ${e.entity_id}`, e.name ? h("span", { class: "detail" }, e.name) : null),
      h("td", {}, DIRECTION[e.direction] || e.direction),
      h("td", {}, quickbooksText(e)),
      h("td", {}, e.fix || e.suggested_fix || "\u2014"),
      h("td", {}, String(e.attempts)), h("td", {}, when(e.last_at)))))
      : h("p", { class: "card" }, "No errors. Every record synced."));
}

export async function unsyncedScreen(root) {
  const data = await get("/admin/errors"); // open entries an admin has not dismissed
  const status = h("p", { class: "status", role: "status" });

  async function act(what, run) {
    replace(status);
    try {
      await run();
      replace(status, what);
      announce(what);
      return true;
    } catch (error) {
      replace(status, h("span", { class: "error-text" }, error.message));
      return false;
    }
  }

  const rows = data.items.map((e) => {
    const label = `${e.entity} ${e.entity_id}`;
    const row = h("tr", { dataset: { id: e.id } });
    const resync = h("button", { type: "button", class: "secondary small", "aria-label": `Resync ${label}` }, "Resync");
    resync.addEventListener("click", () => act(`${label}: resync started.`,
      () => post(`/admin/errors/${encodeURIComponent(e.id)}/retry`)));
    const clear = h("button", { type: "button", class: "secondary small", "aria-label": `Clear ID of ${label}` },
      "Clear ID");
    clear.addEventListener("click", async () => {
      const ok = await confirmDialog({ title: `Clear the QuickBooks ID of ${label}?`, confirm: "Clear ID", danger: true,
        text: "Do this only if the record was deleted or made inactive in QuickBooks. The link between the two " +
          "records is removed, and the next sync creates the record in QuickBooks again." });
      if (!ok) return;
      if (await act(`${label}: QuickBooks ID cleared. The next sync creates it in QuickBooks again; select ` +
        "Resync to do it now.", () => post(
        `/admin/links/${encodeURIComponent(e.entity)}/${encodeURIComponent(e.entity_id)}/clear`, { confirm: true }))) {
        row.classList.add("done");
        clear.disabled = true;
        await refreshConnection();
      }
    });
    const dismiss = h("button", { type: "button", class: "secondary small", "aria-label": `Dismiss ${label}` },
      "Dismiss");
    dismiss.addEventListener("click", async () => {
      if (await act(`${label} dismissed until it fails again.`, () => post(
        `/admin/errors/${encodeURIComponent(e.id)}/dismiss`))) row.remove();
    });
    row.append(
      h("td", {}, label, e.name ? h("span", { class: "detail" }, e.name) : null),
      h("td", {}, DIRECTION[e.direction] || e.direction),
      h("td", {}, quickbooksText(e)),
      h("td", {}, e.fix || e.suggested_fix || "\u2014"),
      h("td", {}, String(e.attempts), h("span", { class: "detail" }, `first ${when(e.first_at)}`),
        h("span", { class: "detail" }, `last ${when(e.last_at)}`)),
      h("td", { class: "row-actions" }, resync, clear, dismiss));
    return row;
  });
  replace(root,
    h("h1", {}, "Unsynced entities"),
    h("p", {}, "Check this list daily. The most common reason a record does not sync is that it was deleted in ",
      "QuickBooks: confirm that in QuickBooks, then use Clear ID so the next sync creates it again. Otherwise fix ",
      "what the QuickBooks message says and select Resync."),
    status,
    rows.length ? table("Records that could not sync", ["Record", "Direction", "QuickBooks error", "Suggested fix",
      "Attempts", "Actions"], rows) : h("p", { class: "card" }, "Nothing is waiting. Every record synced."));
}

export async function conflictsScreen(root) {
  let items;
  try {
    ({ items } = await get("/admin/onboarding/conflicts"));
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 404)) throw error;
    replace(root, h("h1", {}, "Onboarding conflicts"), h("p", { class: "card" }, error.message));
    return;
  }
  const status = h("p", { class: "status", role: "status" });
  const cards = items.map((c, i) => {
    const pairs = c.qbo_ids.flatMap((q) => c.fsp_ids.map((f) => [q, f]));
    const done = (c.resolutions || []).map((r) => h("li", {}, `${r.action === "link" ? "Linked" : "Kept separate"}: ` +
      `QuickBooks customer ${r.qbo_id} and client ${r.fsp_id}`));
    return h("section", { class: "card", "aria-labelledby": `conflict-${i}` },
      h("h2", { id: `conflict-${i}` }, `Conflict ${i + 1}: ${c.reason || c.kind}`),
      h("p", {}, `QuickBooks customers: ${c.qbo_ids.join(", ")}. Clients: ${c.fsp_ids.join(", ")}.`),
      done.length ? h("ul", {}, done) : null,
      h("ul", { class: "pairs" }, pairs.map(([q, f]) => h("li", {},
        `QuickBooks customer ${q} and client ${f}: `,
        h("button", { type: "button", class: "secondary small", onclick: () => resolve(q, f, "link") },
          "Same business: link them"),
        h("button", { type: "button", class: "secondary small", onclick: () => resolve(q, f, "keep_separate") },
          "Different businesses: keep separate")))));
  });
  async function resolve(qboId, fspId, action) {
    replace(status);
    try {
      await post("/admin/onboarding/conflicts/resolve", { qbo_id: qboId, fsp_id: fspId, action });
      announce("Conflict resolved.");
      await conflictsScreen(root);
    } catch (error) {
      replace(status, h("span", { class: "error-text" }, error.message));
    }
  }
  replace(root, h("h1", {}, "Onboarding conflicts"),
    h("p", {}, "Onboarding found records that could be the same business more than once, so it merged nothing. ",
      "Choose for each pair. Kept-separate records are created on the other side by the next onboarding run."),
    status,
    cards.length ? cards : h("p", { class: "card" }, "No conflicts: onboarding matched every record it could."));
}
