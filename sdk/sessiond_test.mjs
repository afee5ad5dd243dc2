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
  s.update({ access_token_expires_at: new Date(Date.now() + 1300).toISOString() });
  await s.start();
  assert.equal(srv.count("POST /auth/refresh"), 0, "not due yet");
  await new Promise((r) => setTimeout(r, 700));
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
