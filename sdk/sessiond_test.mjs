// Unit tests of sessiond.js in Node: fake storage, fetch and tabs. Run by
// sdk_test.go (go test ./sdk) or directly: node --test sessiond_test.mjs
import test from "node:test";
import assert from "node:assert/strict";
import { createSession } from "./sessiond.js";
import { MemStorage } from "./memstorage.mjs";

// fakeServer answers /api (401 unless the access token is valid),
// /auth/refresh and /logout, and counts calls.
function fakeServer({ ttlMs = 60_000 } = {}) {
  const srv = {
    accessValid: true,
    sessionLive: true,
    fixedExp: null,
    calls: [],
    count(path) { return this.calls.filter((c) => c === path).length; },
    fetch: async (input, init = {}) => {
      const path = typeof input === "string" ? input : input.url;
      srv.calls.push((init.method || "GET") + " " + path);
      await new Promise((r) => setTimeout(r, 10));
      if (path === "/auth/refresh") {
        if (!srv.sessionLive) return new Response('{"code":"unauthorized"}', { status: 401 });
        srv.accessValid = true;
        const exp = srv.fixedExp ?? Date.now() + ttlMs;
        return Response.json({ access_token_expires_at: new Date(exp).toISOString(), refresh_token_expires_at: new Date(exp + 1800_000).toISOString() });
      }
      if (path === "/logout") {
        srv.sessionLive = false;
        return new Response(null, { status: 204 });
      }
      return srv.accessValid && srv.sessionLive ? Response.json({ ok: true }) : new Response("{}", { status: 401 });
    },
  };
  return srv;
}

// tab makes a client as one tab would: the origin's localStorage is shared,
// sessionStorage is the tab's own.
function tab(srv, opts = {}) {
  globalThis.sessionStorage = new MemStorage();
  const s = createSession({ fetch: srv.fetch, ...opts });
  s.sessionStorage = globalThis.sessionStorage;
  return s;
}

test.beforeEach(() => {
  globalThis.localStorage = new MemStorage();
});

test("a 401 refreshes once and retries once", async () => {
  const srv = fakeServer();
  const s = tab(srv);
  srv.accessValid = false;
  const res = await s.fetch("/api");
  assert.equal(res.status, 200);
  assert.deepEqual(srv.calls, ["GET /api", "POST /auth/refresh", "GET /api"]);
  assert.ok(s.expiresAt() > new Date());
});

test("a 401 after the retry is returned, not retried again", async () => {
  const srv = fakeServer();
  const s = tab(srv);
  srv.fetch = ((f) => async (input, init) => (input === "/api" ? (srv.calls.push("GET /api"), new Response("{}", { status: 401 })) : f(input, init)))(srv.fetch);
  const res = await createSession({ fetch: srv.fetch }).fetch("/api");
  assert.equal(res.status, 401);
  assert.deepEqual(srv.calls, ["GET /api", "POST /auth/refresh", "GET /api"]);
  s.stop();
});

test("concurrent 401s in one tab share one refresh", async () => {
  const srv = fakeServer();
  const s = tab(srv);
  srv.accessValid = false;
  const all = await Promise.all([s.fetch("/api"), s.fetch("/api"), s.fetch("/api")]);
  assert.deepEqual(all.map((r) => r.status), [200, 200, 200]);
  assert.equal(srv.count("POST /auth/refresh"), 1);
});

test("two tabs refreshing at once: one refresh, both fresh (fallback lock)", async () => {
  const srv = fakeServer();
  const a = tab(srv);
  const b = tab(srv);
  assert.equal(globalThis.navigator?.locks, undefined, "this test is about the localStorage lock");
  const [ra, rb] = await Promise.all([a.refresh(), b.refresh()]);
  assert.deepEqual([ra, rb], [true, true]);
  assert.equal(srv.count("POST /auth/refresh"), 1);
  assert.equal(localStorage.getItem("sessiond:lock"), null, "the lock is released");
});

test("a tab asking just after another tab's refresh landed uses it; its own next refresh goes out", async () => {
  const srv = fakeServer();
  const a = tab(srv);
  const b = tab(srv);
  assert.equal(await a.refresh(), true);
  assert.equal(await b.refresh(), true, "b asks moments after a's refresh landed");
  assert.equal(srv.count("POST /auth/refresh"), 1, "b used a's refresh");
  assert.equal(await a.refresh(), true);
  assert.equal(srv.count("POST /auth/refresh"), 2, "a tab's own recent refresh does not stop its next one");
});

test("a refused refresh ends the session and clears only the client's keys", async () => {
  const srv = fakeServer();
  const s = tab(srv);
  await s.refresh();
  localStorage.setItem("sessiond:app-note", "x");
  localStorage.setItem("other-app", "keep");
  s.sessionStorage.setItem("sessiond:draft", "x");
  const events = [];
  s.onChange((e) => events.push(e.type));
  srv.accessValid = false;
  srv.sessionLive = false; // revoked elsewhere
  const res = await s.fetch("/api");
  assert.equal(res.status, 401);
  assert.equal(s.expiresAt(), null);
  assert.deepEqual(keys(localStorage), ["other-app"]);
  assert.deepEqual(keys(s.sessionStorage), []);
  assert.ok(events.includes("logout"));
});

test("logout posts, clears only its keys and tells listeners", async () => {
  const srv = fakeServer();
  const s = tab(srv, { logoutUrl: "/logout" });
  await s.refresh();
  localStorage.setItem("other-app", "keep");
  const events = [];
  s.onChange((e) => events.push(e.type));
  await s.logout();
  assert.ok(srv.calls.includes("POST /logout"));
  assert.deepEqual(keys(localStorage), ["other-app"]);
  assert.deepEqual(events.at(-1), "logout");
});

test("the client refreshes before the access token expires", async () => {
  const srv = fakeServer({ ttlMs: 60_000 });
  const s = tab(srv, { refreshBeforeSeconds: 1 });
  s.update({ access_token_expires_at: new Date(Date.now() + 2500).toISOString() });
  await s.start();
  await s.fetch("/api"); // the user is there
  assert.equal(srv.count("POST /auth/refresh"), 0, "not due yet");
  await new Promise((r) => setTimeout(r, 1800));
  assert.equal(srv.count("POST /auth/refresh"), 1);
  assert.ok(s.expiresAt() - Date.now() > 50_000);
  s.stop();
});

test("start() learns an unknown expiry with one refresh", async () => {
  const srv = fakeServer();
  const s = tab(srv);
  await s.start();
  assert.equal(srv.count("POST /auth/refresh"), 1);
  assert.ok(s.expiresAt() > new Date());
  s.stop();
});

test("an expiry that no longer moves (absolute end) is not refreshed in a loop", async () => {
  const srv = fakeServer();
  srv.fixedExp = Date.now() + 2000;
  const s = tab(srv, { refreshBeforeSeconds: 300 });
  await s.start();
  await new Promise((r) => setTimeout(r, 600));
  assert.ok(srv.count("POST /auth/refresh") <= 2, `refreshed ${srv.count("POST /auth/refresh")} times`);
  s.stop();
});

test("update() refuses a body without an expiry", () => {
  const s = tab(fakeServer());
  assert.throws(() => s.update({}), TypeError);
});

function keys(st) {
  return Array.from({ length: st.length }, (_, i) => st.key(i)).sort();
}

test("stop() is final even while a refresh is under way", async (t) => {
  const srv = fakeServer();
  let release;
  const gate = new Promise((r) => (release = r));
  let asked;
  const askedP = new Promise((r) => (asked = r));
  srv.fetch = async (input) => {
    srv.calls.push("POST " + input);
    if (srv.calls.length === 1) {
      asked();
      await gate; // the first refresh waits until the test lets it answer
    }
    // Due again 100 ms after it lands, if anything were still scheduled.
    const exp = Date.now() + 1100;
    return Response.json({ access_token_expires_at: new Date(exp).toISOString() });
  };
  const s = tab(srv, { refreshBeforeSeconds: 1 });
  t.after(() => s.stop());
  const started = s.start(); // no known expiry: refreshes at once
  await askedP;
  s.stop(); // while that refresh is under way
  release();
  await started;
  await new Promise((r) => setTimeout(r, 800));
  assert.deepEqual(srv.calls, ["POST /auth/refresh"], "a stopped client refreshed again");
});

test("another tab hears of a refresh once, not once per channel", async (t) => {
  // A window for the storage events; Node's BroadcastChannel is real.
  const win = new EventTarget();
  globalThis.addEventListener = win.addEventListener.bind(win);
  globalThis.removeEventListener = win.removeEventListener.bind(win);
  t.after(() => {
    delete globalThis.addEventListener;
    delete globalThis.removeEventListener;
  });
  const srv = fakeServer();
  const a = tab(srv);
  const b = tab(srv);
  t.after(() => b.stop());
  await a.refresh();
  await b.start();
  const heard = [];
  b.onChange((e) => heard.push(e.type));
  await a.refresh();
  // What the browser does in tab b for that one refresh: a storage event
  // (the BroadcastChannel message arrives by itself).
  const ev = new Event("storage");
  Object.assign(ev, { key: "sessiond:state", newValue: localStorage.getItem("sessiond:state"), storageArea: localStorage });
  win.dispatchEvent(ev);
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(heard, ["refreshed"]);
});

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// busy is a user at the page for ms: a request every 50 ms.
async function busy(s, ms) {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    await s.fetch("/api");
    await sleep(50);
  }
}

// scripted answers /auth/refresh with an access expiry of expOf() and /logout
// with logoutStatus (or a network error when logoutStatus is "network").
function scripted({ expOf = () => Date.now() + 60_000, logoutStatus = 204 } = {}) {
  const srv = {
    calls: [],
    count(c) {
      return this.calls.filter((x) => x === c).length;
    },
    fetch: async (input, init = {}) => {
      const path = typeof input === "string" ? input : input.url;
      srv.calls.push((init.method || "GET") + " " + path);
      await sleep(5);
      if (path === "/auth/refresh") {
        const exp = expOf();
        return Response.json({ access_token_expires_at: new Date(exp).toISOString(), refresh_token_expires_at: new Date(exp + 1800_000).toISOString() });
      }
      if (path === "/logout") {
        if (logoutStatus === "network") throw new TypeError("Failed to fetch");
        return new Response(logoutStatus === 204 ? null : "{}", { status: logoutStatus });
      }
      return Response.json({ ok: true });
    },
  };
  return srv;
}



// "refreshBeforeSeconds before expiry" is already past when the access
// token (as the client's clock sees it) lives less than that: a short
// lifetimes.access with the default 300 s, or a client clock minutes ahead
// of the server. Each refresh would then ask for the next at once.
for (const [name, expOf] of [
  // 1-minute access tokens, the default refreshBeforeSeconds of 300
  ["access tokens shorter than refreshBeforeSeconds are refreshed halfway, not back to back", () => Date.now() + 60_000],
  // the server issues 15-minute access tokens (b2b), the client's clock is 11 minutes ahead
  ["a client clock 11 minutes ahead of the server does not refresh back to back", () => Date.now() - 11 * 60_000 + 15 * 60_000],
]) {
  test(name, async (t) => {
    const srv = scripted({ expOf });
    const s = tab(srv);
    t.after(() => s.stop());
    await s.start();
    await busy(s, 1000);
    s.stop();
    const n = srv.count("POST /auth/refresh");
    assert.ok(n <= 2, `refreshed ${n} times in one second`);
  });
}

// Every refresh slides the server's idle expiry: a timer refreshing with
// nobody at the page would keep an unattended tab's session alive until the
// absolute timeout, and lifetimes.idle (ASVS 7.3.1) would never end it.
test("an open tab with nobody there does not keep the session alive (idle timeout)", async (t) => {
  const srv = scripted({ expOf: () => Date.now() + 1300 });
  const s = tab(srv, { refreshBeforeSeconds: 1 });
  t.after(() => s.stop());
  s.update({ access_token_expires_at: new Date(Date.now() + 1300).toISOString() }); // login
  await s.start();
  // nobody calls session.fetch, nobody touches the page
  await sleep(2500);
  s.stop();
  const n = srv.count("POST /auth/refresh");
  assert.ok(n <= 1, `an idle tab refreshed ${n} times: its session never idles out`);
});

// A logout the server did not perform (unreachable, a 403 from the CSRF
// check, a 5xx) leaves the HttpOnly cookies, which the script cannot clear,
// and the server session alive: sending the user to the login page as if
// signed out would leave the next person at a shared computer signed in.
for (const status of ["network", 403]) {
  test(`a logout the server did not perform (${status}) rejects and changes nothing`, async (t) => {
    let went = null;
    globalThis.location = { pathname: "/account", search: "", href: "http://app.test/account", origin: "http://app.test", assign: (u) => { went = u; } };
    t.after(() => delete globalThis.location);
    const srv = scripted({ logoutStatus: status });
    const s = tab(srv);
    await s.refresh();
    const out = await s.logout().then((v) => v, () => "rejected");
    assert.ok(srv.calls.includes("POST /logout"));
    assert.ok(out === false || out === "rejected", `logout() resolved ${out}: the caller is not told the session survived`);
    assert.equal(went, null, "the user was sent to the login page as if signed out");
  });
}

// A refresh in flight when the session ends must not write sessiond:state
// back when it lands, nor be heard of after "logout": a login page's
// resume() would trust that state.
test("logout waits for a refresh on the wire, which cannot bring the state back", async (t) => {
  const srv = scripted();
  let release;
  const gate = new Promise((r) => (release = r));
  const inner = srv.fetch;
  let n = 0;
  let asked;
  const askedP = new Promise((r) => (asked = r));
  srv.fetch = async (input, init) => {
    if (input === "/auth/refresh" && ++n === 2) {
      asked();
      await gate; // the second refresh is on the wire
    }
    return inner(input, init);
  };
  const s = tab(srv);
  await s.refresh();
  const events = [];
  s.onChange((e) => events.push(e.type));
  const pending = s.refresh(); // e.g. the timer's
  await askedP;
  const out = s.logout();
  await sleep(20);
  release();
  await out;
  assert.equal(localStorage.getItem("sessiond:state"), null);
  await pending.catch(() => {});
  await sleep(50);
  assert.equal(localStorage.getItem("sessiond:state"), null, "sessiond:state is back after logout");
  assert.equal(events.at(-1), "logout", "listeners heard of a refresh after the logout");
  assert.deepEqual(srv.calls.slice(-2), ["POST /auth/refresh", "POST /logout"], "the logout went out before the refresh had landed");
});

test("a refresh that lands after another tab logged out does not bring the state back", async (t) => {
  const srv = scripted();
  let release;
  const gate = new Promise((r) => (release = r));
  const inner = srv.fetch;
  let asked;
  const askedP = new Promise((r) => (asked = r));
  let hold = false;
  srv.fetch = async (input, init) => {
    if (input === "/auth/refresh" && hold) {
      asked();
      await gate;
    }
    return inner(input, init);
  };
  const a = tab(srv);
  await a.start();
  const b = tab(srv);
  await b.start();
  t.after(() => { a.stop(); b.stop(); });
  hold = true;
  const pending = a.refresh();
  await askedP;
  await b.logout();
  await sleep(50); // the broadcast reaches tab a
  release();
  assert.equal(await pending, false);
  await sleep(50);
  assert.equal(localStorage.getItem("sessiond:state"), null, "sessiond:state is back after the other tab's logout");
});

// lockTimeoutSeconds bounds the whole refresh, body included: a body that
// never ends (a stalled proxy) would otherwise hold the cross-tab lock,
// which has no lease, and with it every tab's refresh.
test("a refresh whose body never arrives settles within lockTimeoutSeconds", async (t) => {
  const fetch = async (input, init = {}) => {
    const body = new ReadableStream({
      start(c) {
        c.enqueue(new TextEncoder().encode('{"access_token_expires_at":'));
        init.signal?.addEventListener("abort", () => c.error(new DOMException("aborted", "AbortError")));
      },
    });
    return new Response(body, { status: 200, headers: { "Content-Type": "application/json" } });
  };
  const s = createSession({ fetch, lockTimeoutSeconds: 0.1 });
  t.after(() => s.stop());
  const outcome = await Promise.race([
    s.refresh().then(() => "resolved", () => "rejected"),
    sleep(3000).then(() => "pending"),
  ]);
  assert.notEqual(outcome, "pending", "refresh() still pending 30x past lockTimeoutSeconds");
});

// A refresh whose answer went silent is sent again while the server still
// takes the token the first attempt may have retired (reuse_interval, 5 s
// by default): the first attempt is abandoned after 3 s, not after
// lockTimeoutSeconds (15 s), whose retry the server would take for theft
// and end the session. The retry itself gets the whole lockTimeoutSeconds.
test("a refresh whose answer went silent is sent again within the server's reuse interval", async (t) => {
  const attempts = [];
  const fetch = async (input, init = {}) => {
    attempts.push(init.signal);
    if (attempts.length === 1) {
      return new Promise((_, reject) => {
        init.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
      });
    }
    const exp = Date.now() + 60_000;
    return Response.json({ access_token_expires_at: new Date(exp).toISOString(), refresh_token_expires_at: new Date(exp + 1800_000).toISOString() });
  };
  const s = createSession({ fetch });
  t.after(() => s.stop());
  const outcome = await Promise.race([
    s.refresh().then((ok) => (ok ? "refreshed" : "ended"), () => "rejected"),
    sleep(10_000).then(() => "pending"),
  ]);
  assert.equal(outcome, "refreshed", "the retry did not come in time for the server's reuse interval");
  assert.equal(attempts.length, 2);
  assert.equal(attempts[0]?.aborted, true, "the silent first attempt was not abandoned");
});

// The first attempt is bounded by lockTimeoutSeconds too, when that is
// the shorter: a long reuse interval must not hold the cross-tab lock
// (or the user) longer than the timeout the app chose.
test("a refresh's first attempt never outlasts lockTimeoutSeconds", async (t) => {
  let attempts = 0;
  const fetch = async (input, init = {}) => {
    if (++attempts === 1) {
      return new Promise((_, reject) => {
        init.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
      });
    }
    const exp = Date.now() + 60_000;
    return Response.json({ access_token_expires_at: new Date(exp).toISOString(), refresh_token_expires_at: new Date(exp + 1800_000).toISOString() });
  };
  const s = createSession({ fetch, lockTimeoutSeconds: 2, reuseIntervalSeconds: 60 });
  t.after(() => s.stop());
  const outcome = await Promise.race([
    s.refresh().then((ok) => (ok ? "refreshed" : "ended"), () => "rejected"),
    sleep(10_000).then(() => "pending"),
  ]);
  assert.equal(outcome, "refreshed", "the first attempt outlasted lockTimeoutSeconds");
  assert.equal(attempts, 2);
});

// With a reuse interval of 2 s or less a retry cannot arrive inside it
// (the shortest first attempt, 1 s, and the pause use it up), so the
// first attempt is not cut short: an answer that takes 1.5 s must arrive
// on it rather than be abandoned for a retry the server takes for theft.
test("with reuseIntervalSeconds of 2 or less a slow first answer is waited for", async (t) => {
  let attempts = 0;
  const fetch = async (input, init = {}) => {
    attempts++;
    await new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, 1500);
      init.signal?.addEventListener("abort", () => { clearTimeout(timer); reject(new DOMException("aborted", "AbortError")); });
    });
    const exp = Date.now() + 60_000;
    return Response.json({ access_token_expires_at: new Date(exp).toISOString(), refresh_token_expires_at: new Date(exp + 1800_000).toISOString() });
  };
  const s = createSession({ fetch, reuseIntervalSeconds: 2 });
  t.after(() => s.stop());
  assert.equal(await s.refresh(), true);
  assert.equal(attempts, 1, "the slow first answer was abandoned for a retry past the reuse interval");
});

// The refresh endpoint tells the client the server's reuse interval
// (reuse_interval_seconds); the client keeps it in the shared state, so
// every tab bounds its first attempt by the server's value rather than by
// reuseIntervalSeconds, which an app left at 5 s for a server without a
// grace: a first answer slower than 3 s was abandoned for a retry that
// server takes for theft, ending the session in every tab.
test("the reuse interval the server reports bounds the first attempt in every tab", async (t) => {
  let attempts = 0;
  let delayMs = 0;
  let expMs = 100; // the first answer's token expires at once: the next refresh is due
  const fetch = async (input, init = {}) => {
    attempts++;
    await new Promise((resolve, reject) => {
      const timer = setTimeout(resolve, delayMs);
      init.signal?.addEventListener("abort", () => { clearTimeout(timer); reject(new DOMException("aborted", "AbortError")); });
    });
    const exp = Date.now() + expMs;
    return Response.json({ access_token_expires_at: new Date(exp).toISOString(), refresh_token_expires_at: new Date(exp + 1800_000).toISOString(), reuse_interval_seconds: 0 });
  };
  const a = tab({ fetch }); // reuseIntervalSeconds left at its default, 5
  t.after(() => a.stop());
  assert.equal(await a.refresh(), true);
  await new Promise((r) => setTimeout(r, 150)); // past the token's expiry
  const b = tab({ fetch });
  t.after(() => b.stop());
  attempts = 0;
  delayMs = 3500; // past the 3 s a 5 s interval gives the first attempt
  expMs = 60_000;
  assert.equal(await b.refresh(), true);
  assert.equal(attempts, 1, "the server has no reuse interval, yet the slow first answer was abandoned for a retry it takes for theft");
});

test("expiry times are read on the client's clock, corrected by the server's Date", async (t) => {
  const skew = 20 * 60_000; // the client's clock is 20 minutes behind
  const srv = scripted({ expOf: () => Date.now() + skew + 15 * 60_000 });
  const inner = srv.fetch;
  srv.fetch = async (input, init) => {
    const res = await inner(input, init);
    const h = new Headers(res.headers);
    h.set("Date", new Date(Date.now() + skew).toUTCString());
    return new Response(res.body, { status: res.status, headers: h });
  };
  const s = tab(srv);
  assert.equal(await s.refresh(), true);
  const left = s.expiresAt() - Date.now();
  assert.ok(left > 14 * 60_000 && left < 16 * 60_000, `the access token expires in ${left} ms on this clock, want about 15 minutes`);
});

test("a timed refresh held back for want of a user runs at the next sign of one", async (t) => {
  const srv = scripted({ expOf: () => Date.now() + 1300 });
  const s = tab(srv, { refreshBeforeSeconds: 1 });
  t.after(() => s.stop());
  await sleep(5); // the page loaded before the login landed
  s.update({ access_token_expires_at: new Date(Date.now() + 1300).toISOString() });
  await s.start();
  await sleep(1200); // due at 1 s, halfway through the token's life
  assert.equal(srv.count("POST /auth/refresh"), 0, "refreshed with nobody there");
  await s.fetch("/api"); // the user is back
  await sleep(100);
  assert.equal(srv.count("POST /auth/refresh"), 1);
});

test("after a failed logout the session goes on and a second logout can succeed", async (t) => {
  let srv = scripted({ logoutStatus: 503 });
  globalThis.sessionStorage = new MemStorage();
  const s = createSession({ fetch: (input, init) => srv.fetch(input, init) });
  t.after(() => s.stop());
  await s.start();
  await assert.rejects(s.logout(), /logout failed with HTTP 503/);
  assert.notEqual(localStorage.getItem("sessiond:state"), null, "the state was cleared though the server kept the session");
  srv = scripted();
  await s.logout();
  assert.deepEqual(srv.calls, ["POST /logout"]);
  assert.equal(localStorage.getItem("sessiond:state"), null);
});

test("the logout response's Clear-Site-Data does not end the session before the logout does", async (t) => {
  // Chromium fires a storage event in the logging-out tab itself when the
  // response's Clear-Site-Data empties localStorage.
  const win = new EventTarget();
  globalThis.addEventListener = win.addEventListener.bind(win);
  globalThis.removeEventListener = win.removeEventListener.bind(win);
  let went = [];
  globalThis.location = { pathname: "/account", search: "", href: "http://app.test/account", origin: "http://app.test", assign: (u) => went.push(u) };
  t.after(() => {
    delete globalThis.addEventListener;
    delete globalThis.removeEventListener;
    delete globalThis.location;
  });
  const srv = scripted();
  const inner = srv.fetch;
  srv.fetch = async (input, init) => {
    if (input === "/logout") {
      localStorage.clear();
      const e = new Event("storage");
      e.key = null;
      e.storageArea = localStorage;
      win.dispatchEvent(e);
    }
    return inner(input, init);
  };
  const s = tab(srv);
  t.after(() => s.stop());
  await s.start();
  await s.logout();
  assert.deepEqual(went, ["/login"], "the logout's own redirect, without next=, once");
});

// A timed refresh the server committed, whose answer was lost on the way
// back: the cookie still holds the refresh token the server retired, which
// the server takes again only within its reuse interval (5 s by default);
// after that it is reuse, and the session ends as stolen. The client's
// retry must land inside that interval.
test("a refresh whose answer was lost is retried within the server's reuse interval", async (t) => {
  const reuseMs = 5000; // refresh.reuse_interval's default
  let cookie = "rt0", retiredAt = new Map(), n = 0, lose = true;
  const srv = {
    calls: [],
    fetch: async (input, init = {}) => {
      const path = typeof input === "string" ? input : input.url;
      srv.calls.push(path);
      await sleep(5);
      if (path !== "/auth/refresh") return Response.json({ ok: true });
      const sent = cookie;
      const at = retiredAt.get(sent);
      if (at !== undefined && Date.now() - at > reuseMs) return new Response('{"code":"refresh_token_reused"}', { status: 401 });
      if (at === undefined) retiredAt.set(sent, Date.now());
      const next = "rt" + ++n;
      if (lose) {
        lose = false; // committed, then the connection dropped: no Set-Cookie reached the browser
        throw new TypeError("Failed to fetch");
      }
      cookie = next;
      const exp = Date.now() + 60_000;
      return Response.json({ access_token_expires_at: new Date(exp).toISOString(), refresh_token_expires_at: new Date(exp + 1800_000).toISOString() });
    },
  };
  const s = tab(srv, { refreshBeforeSeconds: 1 });
  t.after(() => s.stop());
  const events = [];
  s.onChange((e) => events.push(e.type));
  s.update({ access_token_expires_at: new Date(Date.now() + 1500).toISOString() });
  await s.start();
  await s.fetch("/api"); // the user is there
  for (const end = Date.now() + 8000; Date.now() < end && cookie === "rt0"; ) await sleep(50);
  assert.ok(!events.includes("logout"), `the session ended: ${events}`);
  assert.equal(cookie, "rt2", "the retry did not rotate the cookie");
  assert.ok(s.expiresAt() - Date.now() > 50_000);
});

// rotatingServer is a refresh endpoint with rotation and a reuse interval:
// cookie is the refresh token in the browser's jar. The first `lose`
// refreshes are committed and then their answers lost (no Set-Cookie
// reached the browser), as a connection dropped on the way back.
function rotatingServer({ reuseMs = 5000, lose = 1 } = {}) {
  const retiredAt = new Map();
  let n = 0;
  const srv = {
    cookie: "rt0",
    accessValid: false,
    calls: [],
    fetch: async (input, init = {}) => {
      const path = typeof input === "string" ? input : input.url;
      srv.calls.push((init.method || "GET") + " " + path);
      await sleep(5);
      if (path !== "/auth/refresh") return srv.accessValid ? Response.json({ ok: true }) : new Response("{}", { status: 401 });
      const sent = srv.cookie;
      const at = retiredAt.get(sent);
      if (at !== undefined && Date.now() - at > reuseMs) return new Response('{"code":"refresh_token_reused"}', { status: 401 });
      if (at === undefined) retiredAt.set(sent, Date.now());
      const next = "rt" + ++n;
      if (lose > 0) {
        lose--;
        throw new TypeError("Failed to fetch");
      }
      srv.cookie = next;
      srv.accessValid = true;
      const exp = Date.now() + 60_000;
      return Response.json({ access_token_expires_at: new Date(exp).toISOString(), refresh_token_expires_at: new Date(exp + 1800_000).toISOString() });
    },
  };
  return srv;
}

// Every refresh, not only the timed one, can lose its answer after the
// server rotated the token: a 401 after an idle tab's access token ran
// out, refresh(), start() learning the expiry. Unless it is sent again
// while the server still takes the retired token, the next refresh (the
// user's next click, maybe minutes later) is reuse and ends the session
// as theft.
for (const [name, run] of [
  ["a 401 of session.fetch", async (s) => assert.equal((await s.fetch("/api")).status, 200, "the request was not retried")],
  ["refresh()", async (s) => assert.equal(await s.refresh(), true)],
  ["start() with no known expiry", async (s) => s.start()],
]) {
  test(`a refresh for ${name} whose answer was lost is sent again within the reuse interval`, async (t) => {
    const srv = rotatingServer();
    const s = tab(srv);
    t.after(() => s.stop());
    const events = [];
    s.onChange((e) => events.push(e.type));
    await run(s);
    assert.equal(srv.cookie, "rt2", `the lost refresh was not sent again: ${srv.calls}`);
    assert.ok(!events.includes("logout"), `the session ended: ${events}`);
    assert.ok(s.expiresAt() - Date.now() > 50_000);
  });
}

// The fallback lock's lease must last as long as its holder's refresh,
// retry included: a rival that takes an expired lease meanwhile sends the
// refresh token the holder's lost refresh may have retired.
test("the fallback lock is held for the whole refresh, retry included", async (t) => {
  const srv = rotatingServer();
  const a = tab(srv, { lockTimeoutSeconds: 0.3 });
  const b = tab(srv, { lockTimeoutSeconds: 0.3 });
  t.after(() => { a.stop(); b.stop(); });
  assert.equal(globalThis.navigator?.locks, undefined, "this test is about the localStorage lock");
  const pa = a.refresh(); // its first answer is lost; it sends it again after 1 s
  await sleep(600); // past a's first lease
  const pb = b.refresh();
  assert.deepEqual(await Promise.all([pa, pb]), [true, true]);
  assert.deepEqual(srv.calls, ["POST /auth/refresh", "POST /auth/refresh"], "b refreshed while a held the lock");
});

// A lease is never longer than lockTimeoutSeconds from now: one further
// off (a value written by a script or another origin's copy, a clock set
// back) is no holder's, and must not make every refresh wait.
for (const [name, value] of [
  ["far in the future", () => JSON.stringify({ owner: "x", until: Date.now() + 1e12 })],
  ["Infinity (1e309)", () => '{"owner":"x","until":1e309}'],
]) {
  test(`a fallback lease ${name} does not hold refreshes back`, async (t) => {
    const srv = fakeServer();
    const s = tab(srv);
    t.after(() => s.stop());
    localStorage.setItem("sessiond:lock", value());
    const outcome = await Promise.race([s.refresh().then(String), sleep(3000).then(() => "pending")]);
    assert.equal(outcome, "true");
    assert.equal(localStorage.getItem("sessiond:lock"), null, "the lock is released");
  });
}

// localStorage["sessiond:state"] is writable by any script of the origin
// and survives from older versions: whatever it holds, the client must
// neither break nor spin, and must come back to a state it can use.
for (const [name, value] of [
  ["not JSON", () => "{oops"],
  ["an array", () => "[]"],
  ["strings", () => JSON.stringify({ exp: String(Date.now() + 60_000), gen: "1" })],
  ["an infinite expiry (1e309)", () => '{"exp":1e309,"gen":1,"at":0}'],
  ["an infinite generation (1e309)", () => `{"exp":${Date.now() + 60_000},"gen":1e309,"at":${Date.now() - 10_000}}`],
  ["a generation past 2^53", () => JSON.stringify({ exp: Date.now() + 60_000, gen: 2 ** 60, at: Date.now() - 10_000 })],
  ["a fractional generation", () => JSON.stringify({ exp: Date.now() + 60_000, gen: 1.5, at: Date.now() - 10_000 })],
  ["negative numbers", () => JSON.stringify({ exp: -1, gen: -5, at: -1e300 })],
  ["an arrival far in the future", () => JSON.stringify({ exp: Date.now() + 60_000, gen: 3, at: 1e15 })],
  ["an arrival far in the past", () => JSON.stringify({ exp: Date.now() + 60_000, gen: 3, at: -1e300 })],
]) {
  test(`a tampered sessiond:state (${name}) neither breaks the client nor makes it spin`, async (t) => {
    const srv = fakeServer();
    localStorage.setItem("sessiond:state", value());
    const s = tab(srv);
    t.after(() => s.stop());
    const heard = [];
    s.onChange((e) => heard.push(e.type));
    await s.start();
    await busy(s, 600);
    assert.ok(srv.count("POST /auth/refresh") <= 2, `refreshed ${srv.count("POST /auth/refresh")} times`);
    for (let i = 0; i < 2; i++) {
      srv.accessValid = false;
      assert.equal((await s.fetch("/api")).status, 200);
    }
    const left = s.expiresAt() - Date.now();
    assert.ok(left > 50_000 && left <= 60_000, `expiresAt() is ${s.expiresAt()}`);
    assert.ok(Number.isSafeInteger(JSON.parse(localStorage.getItem("sessiond:state")).gen), localStorage.getItem("sessiond:state"));
    assert.ok(heard.filter((e) => e === "refreshed").length >= 2, `listeners heard ${heard}`);
  });
}

// The fetch wrapper acts on a 401 of this origin only: a request to this
// origin that a redirect took to another one got that origin's 401, which
// says nothing about this session.
test("a 401 from another origin after a redirect does not refresh", async (t) => {
  globalThis.location = { pathname: "/", search: "", href: "http://app.test/", origin: "http://app.test", assign: () => {} };
  t.after(() => delete globalThis.location);
  const calls = [];
  const fetch = async (input, init = {}) => {
    const path = typeof input === "string" ? input : input.url;
    calls.push((init.method || "GET") + " " + path);
    if (path === "/auth/refresh") return Response.json({ access_token_expires_at: new Date(Date.now() + 60_000).toISOString() });
    const res = new Response("{}", { status: 401 });
    // what fetch reports after following /files/1 to a storage service
    Object.defineProperty(res, "url", { value: "https://storage.example/bucket/1" });
    return res;
  };
  globalThis.sessionStorage = new MemStorage();
  const s = createSession({ fetch });
  const res = await s.fetch("/files/1");
  assert.equal(res.status, 401);
  assert.deepEqual(calls, ["GET /files/1"]);
});

// A ReadableStream body is read by the first send and cannot be sent
// again: after the refresh, the 401 is returned for the caller to send a
// new body, rather than a TypeError from resending a used stream.
test("a request with a stream body: one refresh, no resend of the used stream", async () => {
  const srv = fakeServer();
  srv.accessValid = false;
  const inner = srv.fetch;
  srv.fetch = async (input, init = {}) => {
    if (init.body instanceof ReadableStream) {
      if (init.body.locked) throw new TypeError("ReadableStream is locked");
      await new Response(init.body).text(); // the upload reads the stream
    }
    return inner(input, init);
  };
  const s = tab(srv);
  const body = new ReadableStream({ start(c) { c.enqueue(new TextEncoder().encode("x")); c.close(); } });
  const res = await s.fetch("/api", { method: "POST", body, duplex: "half" });
  assert.equal(res.status, 401);
  assert.deepEqual(srv.calls, ["POST /api", "POST /auth/refresh"]);
  assert.equal((await s.fetch("/api", { method: "POST", body: "again" })).status, 200, "the caller's own resend works");
});

// A rival waits for the fallback lock as long as its holder can keep it:
// two refreshes of up to lockTimeoutSeconds each, the 1 s pause between
// them and the settle time, plus one lease for a holder that crashed. With
// a short lease (lockTimeoutSeconds under about 1 s) three leases were
// shorter than the 1 s pause alone: the rival went ahead unlocked during
// the holder's retry and sent the refresh token the lost refresh retired.
test("a rival waits out a short-lease holder's retry pause", async (t) => {
  const srv = rotatingServer();
  const a = tab(srv, { lockTimeoutSeconds: 0.2 });
  const b = tab(srv, { lockTimeoutSeconds: 0.2 });
  t.after(() => { a.stop(); b.stop(); });
  assert.equal(globalThis.navigator?.locks, undefined, "this test is about the localStorage lock");
  const pa = a.refresh(); // its first answer is lost; it sends it again after 1 s
  // a sends its first refresh holding the lock (written, settled), then
  // waits to retry: start b once it has (a fixed sleep lost the race to a
  // loaded machine's timers).
  while (srv.calls.length === 0) await sleep(5);
  const pb = b.refresh();
  assert.deepEqual(await Promise.all([pa, pb]), [true, true]);
  assert.deepEqual(srv.calls, ["POST /auth/refresh", "POST /auth/refresh"], "b refreshed while a held the lock");
});

// A step-up 401 (RFC 9470: the session is valid, the user must sign in
// again for this action) is not cured by a refresh: it is returned at once,
// so a page calling a sensitive route does not rotate the tokens per call.
for (const [name, challenge] of [
  ["httpsession's challenge", 'Bearer error="insufficient_user_authentication", error_description="a more recent authentication is required", max_age="300"'],
  ["a token68-free spelling", "Bearer realm=\"app\", error=insufficient_user_authentication"],
]) {
  test(`a step-up 401 (${name}) is returned without a refresh`, async () => {
    const srv = fakeServer();
    const inner = srv.fetch;
    srv.fetch = async (input, init = {}) => {
      if (input !== "/api/password") return inner(input, init);
      srv.calls.push("POST /api/password");
      return new Response('{"code":"reauthentication_required"}', { status: 401, headers: { "WWW-Authenticate": challenge } });
    };
    const s = tab(srv);
    const res = await s.fetch("/api/password", { method: "POST", body: "x" });
    assert.equal(res.status, 401);
    assert.deepEqual(srv.calls, ["POST /api/password"]);
    assert.equal(s.expiresAt(), null, "no refresh, no state");
  });
}
