// The admin API, called with the signed-in user's bearer token. Every refusal becomes an ApiError carrying the
// API's own code, message and per-field details, so screens show the API's words as they are.

const TOKEN_KEY = "qbsync.token";
let base = "";

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || (body && body.message) || `The service answered HTTP ${status}.`);
    this.status = status;
    this.code = error.code || "";
    this.details = error.details || [];
    this.quickbooks = error.quickbooks || null;
  }

  /** 404 from a route the API does not serve yet (see docs/web.md, "Routes the page expects"). */
  get missing() {
    return this.status === 404;
  }
}

export async function configure() {
  // config.json is written at deploy time with the API's URL; locally the gateway serves page and API together.
  // Without a readable file the page calls its own origin.
  let config = {};
  try {
    const response = await fetch("config.json", { cache: "no-store" });
    if (response.ok) config = await response.json();
  } catch {
    config = {};
  }
  base = (config.apiUrl || "").replace(/\/$/, "");
  return config;
}

/** The development sign-in (and the platform's link) hands the token in the URL fragment, which never reaches a
 * server or its logs; it is kept for this tab only. */
export function takeToken() {
  const params = new URLSearchParams(location.hash.replace(/^#/, ""));
  const fromLink = params.get("token");
  if (fromLink) {
    sessionStorage.setItem(TOKEN_KEY, fromLink);
    history.replaceState(null, "", location.pathname + location.search + "#/");
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

function headers(extra = {}) {
  return { Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY) || ""}`, ...extra };
}

export async function call(method, path, body) {
  const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": "application/json" }) };
  if (body !== undefined) init.body = JSON.stringify(body);
  let response;
  try {
    response = await fetch(base + path, init);
  } catch {
    throw new ApiError(0, { message: "The QuickBooks sync service could not be reached. Check your connection and try again." });
  }
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = { message: text };
  }
  if (!response.ok) throw new ApiError(response.status, parsed);
  return parsed;
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body);
export const put = (path, body) => call("PUT", path, body);

/** Downloads need the bearer token too, so they are fetched and handed to the browser as a file. */
export async function download(path, filename) {
  const response = await fetch(base + path, { headers: headers() });
  if (!response.ok) {
    let parsed = null;
    try { parsed = await response.json(); } catch { parsed = null; }
    throw new ApiError(response.status, parsed);
  }
  const url = URL.createObjectURL(await response.blob());
  const link = Object.assign(document.createElement("a"), { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}

let contract;
/** Whether the API documents `path` (an OpenAPI path template such as "/admin/errors/{key}/dismiss"). Before the
 * API published /admin/openapi.json, only the routes it served then exist, so every later one reads "not yet". */
export async function documented(path) {
  if (contract === undefined) {
    try {
      contract = await get("/admin/openapi.json");
    } catch {
      contract = null;
    }
  }
  return Boolean(contract && contract.paths && Object.keys(contract.paths).some((p) =>
    p.replace(/\{[^}]+\}/g, "{}") === path.replace(/\{[^}]+\}/g, "{}")));
}

/** A 404 from a route the API does not document yet: the feature is not available yet, not the record missing. */
export async function notYet(error, path) {
  return error instanceof ApiError && error.missing && !(await documented(path));
}
