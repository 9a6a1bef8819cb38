// The integration page: Disconnect at the top right, what syncs (green check or red x), the connection's health,
// the Activity Log with the onboarding progress bar, the Summary with Sync Now, and the sync history.
import { ApiError, get, post } from "./api.js";
import { announce, confirmDialog, h, replace, when } from "./dom.js";
import { app, go, refreshConnection } from "./app.js";
import { startConnect } from "./connect.js";

const POLL_MS = 1000;
const PHASES = {
  queued: "Waiting to start", loading_quickbooks: "Reading your QuickBooks customers",
  loading_platform: "Reading your clients", matching: "Matching customers and clients",
  creating_in_quickbooks: "Creating customers in QuickBooks", creating_on_platform: "Creating clients",
  sites: "Creating sites", summary: "Writing the summary",
};
const STATUS = { running: "Running", succeeded: "Finished", failed: "Failed" };
const KIND = { onboarding: "Onboarding", sync: "Sync" };
// The onboarding summary's counts (docs/onboarding.md, "What the summary counts") in the seeds' words.
const COUNTS = {
  quickbooks_customers_loaded: "QuickBooks customers read", platform_clients_loaded: "Clients read",
  platform_sites_loaded: "Sites read", clients_matched: "Clients matched to QuickBooks customers",
  sites_matched: "Sites matched to sub-customers", conflicts: "Conflicts to resolve",
  customers_created_in_quickbooks: "Customers created in QuickBooks", clients_created_on_platform: "Clients created",
  sites_created_on_platform: "Sites created", sub_customers_created_in_quickbooks: "Sub-customers created in QuickBooks",
  skipped: "Skipped (see the error log)", errors: "Errors (see the error log)",
  inactive_not_copied: "Inactive records not copied", names_adjusted_for_quickbooks: "Names adjusted for QuickBooks",
  quickbooks_projects_left_alone: "QuickBooks projects left alone",
  jobs_of_unlinked_customers: "Jobs of customers not linked", sites_of_inactive_customers_left_alone:
    "Sites of inactive customers left alone",
};

function phaseText(run) {
  if (run.status === "succeeded") return "Complete";
  if (run.status === "failed") return "Stopped with an error";
  return PHASES[run.phase] || (run.phase ? run.phase.replaceAll("_", " ") : "Working");
}

function mark(on, name) {
  return h("li", { class: on ? "on" : "off" },
    h("span", { class: "mark", "aria-hidden": "true" }, on ? "\u2714" : "\u2718"),
    h("span", {}, name), h("span", { class: "visually-hidden" }, on ? ": syncs" : ": does not sync"));
}

function countsList(run) {
  const counts = (run.summary && run.summary.counts) || run.counts;
  const entries = Object.entries(counts || {}).filter(([, v]) => typeof v === "number");
  if (!entries.length) return h("p", { class: "hint" }, "Nothing counted yet.");
  const label = (k) => COUNTS[k] || k.replaceAll("_", " ").replace(/^./, (c) => c.toUpperCase())
    .replace("quickbooks", "QuickBooks");
  return h("dl", { class: "counts" }, entries.map(([k, v]) => [label(k), v])
    .sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]));
}

function progressBlock(label) {
  const bar = h("progress", { max: 100, value: 0, "aria-label": label });
  const text = h("p", { class: "progress-text" });
  return { el: h("div", { class: "progress" }, bar, text), bar, text };
}

function schedule(settings) {
  const s = settings.schedule;
  if (s.frequency === "daily") return `Daily at ${s.time} (${s.timezone})`;
  const hoursN = { every_1h: 1, every_2h: 2, every_3h: 3 }[s.frequency];
  return `Every ${hoursN} hour${hoursN > 1 ? "s" : ""} (${s.timezone})`;
}

function tokenHealth(connection) {
  const health = connection.token;
  const needs = connection.status === "needs_reconnect" || Boolean(health && health.reconnect_needed);
  const status = h("p", { class: "status", role: "status" });
  const reconnect = h("button", { type: "button", class: "primary" }, "Reconnect to QuickBooks");
  reconnect.addEventListener("click", async () => {
    reconnect.disabled = true;
    try {
      if (await startConnect(status)) go("integration");
    } catch (error) {
      replace(status, h("span", { class: "error-text" }, error.message));
    } finally {
      reconnect.disabled = false;
    }
  });
  let text;
  if (needs) text = "QuickBooks needs you to reconnect before the sync can continue. Syncing is paused until then.";
  else if (health && typeof health.days_until_hard_expiry === "number") {
    const days = health.days_until_hard_expiry;
    text = `Connection healthy: QuickBooks will ask you to reconnect in ${days} day${days === 1 ? "" : "s"}` +
      (health.hard_expires_at ? ` (${when(health.hard_expires_at)}).` : ".");
  } else text = "QuickBooks has not said when a reconnect will be needed; the next sync asks.";
  return h("section", { class: needs ? "card warn" : "card", "aria-labelledby": "health-title" },
    h("h2", { id: "health-title" }, "Connection"),
    h("p", {}, `Connected to ${connection.company_name || "QuickBooks"}`,
      connection.connected_since ? ` since ${when(connection.connected_since)}` : "", "."),
    h("p", { class: needs ? "error-text" : "" }, text),
    needs ? [reconnect, status] : null);
}

export async function integrationScreen(root, { isCurrent }) {
  const connection = await refreshConnection();
  const [{ settings }, history] = await Promise.all([get("/admin/settings"), get("/admin/sync-runs")]);
  const onboardingId = connection.onboarding && connection.onboarding.run_id;

  const disconnect = h("button", { type: "button", class: "danger" }, "Disconnect");
  disconnect.addEventListener("click", async () => {
    const ok = await confirmDialog({ title: "Disconnect QuickBooks?", danger: true, confirm: "Disconnect",
      text: "The sync stops and this page no longer reaches your QuickBooks company. Links between records are " +
        "kept, so connecting the same company again resumes without duplicates." });
    if (!ok) return;
    try {
      await post("/admin/disconnect");
      await refreshConnection();
      announce("QuickBooks disconnected.");
      go("connect");
    } catch (error) {
      alertBox.hidden = false;
      replace(alertBox, error.message);
    }
  });
  const alertBox = h("p", { class: "problem", role: "alert", hidden: true });

  // Activity Log: the onboarding run's progress bar.
  const onboardingBar = progressBlock("Onboarding progress");
  const activityCounts = h("div", {});
  const activity = h("section", { class: "card", "aria-labelledby": "activity-title" },
    h("h2", { id: "activity-title" }, "Activity Log"),
    onboardingId ? [h("p", {}, "How much of the initial integration has been completed:"), onboardingBar.el,
      activityCounts] : h("p", {}, "Onboarding has not run yet."));

  // Summary: Sync Now and the last run.
  const syncBar = progressBlock("Sync progress");
  syncBar.el.hidden = true;
  const syncStatus = h("p", { class: "status", role: "status" });
  const syncNow = h("button", { type: "button", class: "primary" }, "Sync Now");
  const summaryBody = h("div", {});
  const historyBody = h("div", {});
  const summary = h("section", { class: "card", "aria-labelledby": "summary-title" },
    h("div", { class: "title-row" }, h("h2", { id: "summary-title" }, "Summary"), syncNow),
    h("p", {}, "Sync Now pushes new information and changes immediately, outside the schedule."),
    syncBar.el, syncStatus, summaryBody);

  function renderSummary(run, all) {
    const now = app.connection || connection; // refreshed after every run this page watched
    const errors = (now.counts && now.counts.unsynced) || 0;
    const paused = now.schedule && now.schedule.state !== "ENABLED";
    replace(summaryBody,
      h("dl", { class: "facts" },
        h("dt", {}, "Last sync"), h("dd", {}, now.last_sync_at ? when(now.last_sync_at) : all.length
          ? `${when(all[0].started_at)} (${STATUS[all[0].status] || all[0].status})` : "never"),
        h("dt", {}, "Next sync"), h("dd", {}, paused ? "paused until QuickBooks is reconnected"
          : now.next_sync_at ? when(now.next_sync_at) : "not scheduled"),
        h("dt", {}, "Schedule"), h("dd", {}, schedule(settings)),
        h("dt", {}, "Records that could not sync"), h("dd", {}, String(errors), " ",
          errors ? h("a", { href: "#/unsynced" }, "Review unsynced entities") : null)),
      run && run.status !== "running" ? h("p", {}, h("strong", {}, "Onboarding result: "),
        run.status === "succeeded" ? "complete; the Activity Log below shows what was matched and created."
          : "stopped with an error; see the Activity Log below.") : null,
      (now.needs_attention || []).length ? [h("h3", {}, "Needs attention"),
        h("ul", {}, now.needs_attention.map((a) => h("li", {}, a.message)))] : null);
  }

  function renderHistory(all) {
    replace(historyBody, all.length ? h("div", { class: "table-wrap" }, h("table", { class: "grid" },
      h("caption", { class: "visually-hidden" }, "Sync history, newest first"),
      h("thead", {}, h("tr", {}, ["Started", "Finished", "Kind", "Status", "Progress"].map((t) =>
        h("th", { scope: "col" }, t)))),
      h("tbody", {}, all.map((r) => h("tr", { dataset: { run: r.run_id } },
        h("td", {}, when(r.started_at)), h("td", {}, r.finished_at ? when(r.finished_at) : "\u2014"),
        h("td", {}, KIND[r.kind] || r.kind),
        h("td", {}, r.summary && r.summary.folded_into ? "Covered by the run already going"
          : STATUS[r.status] || r.status),
        h("td", {}, `${r.percent || 0}%`))))))
      : h("p", {}, "No syncs yet."));
  }

  async function watch(runId, block, done) {
    while (isCurrent()) {
      let run;
      try {
        run = await get(`/admin/sync-runs/${encodeURIComponent(runId)}`);
      } catch (error) {
        replace(block.text, error.message);
        return null;
      }
      if (run.summary && run.summary.folded_into) return run; // covered by another run: the caller follows it
      block.bar.value = run.status === "succeeded" ? 100 : run.percent || 0;
      replace(block.text, `${phaseText(run)}: ${block.bar.value}%`);
      if (done) done(run);
      if (run.status !== "running") return run;
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
    return null;
  }

  syncNow.addEventListener("click", async () => {
    syncNow.disabled = true;
    replace(syncStatus);
    try {
      const run = await post("/admin/sync");
      syncBar.el.hidden = false;
      announce("Sync started.");
      let finished = await watch(run.run_id, syncBar);
      // A request that met a run already going is covered by that run (summary.folded_into): follow it.
      while (finished && finished.summary && finished.summary.folded_into) {
        finished = await watch(finished.summary.folded_into, syncBar);
      }
      if (finished) {
        // The summary and history show the finished run before the status says so.
        await refreshConnection();
        const all = (await get("/admin/sync-runs")).items;
        renderSummary(null, all);
        renderHistory(all);
        replace(syncStatus, finished.status === "succeeded" ? "Sync finished." : `Sync ${STATUS[finished.status] ||
          finished.status}.`);
        announce(syncStatus.textContent);
      }
    } catch (error) {
      replace(syncStatus, h("span", { class: "error-text" }, error instanceof ApiError ? error.message : String(error)));
    } finally {
      syncNow.disabled = false;
    }
  });

  replace(root,
    h("div", { class: "title-row" }, h("h1", {}, "QuickBooks Online Integration"), disconnect),
    alertBox,
    tokenHealth(connection),
    h("section", { class: "card", "aria-labelledby": "what-title" },
      h("div", { class: "title-row" }, h("h2", { id: "what-title" }, "Sync Settings"),
        h("a", { href: "#/settings" }, "Change sync settings")),
      h("ul", { class: "marks" }, mark(true, "Clients"), mark(settings.invoices.enabled, "Invoices"),
        mark(settings.payments.enabled, "Payments"))),
    summary,
    activity,
    h("section", { class: "card", "aria-labelledby": "history-title" },
      h("h2", { id: "history-title" }, "Sync history"), historyBody));
  renderSummary(null, history.items);
  renderHistory(history.items);
  if (onboardingId) followOnboarding();

  async function followOnboarding() {
    const run = await watch(onboardingId, onboardingBar, (r) => replace(activityCounts, countsList(r)));
    if (run && isCurrent()) {
      announce(run.status === "succeeded" ? "Onboarding complete." : "Onboarding stopped with an error.");
      await refreshConnection();
      const all = (await get("/admin/sync-runs")).items;
      renderSummary(run, all);
      renderHistory(all);
    }
  }
}
