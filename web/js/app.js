// The admin page: one screen at a time, chosen by the URL fragment and the connection's state.
import { configure, get, takeToken } from "./api.js";
import { h, replace } from "./dom.js";
import { connectScreen } from "./connect.js";
import { settingsScreen } from "./settings.js";
import { integrationScreen } from "./integration.js";
import { errorLogScreen, unsyncedScreen, conflictsScreen } from "./records.js";
import { reviewScreen, reviewWaiting } from "./review.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");

/** What every screen shares; `mounted` changes whenever another screen takes over, so pollers can stop. */
export const app = { connection: null, mounted: 0, waiting: null };

const SCREENS = {
  connect: { title: "Connect to QuickBooks", render: connectScreen },
  settings: { title: "Sync settings", render: settingsScreen, nav: "Sync settings" },
  integration: { title: "QuickBooks Online integration", render: integrationScreen, nav: "Integration" },
  errors: { title: "Error log", render: errorLogScreen, nav: "Error log" },
  unsynced: { title: "Unsynced entities", render: unsyncedScreen, nav: "Unsynced entities" },
  conflicts: { title: "Onboarding conflicts", render: conflictsScreen, nav: "Conflicts" },
  review: { title: "Sync wizard", render: reviewScreen, nav: "Sync wizard" },
};
const NAV_ORDER = ["integration", "settings", "review", "unsynced", "errors", "conflicts"];

export function go(route) {
  if (location.hash === `#/${route}`) show();
  else location.hash = `#/${route}`;
}

export async function refreshConnection() {
  app.connection = await get("/admin/connection");
  return app.connection;
}

export function enabled(connection = app.connection) {
  return Boolean(connection && connection.onboarding && connection.onboarding.enabled);
}

function connected(connection = app.connection) {
  return Boolean(connection) && ["connected", "needs_reconnect"].includes(connection.status);
}

function routeOf() {
  const [name, ...rest] = location.hash.replace(/^#\/?/, "").split("/");
  const wanted = SCREENS[name] ? name : "";
  if (!connected()) return { name: "connect", rest: [] };
  if (!wanted || wanted === "connect") return { name: enabled() ? "integration" : "settings", rest: [] };
  if (!enabled() && wanted !== "settings") return { name: "settings", rest: [] };
  return { name: wanted, rest };
}

function renderNav(current) {
  if (!connected() || !enabled()) {
    replace(nav);
    return;
  }
  const items = NAV_ORDER.map((name) => {
    const badge = name === "review" && app.waiting ? h("span", { class: "badge", "aria-label": `${app.waiting} waiting` },
      String(app.waiting)) : null;
    return h("li", {}, h("a", { href: `#/${name}`, "aria-current": name === current ? "page" : false },
      SCREENS[name].nav, badge));
  });
  replace(nav, h("ul", {}, items));
}

async function show() {
  app.mounted += 1;
  const mounted = app.mounted;
  const route = routeOf();
  const screen = SCREENS[route.name];
  document.title = `${screen.title} - QuickBooks Online`;
  renderNav(route.name);
  const body = h("div", { class: "screen", dataset: { screen: route.name } });
  replace(main, body);
  try {
    await screen.render(body, { rest: route.rest, isCurrent: () => app.mounted === mounted });
  } catch (error) {
    replace(body, h("div", { class: "problem", role: "alert" }, h("h1", {}, screen.title), h("p", {}, error.message)));
  }
  if (app.mounted === mounted) {
    main.focus({ preventScroll: true });
    const heading = main.querySelector("h1");
    if (heading) heading.setAttribute("tabindex", "-1");
  }
  if (route.name !== "connect" && enabled()) {
    reviewWaiting().then((n) => {
      if (n !== app.waiting) {
        app.waiting = n;
        if (app.mounted === mounted) renderNav(route.name);
      }
    });
  }
}

async function boot() {
  await configure();
  const token = takeToken();
  if (!token) {
    replace(main, h("div", { class: "problem", role: "alert" }, h("h1", {}, "Sign in first"),
      h("p", {}, "Open this page from Settings > Integrations > QuickBooks Online after signing in to the platform.")));
    return;
  }
  try {
    await refreshConnection();
  } catch (error) {
    replace(main, h("div", { class: "problem", role: "alert" }, h("h1", {}, "QuickBooks Online"),
      h("p", {}, error.message)));
    return;
  }
  window.addEventListener("hashchange", show);
  await show();
}

boot();
