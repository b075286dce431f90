// Sign-in and the JSON API: the ID token (kept in session storage), Google's sign-in button or the local stack's
// token links, and calls to /v1 that raise ApiError with the API's own message.

import { $, h, markRendered, notice, setLive } from "./dom.js";

const CONFIG = {
  clientId: document.body.dataset.clientId || "",
  // Anything but "local" is treated as production, so a misconfigured shell never accepts tokens from a link.
  local: document.body.dataset.environment === "local",
};
const TOKEN_KEY = "olc.idToken";

// ------------------------------------------------------------------------------------------------ sign-in
export const auth = {
  read() {
    try {
      return sessionStorage.getItem(TOKEN_KEY);
    } catch {
      return null; // storage disabled: the user can still read the public queue page
    }
  },
  save(token) {
    try {
      sessionStorage.setItem(TOKEN_KEY, token);
    } catch {
      notice("This browser does not let the page keep your sign-in (session storage is off).", "error");
    }
  },
  forget() {
    try {
      sessionStorage.removeItem(TOKEN_KEY);
    } catch {
      // nothing was stored
    }
  },
  /** The token's claims, for showing who is signed in; the API checks the signature, not the page. */
  claims() {
    const token = this.read();
    if (!token) return null;
    try {
      const part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      const raw = atob(part.padEnd(Math.ceil(part.length / 4) * 4, "="));
      return JSON.parse(new TextDecoder().decode(Uint8Array.from(raw, (c) => c.charCodeAt(0))));
    } catch {
      return null;
    }
  },
  /** Local stack: `#token=...` in the address signs this tab in; the token is taken out of the address at once
   * so it does not stay in the history, in bookmarks or in a copied link. */
  takeFromFragment() {
    if (!location.hash.includes("token=")) return false;
    const params = new URLSearchParams(location.hash.slice(1));
    const token = params.get("token");
    params.delete("token");
    const rest = params.toString();
    history.replaceState(history.state, "", location.pathname + location.search + (rest ? `#${rest}` : ""));
    // In production only Google's sign-in counts: a link carrying someone else's token must not sign the
    // visitor in as them (their uploads would land in that account).
    if (!token || !CONFIG.local) return false;
    this.save(token);
    return true;
  },
};

export const signIn = {
  gisLoading: null,
  page: null, // the page to start once signed in (app.js startPage)
  show(message) {
    const section = $("signin");
    if (!section) return;
    for (const id of ["content", "job", "not-found"]) if ($(id)) $(id).hidden = true;
    section.hidden = false;
    $("signin-message").textContent = message;
    setLive("Not signed in.");
    if (!CONFIG.local && CONFIG.clientId) this.google();
    else $("signin-local").hidden = false;
    account.render();
    markRendered("signin");
  },
  hide() {
    if ($("signin")) $("signin").hidden = true;
    notice("");
  },
  /** Google Identity Services: its button gives an ID token for our OAuth client, which the API accepts. */
  google() {
    if (!this.gisLoading) {
      this.gisLoading = new Promise((resolve, reject) => {
        const script = h("script", { src: "https://accounts.google.com/gsi/client", async: true });
        script.addEventListener("load", resolve);
        script.addEventListener("error", reject);
        document.head.append(script);
      });
    }
    this.gisLoading.then(
      () => {
        const gis = window.google.accounts.id;
        gis.initialize({
          client_id: CONFIG.clientId,
          callback: (response) => this.signedIn(response.credential),
          auto_select: true,
          cancel_on_tap_outside: false,
          use_fedcm_for_prompt: true,
        });
        gis.renderButton($("signin-button"), { theme: "outline", size: "large", text: "signin_with", shape: "pill" });
        gis.prompt();
      },
      () => notice("Google sign-in could not be loaded. Check your connection or content blockers.", "error"),
    );
  },
  signedIn(credential) {
    if (!credential) return;
    auth.save(credential);
    this.hide();
    account.render();
    this.page?.start().catch(showError);
  },
};

export const account = {
  render() {
    const box = $("account");
    if (!box) return;
    const claims = auth.claims();
    if (!claims || !claims.email) {
      box.replaceChildren();
      return;
    }
    const out = h("button", { class: "link-button", type: "button", text: "Sign out" });
    out.addEventListener("click", () => {
      auth.forget();
      window.google?.accounts?.id?.disableAutoSelect();
      location.reload();
    });
    box.replaceChildren(h("span", { class: "who", title: "Signed in as", text: claims.email }), out);
  },
};

// ------------------------------------------------------------------------------------------------ the API
export class ApiError extends Error {
  /** `error`: the answer's whole error object, for what it says besides code and message (a rerun's problems). */
  constructor(status, code, message, error = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.error = error;
  }
}

/** The API path of a link the API gave, so calls stay same-origin even when STATUS_BASE_URL names another host. */
export function apiPath(link) {
  const url = new URL(link, location.href);
  if (!url.pathname.startsWith("/v1/")) throw new ApiError(0, "bad_link", "The service sent an unexpected link.");
  return url.pathname + url.search;
}

/** Calls the API as the signed-in user. A 401 shows the sign-in; other failures raise ApiError with the
 * API's own message, which is written for people. */
export async function api(path, { method = "GET", json, raw = false, signedIn = true, cache = "no-store" } = {}) {
  const headers = { Accept: "application/json" };
  const token = signedIn ? auth.read() : null;
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (json !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(json);
  }
  let reply = method === "GET" && payload === undefined ? await takeEarly(path, token) : null;
  try {
    reply ??= await fetch(path, { method, headers, body: payload, cache, credentials: "omit" });
  } catch {
    throw new ApiError(0, "offline", "Cannot reach OpenLane Cloud right now. The page keeps trying by itself.");
  }
  if (raw && reply.ok) return reply;
  const type = reply.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await reply.json().catch(() => null) : null;
  if (reply.status === 401) {
    auth.forget();
    signIn.show("Your sign-in has expired or was not accepted. Please sign in again.");
    throw new ApiError(401, "unauthenticated", "Please sign in.");
  }
  if (!reply.ok) {
    const error = (data && data.error) || {};
    const message = error.message || `The service answered ${reply.status}.`;
    throw new ApiError(reply.status, error.code || "http_error", message, error);
  }
  return data;
}

/** The answer to the page's first call if early.js already asked it: once, for exactly that path and sign-in. */
async function takeEarly(path, token) {
  const early = window.olcEarly;
  if (!early || early.path !== path || !token || early.token !== token) return null;
  window.olcEarly = null;
  return early.reply.catch(() => null); // failed: asked again
}

export function showError(error) {
  if (error instanceof ApiError && error.status === 401) return; // the sign-in box says it
  notice(error.message || String(error), "error");
}

