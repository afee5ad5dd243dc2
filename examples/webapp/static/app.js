// The demo's page script: wires /sdk/sessiond.js into the server-rendered
// pages. No inline script (the CSP forbids it): settings come from
// data- attributes on <body>.
import { createSession } from "/sdk/sessiond.js";

const cfg = document.body.dataset;
const session = createSession({
  refreshUrl: "/auth/refresh",
  logoutUrl: "/logout",
  loginPage: "/login",
  refreshBeforeSeconds: Number(cfg.refreshBefore || 300),
});
// For the console and the browser tests.
globalThis.sessiond = session;

// localPath returns p when it is a path on this site, else "/". Browsers
// drop tabs and line breaks and read a backslash as "/" in URLs, so "/\t/evil"
// (from ?next=/%09/evil) would leave the site: refuse any backslash or
// control character, then let the URL parser decide and keep only paths
// that resolve to this origin.
function localPath(p) {
  if (typeof p !== "string" || !p.startsWith("/") || /[\\\u0000-\u001f\u007f]/.test(p)) return "/";
  let u;
  try {
    u = new URL(p, location.origin);
  } catch {
    return "/";
  }
  if (u.origin !== location.origin || u.pathname.startsWith("//")) return "/";
  return u.pathname + u.search + u.hash;
}

if (cfg.page === "login") {
  // Back from a page whose access token had expired? If this browser still
  // has a live refresh token, resume instead of asking for the password.
  const next = localPath(new URLSearchParams(location.search).get("next"));
  session.resume().then((ok) => {
    if (ok) location.replace(next);
  });
} else {
  let refreshes = 0;
  const show = () => {
    const el = document.getElementById("expires");
    const at = session.expiresAt();
    if (el) el.textContent = at ? at.toLocaleTimeString() : "unknown";
  };
  session.onChange((e) => {
    if (e.type === "refreshed") {
      refreshes++;
      const el = document.getElementById("refreshes");
      if (el) el.textContent = String(refreshes);
    }
    show();
  });
  session.start().then(show);

  document.getElementById("logout-form")?.addEventListener("submit", (e) => {
    e.preventDefault();
    // A logout the server did not confirm changes nothing in the page: post
    // the form itself, so the user sees the server's answer (or the error).
    session.logout().catch(() => e.target.submit());
  });
  document.getElementById("check")?.addEventListener("click", async () => {
    const out = document.getElementById("check-result");
    const res = await session.fetch("/api/me", { headers: { Accept: "application/json" } });
    out.textContent = res.ok ? "200 " + (await res.json()).subject : String(res.status);
  });
}
