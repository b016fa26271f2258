// The gateway's REST API as the dashboard uses it. The bearer token, when the gateway asks for
// one, comes from the page's URL fragment (#token=...) or the token form, and is kept in
// sessionStorage for this tab only; it is never put into a URL the page requests.

const TOKEN_KEY = "qgjob.token";

export class Unauthorized extends Error {}

export function takeTokenFromFragment() {
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get("token");
  if (token) {
    sessionStorage.setItem(TOKEN_KEY, token);
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + location.search + (rest ? "#" + rest : ""));
  }
}

export function setToken(token) {
  if (token) sessionStorage.setItem(TOKEN_KEY, token);
  else sessionStorage.removeItem(TOKEN_KEY);
}

export function authHeaders() {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { Authorization: "Bearer " + token } : {};
}

// GET /api/v1<path> as JSON. Throws Unauthorized on 401, Error with the gateway's message otherwise.
export async function getJson(path, signal) {
  const res = await fetch("/api/v1" + path, { headers: authHeaders(), signal, cache: "no-store" });
  if (res.status === 401) throw new Unauthorized("the gateway wants a bearer token");
  let body = null;
  try {
    body = await res.json();
  } catch {
    throw new Error(`GET ${path}: HTTP ${res.status}, not JSON`);
  }
  if (!res.ok && !(res.status === 503 && path.startsWith("/health"))) {
    const message = body && body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${res.status}`;
    throw new Error(`GET ${path}: ${message}`);
  }
  return body;
}
