// "Connect to QuickBooks": Intuit's consent opens in its own window; once QuickBooks is connected the window
// closes and the admin lands on the sync settings.
import { get } from "./api.js";
import { announce, h, replace } from "./dom.js";
import { app, go, refreshConnection } from "./app.js";

const POLL_MS = 1000;
const GIVE_UP_MS = 10 * 60 * 1000;

/** Opens the consent, then waits until the connection reads "connected"; resolves with the connection. */
export async function startConnect(status) {
  replace(status, "Opening the QuickBooks sign-in\u2026");
  const { authorization_url: url } = await get("/oauth/connect");
  const popup = window.open(url, "quickbooks-connect", "popup,width=720,height=760");
  if (!popup) {
    replace(status, "Your browser blocked the QuickBooks window. ",
      h("a", { href: url, target: "_blank", rel: "opener" }, "Open the QuickBooks sign-in"), " and come back here.");
  } else {
    replace(status, "Sign in to QuickBooks in the window that opened and choose the company to connect.");
  }
  const started = Date.now();
  const before = app.connection ? `${app.connection.status} ${app.connection.connected_since}` : "";
  const fresh = (c) => c.status === "connected" && `${c.status} ${c.connected_since}` !== before;
  while (Date.now() - started < GIVE_UP_MS) {
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    const connection = await refreshConnection();
    if (fresh(connection)) {
      if (popup && !popup.closed) popup.close();
      announce(`Connected to ${connection.company_name}.`);
      return connection;
    }
    if (popup && popup.closed && Date.now() - started > 3000) {
      // The callback page may have shown a refusal; give the admin the way back.
      const again = await refreshConnection();
      if (fresh(again)) return again;
      replace(status, "The QuickBooks window was closed before the connection finished. Try again.");
      return null;
    }
  }
  replace(status, "QuickBooks did not answer in time. Try again.");
  return null;
}

export async function connectScreen(root) {
  const status = h("p", { class: "status", role: "status" });
  const button = h("button", { type: "button", class: "primary big" }, "Connect to QuickBooks");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      if (await startConnect(status)) go("settings");
    } catch (error) {
      replace(status, h("span", { class: "error-text" }, error.message));
    } finally {
      button.disabled = false;
    }
  });
  const disconnected = app.connection && app.connection.status === "disconnected";
  replace(root,
    h("h1", {}, "QuickBooks Online"),
    h("section", { class: "card intro" },
      h("p", {}, "Connect your QuickBooks Online company to import your customers, keep clients and customers in step, ",
        "and send invoices and payments to QuickBooks."),
      disconnected ? h("p", {}, `QuickBooks was disconnected. Connect the same company again to resume where the `,
        "sync left off.") : null,
      h("p", {}, "Clicking the button opens the QuickBooks authorization page, where you sign in to the QuickBooks ",
        "Online account you want to integrate with. When you authorize access, the window closes and you are brought ",
        "to the sync settings."),
      button, status));
}
