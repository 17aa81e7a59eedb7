// The console talks to the public /api/v1 only, authenticated by the session cookie; every
// state-changing request carries the CSRF token the login (or /auth/me) returned.

const ROLE_RANK = { viewer: 1, operator: 2, admin: 3 };
let csrfToken = null;
export const session = { user: null };

export class ApiError extends Error {
  constructor(status, detail) {
    super(describe(status, detail));
    this.status = status;
    this.detail = detail;
  }
}

function describe(status, detail) {
  if (typeof detail === "string") return detail;
  if (detail && typeof detail === "object") {
    if (detail.message) {
      const code = detail.errorCode ? ` (${detail.errorCode}${detail.errorDescription ? `: ${detail.errorDescription}` : ""})` : "";
      return detail.message + code;
    }
    return JSON.stringify(detail);
  }
  return `HTTP ${status}`;
}

let onUnauthorized = () => {};
// Bumped at every login and logout: a 401 answering a request of an earlier session is stale and
// must not end the current one (or rebuild the login form while someone types into it).
let generation = 0;
export const sessionGeneration = () => generation;
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

export async function api(method, path, body, { raw = false, quiet401 = false, contentType } = {}) {
  const headers = { Accept: "application/json" };
  let payload = body;
  if (contentType) {
    headers["Content-Type"] = contentType; // a raw body (CSV)
  } else if (body !== undefined && !(body instanceof FormData)) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  const sentIn = generation;
  const response = await fetch(`/api/v1${path}`, { method, headers, body: payload, credentials: "same-origin" });
  if (!response.ok) {
    let detail = null;
    try {
      detail = (await response.json()).detail;
    } catch {
      detail = response.statusText;
    }
    if (response.status === 401 && !quiet401 && sentIn === generation && session.user) onUnauthorized();
    throw new ApiError(response.status, detail);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  return response.json();
}

export const get = (path) => api("GET", path);
export const post = (path, body) => api("POST", path, body ?? {});
export const put = (path, body) => api("PUT", path, body ?? {});
export const patch = (path, body) => api("PATCH", path, body ?? {});
export const del = (path) => api("DELETE", path);

export async function me() {
  const answer = await api("GET", "/auth/me", undefined, { quiet401: true });
  csrfToken = answer.csrfToken;
  session.user = answer.user;
  return answer.user;
}

export async function login(username, password) {
  const answer = await api("POST", "/auth/login", { username, password }, { quiet401: true });
  generation += 1;
  csrfToken = answer.csrfToken;
  session.user = answer.user;
  return answer.user;
}

export async function logout() {
  // Ended here, before the request: what the server's logout sets off meanwhile (the live feed's
  // "unauthorized", 401s to polls in flight) then belongs to an ended session and is ignored,
  // instead of drawing a second login form under the user's hands.
  generation += 1;
  session.user = null;
  try {
    await api("POST", "/auth/logout", {}, { quiet401: true });
  } finally {
    csrfToken = null;
  }
}

// Buttons that need a role are not drawn for users without it (the API refuses anyway).
export function can(role) {
  return (ROLE_RANK[session.user?.role] ?? 0) >= ROLE_RANK[role];
}

export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== null && v !== undefined && v !== "") q.set(k, v);
  }
  const text = q.toString();
  return text ? `?${text}` : "";
}

// The generic command endpoint: any CSMS → station action with its OCPP payload.
export function command(stationId, action, payload) {
  return post(`/stations/${encodeURIComponent(stationId)}/ocpp/${action}`, payload);
}
