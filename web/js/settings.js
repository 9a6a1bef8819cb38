// Sync Settings, Job Types and Scheduler: three tabs of one form, saved together (PUT /admin/settings). The rules
// between fields are shown as the seeds describe them; the API checks every rule again and its 422 problems are
// shown next to their fields in its own words.
import { ApiError, get, post, put } from "./api.js";
import { announce, h, replace, uid } from "./dom.js";
import { app, enabled, go, refreshConnection } from "./app.js";

const INCOME = ["Income"];
const EXPENSE = ["Expense", "Cost of Goods Sold"];
const DEPOSIT = ["Bank", "Other Current Asset"];
const TIMES = Array.from({ length: 48 }, (_, i) => `${String(Math.floor(i / 2)).padStart(2, "0")}:${i % 2 ? "30" : "00"}`);

function label12h(time) {
  const [hours, minutes] = time.split(":").map(Number);
  const suffix = hours < 12 ? "am" : "pm";
  return `${String(hours % 12 || 12).padStart(2, "0")}:${String(minutes).padStart(2, "0")} ${suffix}`;
}

/** Every row of a paged admin list, following `next_cursor` until the last page. */
async function everyPage(path) {
  const items = [];
  let cursor = null;
  do {
    const page = await get(cursor ? `${path}?limit=500&cursor=${encodeURIComponent(cursor)}` : `${path}?limit=500`);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

/** A labelled control with a slot for its field's problem; `field` is the API's dotted path. */
function field(labelText, control, { field: path, hint } = {}) {
  const id = control.id || uid("f");
  control.id = id;
  const errorId = `${id}-error`;
  const hintEl = hint ? h("p", { class: "hint", id: `${id}-hint` }, hint) : null;
  if (path) control.dataset.field = path;
  control.setAttribute("aria-describedby", [hintEl ? `${id}-hint` : "", errorId].filter(Boolean).join(" "));
  const isCheck = control.type === "checkbox" || control.type === "radio";
  const lab = h("label", { for: id }, labelText);
  return h("div", { class: isCheck ? "field check" : "field" },
    isCheck ? [control, lab] : [lab, control], hintEl,
    h("p", { class: "field-error", id: errorId, hidden: true }));
}

function checkbox(checked, attrs = {}) {
  return h("input", { type: "checkbox", checked, ...attrs });
}

function select(options, value, attrs = {}) {
  const el = h("select", attrs, options.map(([v, text]) => h("option", { value: v }, text)));
  el.value = value ?? "";
  return el;
}

function accountSelect(accounts, types, value, path) {
  const fitting = accounts.filter((a) => types.includes(a.AccountType));
  const options = [["", "Choose an account"], ...fitting.map((a) => [a.Id, `${a.Name} (${a.AccountType})`])];
  return select(options, value, { required: true, "aria-required": "true", dataset: { field: path } });
}

export async function settingsScreen(root, { rest }) {
  const [{ settings, version }, accountList, classList, prefs, jobTypes] = await Promise.all([
    get("/admin/settings"), get("/admin/quickbooks/accounts"), get("/admin/quickbooks/classes"),
    get("/admin/quickbooks/preferences"), everyPage("/admin/platform/job-types")]);
  const accounts = accountList.items;
  const classTracking = Boolean(prefs && prefs.AccountingInfoPrefs && prefs.AccountingInfoPrefs.ClassTrackingPerTxn);
  const s = structuredClone(settings);
  const setup = !enabled();

  // -- Tab 1: Sync Settings ------------------------------------------------------------------------------------
  const clients = checkbox(true, { disabled: true });
  const clientDirection = select([["two_way", "Two-way: changes in either system sync to the other"],
    ["quickbooks_master", "QuickBooks is the master: QuickBooks changes sync to the platform"],
    ["platform_master", "The platform is the master: platform changes sync to QuickBooks"]],
  s.clients.direction);
  const useDefaultState = checkbox(s.clients.use_default_state);
  const defaultState = h("input", { type: "text", value: s.clients.default_state || "", maxlength: 2,
    autocomplete: "off", size: 4, class: "short" });
  const defaultCountry = select([["US", "United States"], ["CA", "Canada"]], s.clients.default_country);
  const shownDefault = h("p", { class: "hint", "aria-live": "polite" });
  const stateGroup = h("div", { class: "nested" },
    field("Default State", defaultState, { field: "clients.default_state",
      hint: "Two letters, for example AZ. Used for QuickBooks customers with no State." }),
    field("Country of the default State", defaultCountry, { field: "clients.default_country" }), shownDefault);

  const sites = checkbox(s.sites.enabled);
  const siteState = checkbox(s.sites.use_client_address_state);

  const invoices = checkbox(s.invoices.enabled);
  const income = accountSelect(accounts, INCOME, s.invoices.income_account_id, "invoices.income_account_id");
  const expense = accountSelect(accounts, EXPENSE, s.invoices.expense_account_id, "invoices.expense_account_id");
  const taxQuickBooks = h("input", { type: "radio", name: "tax_mode", value: "quickbooks",
    checked: s.invoices.tax_mode === "quickbooks" });
  const taxPlatform = h("input", { type: "radio", name: "tax_mode", value: "platform",
    checked: s.invoices.tax_mode === "platform" });
  const jobLocations = checkbox(s.invoices.job_locations);
  const invoiceGroup = h("div", { class: "nested" },
    field("Use this Income Account", income, { field: "invoices.income_account_id",
      hint: "Required. Invoice amounts post to this QuickBooks income account." }),
    field("Use this Expense Account", expense, { field: "invoices.expense_account_id",
      hint: "Required. Billing items post to this QuickBooks expense account." }),
    h("fieldset", { class: "radios", dataset: { field: "invoices.tax_mode" } }, h("legend", {}, "Tax"),
      field("QuickBooks calculates the tax", taxQuickBooks),
      field("Send the platform's tax on each invoice", taxPlatform),
      h("p", { class: "field-error", hidden: true })),
    field("Using Job Locations", jobLocations, { field: "invoices.job_locations",
      hint: "Sites are sent to QuickBooks as sub-customers (jobs) on their invoices." }));

  const payments = checkbox(s.payments.enabled);
  const paymentsHint = h("p", { class: "hint", id: uid("payments-hint") },
    "The Payments checkbox only becomes active once Invoices is selected.");
  const deposit = accountSelect(accounts, DEPOSIT, s.payments.deposit_account_id, "payments.deposit_account_id");
  const paymentGroup = h("div", { class: "nested" },
    field("Deposit payments to this account", deposit, { field: "payments.deposit_account_id",
      hint: "Required. All payment amounts post to this bank or other current asset account." }));

  const items = checkbox(s.items.enabled);
  const itemsFromQuickBooks = h("input", { type: "radio", name: "items_direction", value: "quickbooks_to_platform",
    checked: s.items.direction === "quickbooks_to_platform" });
  const itemsToQuickBooks = h("input", { type: "radio", name: "items_direction", value: "platform_to_quickbooks",
    checked: s.items.direction === "platform_to_quickbooks" });
  const itemIncome = accountSelect(accounts, INCOME, s.items.income_account_id, "items.income_account_id");
  const itemExpense = accountSelect(accounts, EXPENSE, s.items.expense_account_id, "items.expense_account_id");
  const itemAccounts = h("div", { class: "nested" },
    field("Income account for items", itemIncome, { field: "items.income_account_id" }),
    field("Expense account for items", itemExpense, { field: "items.expense_account_id" }));
  const itemGroup = h("div", { class: "nested" },
    h("fieldset", { class: "radios", dataset: { field: "items.direction" } }, h("legend", {}, "Direction"),
      field("QuickBooks to the platform", itemsFromQuickBooks),
      field("The platform to QuickBooks", itemsToQuickBooks),
      h("p", { class: "field-error", hidden: true })),
    itemAccounts);
  const review = checkbox(s.review_mode);

  const syncPanel = h("div", {},
    h("fieldset", { class: "card" }, h("legend", {}, "Clients"),
      field("Clients", clients, { field: "clients.enabled",
        hint: "Always on: invoices and payments need their client in QuickBooks, so Clients cannot be turned off." }),
      field("Client direction", clientDirection, { field: "clients.direction" }),
      field("Use default State", useDefaultState, { field: "clients.use_default_state",
        hint: "When a QuickBooks customer has no State, use the default State below." }),
      stateGroup),
    h("fieldset", { class: "card" }, h("legend", {}, "Sites"),
      field("Create sites from QuickBooks sub-customers during onboarding", sites, { field: "sites.enabled" }),
      field("Use client state/country when creating client sites", siteState,
        { field: "sites.use_client_address_state" })),
    h("fieldset", { class: "card" }, h("legend", {}, "Invoices"),
      field("Invoices", invoices, { field: "invoices.enabled",
        hint: "Invoices you create from the date of integration are sent to QuickBooks." }),
      invoiceGroup),
    h("fieldset", { class: "card" }, h("legend", {}, "Payments"),
      field("Payments", payments, { field: "payments.enabled" }), paymentsHint, paymentGroup),
    h("fieldset", { class: "card" }, h("legend", {}, "Items"),
      field("Items (products and services)", items, { field: "items.enabled",
        hint: "Items sync one way. If an item matches by name it is updated, otherwise it is created." }),
      itemGroup),
    h("fieldset", { class: "card" }, h("legend", {}, "Review"),
      field("Review changes in the sync wizard before they sync", review, { field: "review_mode" })));
  payments.setAttribute("aria-describedby", `${paymentsHint.id} ${payments.getAttribute("aria-describedby")}`);

  // -- Tab 2: Job Types ----------------------------------------------------------------------------------------
  const jobTypesOn = checkbox(s.job_types.enabled);
  const alwaysCreate = checkbox(s.job_types.always_create_class);
  const classOptions = [["create", "Create New Job Class"], ["none", "None"],
    ...classList.items.map((c) => [`class:${c.Id}`, c.FullyQualifiedName || c.Name])];
  const mappingSelects = new Map();
  const classIds = new Set(classList.items.map((c) => c.Id));
  // A saved class since deleted or made inactive in QuickBooks stays selected, named as such, so the save answers
  // the API's own message on that row instead of silently switching the job type to another choice.
  const optionsFor = (current) => current && current.mode === "class" && !classIds.has(current.class_id)
    ? [...classOptions, [`class:${current.class_id}`, "A class no longer in QuickBooks: choose another"]]
    : classOptions;
  const rows = jobTypes.map((jt) => {
    const current = s.job_types.class_mapping[jt.id];
    const value = !current ? "none" : current.mode === "class" ? `class:${current.class_id}` : current.mode;
    const control = select(optionsFor(current), value);
    mappingSelects.set(jt.id, control);
    const name = jt.active ? jt.name : `${jt.name} (inactive)`;
    return h("tr", {}, h("th", { scope: "row" }, name),
      h("td", {}, field(`QuickBooks class for ${jt.name}`, control,
        { field: `job_types.class_mapping.${jt.id}` })));
  });
  const jobTypeRows = rows.length ? h("table", { class: "grid" }, h("thead", {}, h("tr", {},
    h("th", { scope: "col" }, "Job type"), h("th", { scope: "col" }, "QuickBooks class"))), h("tbody", {}, rows))
    : h("p", {}, "You have no job types yet.");
  const jobTypesPanel = h("div", {},
    h("div", { class: "card" },
      h("p", {}, "Choose which QuickBooks Class each job type maps to when invoices sync."),
      field("Match job types to QuickBooks classes", jobTypesOn, { field: "job_types.enabled" }),
      jobTypeRows,
      field("Always create a new QuickBooks Class for each new Job Type", alwaysCreate,
        { field: "job_types.always_create_class" })));

  // -- Tab 3: Scheduler ----------------------------------------------------------------------------------------
  const every = h("input", { type: "radio", name: "frequency_kind", value: "every",
    checked: s.schedule.frequency !== "daily" });
  const daily = h("input", { type: "radio", name: "frequency_kind", value: "daily",
    checked: s.schedule.frequency === "daily" });
  const hours = select([["every_1h", "1 hour"], ["every_2h", "2 hours"], ["every_3h", "3 hours"]],
    s.schedule.frequency === "daily" ? "every_1h" : s.schedule.frequency);
  const time = select(TIMES.map((t) => [t, label12h(t)]), s.schedule.time || "08:00");
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  const zoneList = Array.from(new Set(["UTC", ...zones, s.schedule.timezone]));
  const timezone = select(zoneList.map((z) => [z, z]), s.schedule.timezone);
  const schedulerPanel = h("div", {},
    h("fieldset", { class: "card", dataset: { field: "schedule.frequency" } }, h("legend", {}, "When to sync"),
      field("Sync data every", every),
      h("div", { class: "nested" }, field("Interval", hours, { field: "schedule.every" })),
      field("Sync data daily at", daily),
      h("div", { class: "nested" }, field("Time of day", time, { field: "schedule.time",
        hint: "On the hour or on the half hour." })),
      h("p", { class: "field-error", hidden: true }),
      field("Time zone", timezone, { field: "schedule.timezone", hint: "Your company's time zone." })));

  // -- tabs ----------------------------------------------------------------------------------------------------
  const tabs = [
    { key: "sync", title: "Sync Settings", panel: syncPanel },
    ...(classTracking ? [{ key: "job-types", title: "Job Types", panel: jobTypesPanel }] : []),
    { key: "scheduler", title: "Scheduler", panel: schedulerPanel },
  ];
  const tablist = h("div", { role: "tablist", "aria-label": "Sync settings sections", class: "tabs" });
  for (const tab of tabs) {
    tab.button = h("button", { type: "button", role: "tab", id: `tab-${tab.key}`,
      "aria-controls": `panel-${tab.key}` }, tab.title);
    tab.panelEl = h("div", { role: "tabpanel", id: `panel-${tab.key}`, "aria-labelledby": `tab-${tab.key}`,
      tabindex: "0" }, tab.panel);
    tablist.append(tab.button);
  }
  const usable = (tab) => tab.button.getAttribute("aria-disabled") !== "true";
  function select_(key, focus = false) {
    for (const tab of tabs) {
      const on = tab.key === key;
      tab.button.setAttribute("aria-selected", String(on));
      tab.button.tabIndex = on ? 0 : -1;
      tab.panelEl.hidden = !on;
      if (on && focus) tab.button.focus();
    }
  }
  for (const tab of tabs) {
    tab.button.addEventListener("click", () => { if (usable(tab)) select_(tab.key); });
    tab.button.addEventListener("keydown", (event) => {
      const moves = { ArrowRight: 1, ArrowLeft: -1, Home: -Infinity, End: Infinity };
      if (!(event.key in moves)) return;
      event.preventDefault();
      const open = tabs.filter(usable);
      let i = open.indexOf(tab) + moves[event.key];
      i = moves[event.key] === -Infinity ? 0 : moves[event.key] === Infinity ? open.length - 1
        : (i + open.length) % open.length;
      select_(open[i].key, true);
    });
  }

  // -- the dependent rules -------------------------------------------------------------------------------------
  const jobTab = tabs.find((t) => t.key === "job-types");
  function applyRules() {
    stateGroup.hidden = !useDefaultState.checked;
    const stateText = defaultState.value.trim().toUpperCase();
    shownDefault.textContent = useDefaultState.checked
      ? (stateText ? `Default State: ${stateText}, ${defaultCountry.selectedOptions[0].textContent}.`
        : "No default State chosen yet.") : "";
    siteState.disabled = !sites.checked;
    invoiceGroup.hidden = !invoices.checked;
    if (!invoices.checked) payments.checked = false;
    payments.disabled = !invoices.checked;
    paymentsHint.hidden = invoices.checked;
    paymentGroup.hidden = !payments.checked;
    itemGroup.hidden = !items.checked;
    itemAccounts.hidden = !itemsToQuickBooks.checked;
    hours.disabled = !every.checked;
    time.disabled = !daily.checked;
    if (jobTab) {
      jobTab.button.setAttribute("aria-disabled", String(!invoices.checked));
      jobTab.button.title = invoices.checked ? "" : "Select Invoices in Sync Settings to map job types";
      if (!invoices.checked && jobTab.button.getAttribute("aria-selected") === "true") select_("sync");
    }
  }
  root.addEventListener("input", applyRules);
  root.addEventListener("change", applyRules);

  function collect() {
    const mapping = {};
    for (const [id, control] of mappingSelects) {
      const value = control.value;
      mapping[id] = value.startsWith("class:") ? { mode: "class", class_id: value.slice(6) } : { mode: value };
    }
    const orNull = (v) => v || null;
    // Each section keeps the settings this page has no control for (the tax code, per-region codes): a save changes
    // only what the admin could see.
    return {
      ...s,
      clients: { ...s.clients, enabled: true, direction: clientDirection.value, use_default_state: useDefaultState.checked,
        default_state: orNull(defaultState.value.trim().toUpperCase()), default_country: defaultCountry.value },
      sites: { ...s.sites, enabled: sites.checked, use_client_address_state: siteState.checked },
      invoices: { ...s.invoices, enabled: invoices.checked, income_account_id: orNull(income.value),
        expense_account_id: orNull(expense.value), tax_mode: taxPlatform.checked ? "platform" : "quickbooks",
        job_locations: jobLocations.checked },
      payments: { ...s.payments, enabled: payments.checked, deposit_account_id: orNull(deposit.value) },
      items: { ...s.items, enabled: items.checked, direction: itemsToQuickBooks.checked ? "platform_to_quickbooks"
        : "quickbooks_to_platform", income_account_id: orNull(itemIncome.value),
      expense_account_id: orNull(itemExpense.value) },
      job_types: { ...s.job_types, enabled: classTracking && jobTypesOn.checked,
        class_mapping: mapping,
        always_create_class: alwaysCreate.checked },
      schedule: { ...s.schedule, frequency: daily.checked ? "daily" : hours.value, time: daily.checked ? time.value : null,
        timezone: timezone.value },
      review_mode: review.checked,
    };
  }

  // -- saving --------------------------------------------------------------------------------------------------
  const summary = h("div", { class: "problem", role: "alert", tabindex: "-1", hidden: true });
  const saved = h("p", { class: "status", role: "status" });
  let currentVersion = version;

  function clearProblems() {
    summary.hidden = true;
    replace(summary);
    for (const el of root.querySelectorAll(".field-error")) { el.hidden = true; el.textContent = ""; }
    for (const el of root.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  }

  function where(path) {
    // The control for the API's dotted field path, or for the nearest enclosing path it has one for.
    const parts = path.split(".");
    for (let n = parts.length; n > 0; n -= 1) {
      const el = root.querySelector(`[data-field="${CSS.escape(parts.slice(0, n).join("."))}"]`);
      if (el) return el;
    }
    return null;
  }

  function showProblems(error) {
    clearProblems();
    const list = h("ul", {});
    for (const problem of error.details) {
      const el = where(problem.field || "");
      if (el) {
        const slot = el.tagName === "FIELDSET" ? el.querySelector(":scope > .field-error")
          : el.closest(".field").querySelector(".field-error");
        slot.hidden = false;
        slot.textContent = slot.textContent ? `${slot.textContent} ${problem.message}` : problem.message;
        if (el.tagName !== "FIELDSET") el.setAttribute("aria-invalid", "true");
      }
      const tab = tabs.find((t) => el && t.panelEl.contains(el));
      list.append(h("li", {}, el && el.id ? h("a", { href: `#${el.id}`, onclick: (event) => {
        event.preventDefault();
        if (tab) select_(tab.key);
        el.focus();
      } }, problem.message) : problem.message, tab && tab.key !== "sync" ? ` (${tab.title} tab)` : ""));
    }
    replace(summary, h("p", {}, h("strong", {}, error.message)), error.details.length ? list : null);
    summary.hidden = false;
    summary.focus();
  }

  async function save() {
    clearProblems();
    replace(saved);
    try {
      const result = await put("/admin/settings", { settings: collect(), version: currentVersion });
      currentVersion = result.version;
      replace(saved, "Settings saved.");
      announce("Settings saved.");
      return true;
    } catch (error) {
      if (error instanceof ApiError && error.status === 409 && error.code !== "not_connected") {
        replace(saved, h("span", { class: "error-text" }, error.message));
      } else if (error instanceof ApiError && error.details.length) {
        showProblems(error);
      } else {
        replace(summary, h("p", {}, h("strong", {}, error.message)));
        summary.hidden = false;
        summary.focus();
      }
      return false;
    }
  }

  const saveButton = h("button", { type: "submit", class: setup ? "secondary" : "primary" }, "Save settings");
  const enableButton = setup ? h("button", { type: "button", class: "primary" }, "Enable Integration") : null;
  const form = h("form", { novalidate: true, "aria-labelledby": "settings-title" }, summary, tablist,
    tabs.map((t) => t.panelEl),
    h("div", { class: "actions sticky" }, saveButton, enableButton, saved));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    saveButton.disabled = true;
    try { await save(); } finally { saveButton.disabled = false; }
  });
  if (enableButton) {
    enableButton.addEventListener("click", async () => {
      enableButton.disabled = true;
      try {
        if (!(await save())) return;
        await post("/admin/enable");
        await refreshConnection();
        announce("Integration enabled. Onboarding has started.");
        go("integration");
      } catch (error) {
        replace(saved, h("span", { class: "error-text" }, error.message));
      } finally {
        enableButton.disabled = false;
      }
    });
  }

  replace(root,
    h("div", { class: "title-row" }, h("h1", { id: "settings-title" }, "QuickBooks Online Sync Settings"),
      h("p", { class: "company" }, `Connected to ${app.connection.company_name || "QuickBooks"}`)),
    h("p", {}, setup
      ? "Decide what syncs and where it goes in QuickBooks, then select Enable Integration to start the first sync."
      : "Changes apply from the next sync."),
    classTracking ? null : h("p", { class: "hint", role: "note" },
      "The Job Types tab is not shown because class tracking is turned off in your QuickBooks preferences."),
    form);
  const initial = tabs.find((t) => t.key === rest[0]) || tabs[0];
  select_(initial.key);
  applyRules();
  if (initial !== tabs[0] && !usable(initial)) select_("sync");
}
