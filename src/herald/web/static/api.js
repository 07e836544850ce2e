// The HTTP API under /api/v1: the bearer token of this tab, JSON in and out, errors as values.

const KEY = "herald.token";
const TIMEOUT_MS = 15000;

export const events = new EventTarget(); // "unauthorized", "unreachable", "reachable"

export const session = {
  get token() {
    return sessionStorage.getItem(KEY);
  },
  set(token) {
    sessionStorage.setItem(KEY, token);
  },
  clear() {
    sessionStorage.removeItem(KEY);
  },
};

/** A 4xx/5xx answer: `status`, `detail`, and `errors` as {field, message} pairs. */
export class ApiError extends Error {
  constructor(status, body) {
    super(body?.detail || `HTTP ${status}`);
    this.status = status;
    this.errors = Array.isArray(body?.errors) ? body.errors : [];
  }
}

/** The API did not answer at all (down, network cut, timeout). */
export class Unreachable extends Error {}

function url(path, query) {
  const found = new URL(`/api/v1${path}`, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    for (const one of [].concat(value)) {
      if (one !== undefined && one !== null && one !== "") found.searchParams.append(name, one);
    }
  }
  return found;
}

function request(method, path, { body, query, text, token }) {
  const headers = { Accept: "application/json", Authorization: `Bearer ${token ?? session.token}` };
  const init = { method, headers, signal: AbortSignal.timeout(TIMEOUT_MS), cache: "no-store" };
  if (text !== undefined) {
    headers["Content-Type"] = "text/csv";
    init.body = text;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  return fetch(url(path, query), init);
}

async function parse(response) {
  if (response.status === 204) return null;
  try {
    return await response.json();
  } catch {
    return null;
  }
}

/**
 * Calls the API and returns the decoded JSON body (null for 204).
 * Throws ApiError for an error answer and Unreachable when nothing answered. A 401 also
 * fires "unauthorized" unless `token` was given (signing in checks a token not yet kept).
 */
export async function call(method, path, options = {}) {
  let response;
  try {
    response = await request(method, path, options);
  } catch (err) {
    events.dispatchEvent(new Event("unreachable"));
    throw new Unreachable(err?.name === "TimeoutError" ? "timed out" : "no answer");
  }
  events.dispatchEvent(new Event("reachable"));
  const body = await parse(response);
  if (response.ok) return body;
  if (response.status === 401 && options.token === undefined) {
    events.dispatchEvent(new Event("unauthorized"));
  }
  throw new ApiError(response.status, body);
}

export const get = (path, query) => call("GET", path, { query });
export const post = (path, body) => call("POST", path, { body });
export const patch = (path, body) => call("PATCH", path, { body });
export const del = (path) => call("DELETE", path);
