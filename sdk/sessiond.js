// sessiond.js: the browser client of sessiond cookie sessions.
//
// A dependency-free ES module (no build step): import it from
// <script type="module">. The tokens live in HttpOnly cookies this script
// cannot read; it only knows when the access token expires (from the JSON of
// the refresh endpoint), refreshes shortly before, refreshes once and
// retries once on a 401, makes sure only one tab of the origin refreshes at
// a time, and cleans up on logout. See docs/browser.md.
//
//   import { createSession } from "/sdk/sessiond.js";
//   const session = createSession({ loginPage: "/login" });
//   session.start();
//   const res = await session.fetch("/api/orders");

const LOCK_NAME = "sessiond-refresh";
const DEFAULTS = {
  basePath: "",
  refreshUrl: "/auth/refresh",
  logoutUrl: "/logout",
  loginPage: "/login",
  refreshBeforeSeconds: 300,
  storagePrefix: "sessiond:",
  fetch: undefined,
  lockTimeoutSeconds: 15, // fallback lock lease, and the refresh request's timeout
  reuseIntervalSeconds: 5, // the server's lifetimes.reuse_interval until a refresh answer reports it: bounds the first attempt
};
const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout's limit
// The RFC 9470 error of a 401 that asks for a more recent sign-in
// (httpsession.RequireRecentAuth answers it), quoted or not.
const STEP_UP = /(?:^|[\s,])error\s*=\s*"?insufficient_user_authentication"?(?:$|[\s,])/i;
// A refresh that failed without an answer from the server (the network, a
// timeout, a 5xx), whatever asked for it, is sent again once after
// FIRST_RETRY_MS, still under the cross-tab lock: the server may have
// rotated the token before the answer was lost, leaving the cookie with
// the token it retired, which it takes again only within its reuse
// interval (refresh.reuse_interval, 5 s by default); later it is reuse,
// which ends the session as theft. One second leaves the retry's own trip
// the rest. So the first attempt is abandoned after firstAttemptMs
// (reuseIntervalSeconds less the pause and a second), not
// lockTimeoutSeconds: a retry 16 s after a rotation whose answer went
// silent would be taken for theft. The retry, after which nothing is
// sent, waits lockTimeoutSeconds, so that a slow link's answer arrives.
// A timed refresh that still fails is tried every RETRY_MS.
const FIRST_RETRY_MS = 1000;
const RETRY_MS = 5000;
const SETTLE_MS = 100; // fallback lock: time for a rival tab's write to land
// A refresh another tab finished this recently is as good as this tab's
// own: two tabs asking within moments of each other share one refresh even
// when the second asks after the first has landed.
const RECENT_MS = 2000;
// A token is refreshed no earlier than halfway through its life, and never
// sooner than this after it arrived: with an access token shorter than
// refreshBeforeSeconds, or a client clock ahead of the server's, "that long
// before expiry" is already past and would refresh back to back.
const MIN_REFRESH_GAP_MS = 1000;
// A server Date this far from the client's clock is skew to correct for;
// closer, it is the header's one-second resolution and the network.
const SKEW_TOLERANCE_MS = 5000;
// What counts as the user being there: a timed refresh runs only after some
// activity, so an unattended tab lets the server's idle timeout end the
// session (ASVS 7.3.1) rather than keeping it alive to the absolute end.
const ACTIVITY_EVENTS = ["pointerdown", "keydown", "wheel", "touchstart"];

/**
 * Creates the client of one origin's session. Nothing runs until start().
 * @param {object} [options]
 * @param {string} [options.basePath] the prefix of sessiond's browser gateway ("/sessiond", docs/gateway.md): refreshUrl and logoutUrl default to basePath + "/refresh" and "/logout", and the login page gets the path to come back to as return_to (instead of next)
 * @param {string} [options.refreshUrl="/auth/refresh"] POST endpoint that rotates the cookies and answers {access_token_expires_at, refresh_token_expires_at}
 * @param {string} [options.logoutUrl="/logout"] POST endpoint that revokes the session and expires the cookies
 * @param {string} [options.loginPage="/login"] where the user goes once the session is over
 * @param {number} [options.refreshBeforeSeconds=300] refresh this long before the access token expires
 * @param {string} [options.storagePrefix="sessiond:"] the localStorage/sessionStorage keys this client owns
 * @param {typeof fetch} [options.fetch] the fetch to use (default: the global one)
 * @param {number} [options.lockTimeoutSeconds=15] how long a refresh request may take before it is abandoned, and the lease of the cross-tab lock where navigator.locks is missing
 * @param {number} [options.reuseIntervalSeconds=5] the server's lifetimes.reuse_interval until a refresh answer reports it (reuse_interval_seconds, which then wins): the first refresh attempt is abandoned (and sent again a second later) after this less two seconds, at least one, so that the retry still finds the token the first may have retired in its grace; 0 when the server has none (at 2 or less the first attempt waits lockTimeoutSeconds, as a retry could not arrive in time)
 */
export function createSession(options = {}) {
  const base = options.basePath ? String(options.basePath).replace(/\/+$/, "") : "";
  const opt = { ...DEFAULTS, ...(base ? { refreshUrl: base + "/refresh", logoutUrl: base + "/logout" } : {}), ...options };
  const returnParam = base ? "return_to" : "next";
  const doFetch = opt.fetch || ((...a) => globalThis.fetch(...a));
  const prefix = String(opt.storagePrefix);
  const stateKey = prefix + "state";
  const lockKey = prefix + "lock";
  const tabKey = prefix + "tab";
  const local = storage("localStorage");
  const perTab = storage("sessionStorage");
  const listeners = new Set();

  let started = false;
  let ending = false;
  let timer = null;
  let inflight = null; // this tab's refresh in progress
  let stalledAt = 0; // an expiry a refresh could not move forward
  let channel = null;
  let emittedGen = null; // the generation onChange last reported
  let lastActivity = Date.now(); // this tab's last sign of a user (a page load is one)
  let idleWaiting = false; // a timed refresh came due with nobody there
  let loggingOut = null; // the logout in progress

  // ---- shared state: {exp, rexp, gen, reuse} in localStorage, shared by every tab

  // reuseOf reads a reuse interval in seconds (reuse_interval_seconds of a
  // refresh answer, reuse of the shared state): a finite number from 0 up,
  // else undefined.
  function reuseOf(o) {
    const v = o && (o.reuse_interval_seconds ?? o.reuse);
    return typeof v === "number" && Number.isFinite(v) && v >= 0 ? v : undefined;
  }

  function readState() {
    try {
      const s = JSON.parse(local.getItem(stateKey) || "null");
      // A generation that +1 cannot move (past 2^53, fractional) would hide
      // every later refresh from the other tabs: as unreadable.
      if (s && Number.isFinite(s.exp) && Number.isSafeInteger(s.gen)) return s;
    } catch {
      // unreadable: as if absent
    }
    return null;
  }

  /**
   * Records the expiry times of a login or refresh response body, on this
   * client's clock: skewMs is how far the server's clock is ahead of it
   * (serverSkew of the response's Date header).
   */
  function update(body, skewMs = 0) {
    const exp = Date.parse(body && body.access_token_expires_at) - skewMs;
    if (!Number.isFinite(exp)) throw new TypeError("sessiond: no access_token_expires_at in the response");
    const rexp = Date.parse(body.refresh_token_expires_at) - skewMs;
    const prev = readState();
    const next = { exp, rexp: Number.isFinite(rexp) ? rexp : null, gen: (prev ? prev.gen : 0) + 1, at: Date.now(), by: tabId() };
    // The server's reuse interval, as its refresh endpoint reports it: kept
    // for every tab, it bounds their first attempts (firstAttemptMs).
    const reuse = reuseOf(body) ?? reuseOf(prev);
    if (reuse !== undefined) next.reuse = reuse;
    local.setItem(stateKey, JSON.stringify(next));
    post({ type: "refreshed" });
    changed();
  }

  // changed runs on this tab's own update and, in other tabs, on both the
  // storage event and the BroadcastChannel message of the same refresh:
  // listeners hear of each generation once.
  function changed() {
    const s = readState();
    if (!s || s.gen !== emittedGen) {
      emittedGen = s ? s.gen : null;
      emit({ type: "refreshed", expiresAt: s ? new Date(s.exp) : null });
    }
    if (started) schedule();
  }

  function emit(event) {
    for (const cb of listeners) {
      try {
        cb(event);
      } catch (e) {
        setTimeout(() => {
          throw e;
        });
      }
    }
  }

  // ---- one refresh at a time across the origin's tabs

  function withLock(fn) {
    if (globalThis.navigator && navigator.locks && typeof navigator.locks.request === "function") {
      return navigator.locks.request(LOCK_NAME, { mode: "exclusive" }, fn);
    }
    return withStorageLock(fn);
  }

  // Fallback where Web Locks are missing: a lease in localStorage. Write,
  // wait for a rival's write to land, and keep the lock only if ours is the
  // value that stuck; the holder renews the lease while it works, and a
  // lease that outlives a crashed tab expires. A lease ending later than
  // one lease from now was written by no holder (a clock set back, a
  // tampered value) and counts as expired. This is best effort
  // (localStorage has no compare-and-swap); the server's refresh reuse
  // interval absorbs the rare double refresh it lets through.
  async function withStorageLock(fn) {
    const me = tabId() + ":" + Math.random().toString(36).slice(2);
    const lease = opt.lockTimeoutSeconds * 1000;
    // (A live holder renews its lease for up to two refresh attempts, the
    // pause between them and the settle time; one lease more for a holder
    // that crashed: wait that out before going ahead unlocked. The pause is
    // fixed, so it is added, not counted in leases: a short lease is
    // shorter than it.)
    const giveUp = Date.now() + 3 * lease + FIRST_RETRY_MS + SETTLE_MS;
    const held = () => {
      const cur = parse(local.getItem(lockKey));
      const now = Date.now();
      return cur && cur.until > now && cur.until <= now + lease ? cur : null;
    };
    for (;;) {
      if (!held()) {
        local.setItem(lockKey, JSON.stringify({ owner: me, until: Date.now() + lease }));
        await sleep(SETTLE_MS);
        const won = parse(local.getItem(lockKey));
        if (won && won.owner === me) break;
      }
      if (Date.now() > giveUp) break;
      await storageChangeOr(lockKey, 50 + Math.random() * 100);
    }
    const renew = setInterval(() => {
      const cur = parse(local.getItem(lockKey));
      if (cur && cur.owner === me) local.setItem(lockKey, JSON.stringify({ owner: me, until: Date.now() + lease }));
    }, lease / 3);
    try {
      return await fn();
    } finally {
      clearInterval(renew);
      const cur = parse(local.getItem(lockKey));
      if (cur && cur.owner === me) local.removeItem(lockKey);
    }
  }

  function tabId() {
    let id = perTab.getItem(tabKey);
    if (!id) {
      id = Math.random().toString(36).slice(2, 10);
      perTab.setItem(tabKey, id);
    }
    return id;
  }

  // refreshShared refreshes unless another tab did since generation seen;
  // it resolves true (fresh tokens), false (the server refused: the session
  // is over) and rejects when the server could not be reached.
  function refreshShared(seen) {
    if (!inflight) {
      inflight = withLock(async () => {
        const cur = readState();
        const now = Date.now();
        // (An arrival in the future is no recent refresh: a clock set back
        // since, or a tampered value, would skip every refresh until then.)
        const recent = now - cur?.at >= 0 && now - cur?.at < RECENT_MS;
        if (cur && cur.exp > now && (cur.gen !== seen || (cur.by !== tabId() && recent))) {
          return true; // another tab refreshed while we waited, or just before: use its cookies
        }
        let ok;
        try {
          ok = await refreshNow(cur, firstAttemptMs());
        } catch (e) {
          if (!mayHaveRotated(e)) throw e;
          await sleep(FIRST_RETRY_MS); // (FIRST_RETRY_MS: why once, and why soon)
          if (ending) return false;
          ok = await refreshNow(cur, opt.lockTimeoutSeconds * 1000);
        }
        // Hold the lock a moment: localStorage reaches other tabs
        // asynchronously, and the next holder must see the new generation.
        if (ok) await sleep(SETTLE_MS);
        return ok;
      }).finally(() => {
        inflight = null;
      });
    }
    return inflight;
  }

  // firstAttemptMs bounds the first attempt of a refresh (FIRST_RETRY_MS:
  // why), as the gateway's refresh page does (FirstAttemptTimeout).
  function firstAttemptMs() {
    const lock = opt.lockTimeoutSeconds * 1000;
    // What the server reported wins over the option, which an app may not
    // have kept in step with lifetimes.reuse_interval.
    const reuse = (reuseOf(readState()) ?? Number(opt.reuseIntervalSeconds)) * 1000;
    // At 2 s or less the shortest first attempt and the pause use the
    // interval up: a retry cannot arrive inside it, so cutting the first
    // short would only turn a slow answer into a retry taken for theft.
    if (!(reuse > FIRST_RETRY_MS + 1000)) return lock;
    return Math.min(Math.max(reuse - FIRST_RETRY_MS - 1000, 1000), lock);
  }

  async function refreshNow(before, timeoutMs) {
    const ctl = typeof AbortController === "function" ? new AbortController() : null;
    // The timeout covers the body too: a response that stalls after its
    // headers must not hold the cross-tab lock (which has no lease) forever.
    const t = ctl && setTimeout(() => ctl.abort(), timeoutMs);
    let res, body;
    try {
      res = await doFetch(opt.refreshUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: { Accept: "application/json" },
        signal: ctl ? ctl.signal : undefined,
      });
      // Only 401 ends the session; anything else (a 403 from a proxy, a
      // 5xx) may pass, so it is an error to retry later.
      if (res.status === 401) return false;
      if (!res.ok) throw Object.assign(new Error("sessiond: refresh failed with HTTP " + res.status), { status: res.status });
      body = await res.json();
    } finally {
      if (t) clearTimeout(t);
    }
    // Logged out while this was on the wire: the answer must not bring the
    // state back.
    if (ending) return false;
    const skew = serverSkew(res);
    // Near the absolute end of a session the expiry stops moving: do not
    // refresh again and again, let it run out. (Set before update, which
    // reschedules.)
    const exp = Date.parse(body && body.access_token_expires_at) - skew;
    stalledAt = before && exp <= before.exp ? exp : 0;
    update(body, skew);
    return true;
  }

  /**
   * Refreshes now (through the cross-tab lock; if another tab refreshed
   * meanwhile, its result is used). Resolves true when fresh tokens are in
   * the cookies, false when the session is over (the client then cleans up
   * and goes to loginPage). Rejects if the server could not be reached.
   */
  async function refresh() {
    const s = readState();
    const ok = await refreshShared(s ? s.gen : -1);
    if (!ok) end({ redirect: true, reason: "ended" });
    return ok;
  }

  /**
   * For a login page: if this browser had a session, try to resume it
   * with a refresh. Resolves true if it could (go back where the user was),
   * false otherwise, after clearing what the client kept. Never redirects.
   */
  async function resume() {
    const s = readState();
    if (!s) return false;
    try {
      if (await refreshShared(s.gen)) return true;
    } catch {
      return false;
    }
    clearOwnKeys();
    return false;
  }

  // ---- the fetch wrapper

  /**
   * fetch() with the session: same-origin credentials, and on a 401 from
   * this origin one refresh and one retry (none for a ReadableStream body,
   * which the first send used up: the 401 is returned after the refresh).
   * A step-up 401 (WWW-Authenticate error="insufficient_user_authentication",
   * RFC 9470) is returned as it is, without a refresh: the caller sends the
   * user to sign in again.
   * If the refresh is refused the session is over: the client cleans up
   * and goes to loginPage, and the 401 response is returned.
   */
  async function sessionFetch(input, init = {}) {
    noteActivity();
    const retry = typeof Request === "function" && input instanceof Request ? input.clone() : input;
    const s = readState();
    const seen = s ? s.gen : -1;
    const send = (what) => doFetch(what, { credentials: "same-origin", ...init });
    const res = await send(input);
    // (res.url: where redirects took the request; its 401 is that origin's.)
    if (res.status !== 401 || !sameOrigin(input) || (res.url && !sameOrigin(res.url))) return res;
    // A step-up challenge (RFC 9470) asks the user to sign in again for this
    // action on a valid session: a refresh would not satisfy it.
    if (STEP_UP.test(res.headers.get("WWW-Authenticate") || "")) return res;
    let ok;
    try {
      ok = await refreshShared(seen);
    } catch {
      return res; // the refresh endpoint is unreachable: report the 401 as it is
    }
    if (!ok) {
      end({ redirect: true, reason: "ended" });
      return res;
    }
    if (typeof ReadableStream === "function" && init && init.body instanceof ReadableStream) return res;
    return send(retry);
  }

  // ---- logout and the clean state

  /**
   * Logs out: POSTs logoutUrl (which revokes the session and expires the
   * cookies), clears the localStorage and sessionStorage keys under
   * storagePrefix, tells the other tabs, and goes to loginPage. If the
   * server did not log out (unreachable, or an answer other than success
   * or 401) it rejects and changes nothing: the HttpOnly cookies this
   * script cannot clear are still there, and the user must not be told
   * otherwise (on a shared computer the next person would be signed in).
   */
  function logout() {
    if (ending) return Promise.resolve();
    if (!loggingOut) {
      // (then: the body runs once loggingOut is set, which the storage
      // and channel handlers look at.)
      loggingOut = Promise.resolve().then(async () => {
        // A refresh on the wire lands first, so its answer cannot write the
        // state back after the logout cleared it.
        if (inflight) await inflight.catch(() => {});
        let res;
        try {
          res = await doFetch(opt.logoutUrl, { method: "POST", credentials: "same-origin", headers: { Accept: "application/json" } });
        } catch (e) {
          throw new Error("sessiond: logout failed: the server could not be reached", { cause: e });
        }
        // 401: the session had already ended; the cookies are expired all the same.
        if (!res.ok && res.status !== 401) throw new Error("sessiond: logout failed with HTTP " + res.status);
        end({ redirect: true, next: false });
      }).finally(() => {
        loggingOut = null;
        if (started) schedule();
      });
    }
    return loggingOut;
  }

  // end brings this tab (and, through the broadcast, the others) to the
  // logged-out state: timers stopped, own keys cleared, login page.
  // reason "ended" (the server refused the session: revoked, expired,
  // signed out elsewhere) is passed to loginPage as ?reason=ended, so it
  // can say why the user is there.
  function end({ redirect = true, broadcast = true, next = true, reason = "" } = {}) {
    if (ending) return;
    ending = true;
    stop();
    clearOwnKeys();
    if (broadcast) post({ type: "logout" });
    emit({ type: "logout" });
    if (redirect && globalThis.location) {
      const here = location.pathname + location.search;
      let target = opt.loginPage;
      if (next && here && !samePath(here, opt.loginPage)) {
        target += (target.includes("?") ? "&" : "?") + returnParam + "=" + encodeURIComponent(location.pathname);
      }
      if (reason) target += (target.includes("?") ? "&" : "?") + "reason=" + encodeURIComponent(reason);
      if (!samePath(here, opt.loginPage)) location.assign(target);
    }
  }

  function clearOwnKeys() {
    for (const st of [local, perTab]) {
      for (const k of st.keys()) if (k.startsWith(prefix)) st.removeItem(k);
    }
  }

  // ---- timers and other tabs

  function schedule() {
    clearTimeout(timer);
    timer = null;
    const s = readState();
    if (!s || ending || !started || loggingOut) return; // stop() is final, even mid-refresh
    if (stalledAt && s.exp <= stalledAt) return; // nothing left to gain
    const at = typeof s.at === "number" ? s.at : 0;
    // Expired on arrival (a clock far ahead, no Date to correct it by): no
    // timer could help; the next request's 401 refreshes.
    if (s.exp <= at) return;
    const due = Math.max(s.exp - opt.refreshBeforeSeconds * 1000, at + Math.max((s.exp - at) / 2, MIN_REFRESH_GAP_MS));
    const delay = due - Date.now();
    timer = setTimeout(() => tick(s.gen, true), Math.min(Math.max(delay, 0), MAX_TIMER_MS));
  }

  // noteActivity records a sign of the user; a timed refresh that came due
  // while nobody was there runs now.
  function noteActivity() {
    lastActivity = Date.now();
    if (idleWaiting) {
      idleWaiting = false;
      if (started) schedule();
    }
  }

  async function tick(seen, timed = false) {
    timer = null;
    if (timed) {
      const s = readState();
      // Nobody here since these tokens arrived: let the access token run
      // out; the next request (a 401, one refresh) or sign of the user
      // refreshes, and the server decides whether the session idled out.
      if (s && lastActivity < (typeof s.at === "number" ? s.at : 0)) {
        idleWaiting = true;
        return;
      }
    }
    try {
      const ok = await refreshShared(seen);
      if (!ok) end({ redirect: true, reason: "ended" });
      else if (started) schedule();
    } catch {
      // (refreshShared has already sent a lost refresh again.)
      const s = readState();
      if (s && s.exp > Date.now() && started) timer = setTimeout(() => tick(seen), RETRY_MS);
    }
  }

  function onStorage(e) {
    if (e.storageArea && e.storageArea !== globalThis.localStorage) return;
    // This tab's own logout: the response's Clear-Site-Data empties storage
    // (a storage event here too) before the logout has its answer; it ends
    // the session itself.
    if (loggingOut) return;
    if (e.key === stateKey) {
      if (e.newValue == null) end({ redirect: true, broadcast: false }); // logged out in another tab
      else changed();
    } else if (e.key === null) {
      // localStorage.clear() or Clear-Site-Data in another tab
      if (!readState()) end({ redirect: true, broadcast: false });
    }
  }

  function onMessage(e) {
    const m = e.data || {};
    if (m.type === "logout") end({ redirect: true, broadcast: false });
    else if (m.type === "refreshed") changed();
  }

  function onWake() {
    if (globalThis.document && document.visibilityState === "hidden") return;
    noteActivity(); // a tab brought back to view has a user
    schedule(); // timers of background tabs are throttled: catch up
  }

  function post(message) {
    try {
      if (channel) channel.postMessage(message);
      else if (typeof BroadcastChannel === "function") {
        const c = new BroadcastChannel(prefix + "events");
        c.postMessage(message);
        c.close();
      }
    } catch {
      // no BroadcastChannel: the storage event carries the news
    }
  }

  /**
   * Starts automatic refresh and listens to other tabs. If the expiry is
   * unknown (first page after login) or past, it refreshes at once to learn
   * it. Resolves once that is done.
   */
  async function start() {
    if (started) return;
    started = true;
    ending = false;
    if (globalThis.addEventListener) {
      addEventListener("storage", onStorage);
      addEventListener("online", onWake);
      addEventListener("pageshow", onWake);
      for (const ev of ACTIVITY_EVENTS) addEventListener(ev, noteActivity, { capture: true, passive: true });
    }
    if (globalThis.document) document.addEventListener("visibilitychange", onWake);
    if (typeof BroadcastChannel === "function") {
      channel = new BroadcastChannel(prefix + "events");
      channel.onmessage = onMessage;
    }
    const s = readState();
    if (!s || s.exp <= Date.now()) {
      await tick(s ? s.gen : -1);
    } else {
      schedule();
    }
  }

  /** Stops automatic refresh and stops listening to other tabs. */
  function stop() {
    started = false;
    clearTimeout(timer);
    timer = null;
    if (globalThis.removeEventListener) {
      removeEventListener("storage", onStorage);
      removeEventListener("online", onWake);
      removeEventListener("pageshow", onWake);
      for (const ev of ACTIVITY_EVENTS) removeEventListener(ev, noteActivity, { capture: true });
    }
    if (globalThis.document) document.removeEventListener("visibilitychange", onWake);
    if (channel) {
      channel.close();
      channel = null;
    }
  }

  return {
    fetch: sessionFetch,
    refresh,
    resume,
    logout,
    update,
    start,
    stop,
    /** When the access token expires, as a Date, or null if unknown. */
    expiresAt() {
      const s = readState();
      return s ? new Date(s.exp) : null;
    },
    /** Calls cb({type: "refreshed"|"logout", expiresAt}) on every change, in any tab; returns an unsubscribe function. */
    onChange(cb) {
      listeners.add(cb);
      return () => listeners.delete(cb);
    },
  };
}

// ---- helpers

function parse(s) {
  try {
    return JSON.parse(s || "null");
  } catch {
    return null;
  }
}

// serverSkew is how far the server's clock (the response's Date header) is
// ahead of this one, or 0 when within SKEW_TOLERANCE_MS or unknown.
function serverSkew(res) {
  const d = Date.parse(res && res.headers && typeof res.headers.get === "function" ? res.headers.get("Date") : "");
  if (!Number.isFinite(d)) return 0;
  const skew = d - Date.now();
  return Math.abs(skew) > SKEW_TOLERANCE_MS ? skew : 0;
}

// mayHaveRotated reports whether a refresh that failed with err may have
// rotated the token on the server: anything but an answer the server
// itself refused with (a 4xx, where nothing was committed).
function mayHaveRotated(err) {
  return !(err && err.status >= 400 && err.status < 500);
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

// storageChangeOr resolves when key changes in another tab, or after ms.
function storageChangeOr(key, ms) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      if (globalThis.removeEventListener) removeEventListener("storage", on);
      resolve();
    };
    const on = (e) => {
      if (e.key === key || e.key === null) done();
    };
    const t = setTimeout(done, ms);
    if (globalThis.addEventListener) addEventListener("storage", on);
  });
}

function sameOrigin(input) {
  if (!globalThis.location) return true;
  try {
    const url = typeof input === "string" || input instanceof URL ? input : input.url;
    return new URL(url, location.href).origin === location.origin;
  } catch {
    return false;
  }
}

function samePath(a, b) {
  try {
    return new URL(a, "http://x").pathname === new URL(b, "http://x").pathname;
  } catch {
    return a === b;
  }
}

// storage wraps Web Storage so a browser that refuses it (privacy modes,
// sandboxed frames) still works within one page, in memory.
function storage(name) {
  let s = null;
  try {
    s = globalThis[name];
    const probe = "sessiond:probe";
    s.setItem(probe, "1");
    s.removeItem(probe);
  } catch {
    s = null;
  }
  if (s) {
    return {
      getItem: (k) => s.getItem(k),
      setItem: (k, v) => s.setItem(k, v),
      removeItem: (k) => s.removeItem(k),
      keys: () => Array.from({ length: s.length }, (_, i) => s.key(i)).filter((k) => k != null),
    };
  }
  const m = new Map();
  return {
    getItem: (k) => (m.has(k) ? m.get(k) : null),
    setItem: (k, v) => m.set(k, String(v)),
    removeItem: (k) => m.delete(k),
    keys: () => Array.from(m.keys()),
  };
}
