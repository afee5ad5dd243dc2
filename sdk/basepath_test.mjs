// Unit tests of sessiond.js's basePath option (the browser gateway of
// docs/gateway.md). Run by basepath_test.go, or: node --test basepath_test.mjs
import test from "node:test";
import assert from "node:assert/strict";
import { createSession } from "./sessiond.js";
import { MemStorage } from "./memstorage.mjs";

// gateway answers like sessiond's gateway under /gw: /api/x is 401 until
// /gw/refresh succeeds; /gw/logout ends the session.
function gateway() {
  const srv = {
    valid: false,
    live: true,
    calls: [],
    fetch: async (input, init = {}) => {
      const path = typeof input === "string" ? input : input.url;
      srv.calls.push((init.method || "GET") + " " + path);
      if (path === "/gw/refresh") {
        if (!srv.live) return new Response("{}", { status: 401 });
        srv.valid = true;
        const exp = new Date(Date.now() + 60_000).toISOString();
        return Response.json({ access_token_expires_at: exp });
      }
      if (path === "/gw/logout") {
        srv.live = false;
        return new Response(null, { status: 204 });
      }
      return srv.valid && srv.live ? Response.json({ ok: true }) : new Response("{}", { status: 401 });
    },
  };
  return srv;
}

test.beforeEach(() => {
  globalThis.localStorage = new MemStorage();
  globalThis.sessionStorage = new MemStorage();
});

test("basePath: a 401 refreshes at <basePath>/refresh and retries", async () => {
  const srv = gateway();
  const s = createSession({ basePath: "/gw/", fetch: srv.fetch });
  const res = await s.fetch("/api/x");
  assert.equal(res.status, 200);
  assert.deepEqual(srv.calls, ["GET /api/x", "POST /gw/refresh", "GET /api/x"]);
});

test("basePath: logout posts <basePath>/logout and sends return_to to the login page", async () => {
  const srv = gateway();
  let went = null;
  globalThis.location = { pathname: "/orders", search: "?p=2", href: "http://app.test/orders?p=2", origin: "http://app.test", assign: (u) => { went = u; } };
  try {
    const s = createSession({ basePath: "/gw", loginPage: "/signin", fetch: srv.fetch });
    srv.valid = true;
    await s.fetch("/api/x");
    srv.live = false; // revoked elsewhere: the next 401 cannot be refreshed
    const res = await s.fetch("/api/x");
    assert.equal(res.status, 401);
    // revoked elsewhere: the login page is told why (reason=ended)
    assert.equal(went, "/signin?return_to=%2Forders&reason=ended");
    assert.ok(srv.calls.includes("POST /gw/refresh"));
  } finally {
    delete globalThis.location;
  }
});

test("explicit URLs win over basePath", async () => {
  const srv = gateway();
  const s = createSession({ basePath: "/gw", refreshUrl: "/gw/refresh", logoutUrl: "/custom/logout", fetch: srv.fetch });
  await s.logout();
  assert.ok(srv.calls.includes("POST /custom/logout"), srv.calls.join(", "));
});
