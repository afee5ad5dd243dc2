// Runs against a real `sessiond serve` whose URL and API key the Go test
// (node_test.go) passes in SESSIOND_URL and SESSIOND_API_KEY.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import { createVerifier, Verifier } from "../dist/index.js";
import { api, apiKey, audience, code, eventually, issuer, quiet, skip, url } from "./helpers.mjs";

const login = (subject) => api("POST", "/v1/sessions", { subject });

function logs() {
  const lines = [];
  return { lines, logger: { warn: (m) => lines.push("WARN " + m), error: (m) => lines.push("ERROR " + m) } };
}

test("verifies, then rejects a revoked session", { skip }, async () => {
  const v = await createVerifier({ url, apiKey, issuer, audience, logger: quiet });
  try {
    const s = await login("alice");
    const c = await v.verify(s.access_token);
    assert.equal(c.subject, "alice");
    assert.equal(c.sessionId, s.session.id);
    assert.equal(c.stale, false);
    assert.equal(await code(v.verify(s.access_token)), "ok", "cached");
    await api("DELETE", `/v1/sessions/${s.session.id}`);
    await eventually("revoked", async () => (await code(v.verify(s.access_token))) === "revoked");
    const other = await login("alice");
    assert.equal(await code(v.verify(other.access_token)), "ok");
  } finally {
    await v.close();
  }
});

test("a token bound to a DPoP key is refused (no proof checks here)", { skip }, async () => {
  const v = await createVerifier({ url, apiKey, issuer, audience, logger: quiet });
  const mw = v.middleware();
  const app = http.createServer((req, res) => mw(req, res, () => res.end("passed")));
  await new Promise((r) => app.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${app.address().port}`;
  try {
    const s = await api("POST", "/v1/sessions", { subject: "dora", dpop_jkt: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" });
    assert.equal(s.token_type, "DPoP");
    // The refusal says why (docs/verifier.md): the key binding, not a bad
    // token, so an operator reading it knows to use the Go verifier.
    await assert.rejects(v.verify(s.access_token), (e) => e.code === "invalid_token" && /DPoP/.test(e.message));
    // The middleware lets it through neither as Bearer nor as DPoP (with
    // any proof: none is checked), and never as the bearer token it is not.
    for (const headers of [
      { Authorization: `Bearer ${s.access_token}` },
      { Authorization: `DPoP ${s.access_token}`, DPoP: "eyJ.any.proof" },
    ]) {
      const res = await fetch(base, { headers });
      assert.equal(res.status, 401, headers.Authorization.split(" ")[0]);
      // As the Go verifier answers a bound token sent as Bearer, and the
      // body says where such tokens are checked.
      assert.match(res.headers.get("www-authenticate"), /^DPoP realm="api", error="invalid_token"/);
      assert.match(await res.text(), /does not check DPoP proofs.*Go verifier/);
    }
  } finally {
    app.close();
    await v.close();
  }
});

test("a session revoked before start is rejected at once (snapshot)", { skip }, async () => {
  const s = await login("bob");
  await api("DELETE", `/v1/sessions/${s.session.id}`);
  const v = await createVerifier({ url, apiKey, issuer, audience, logger: quiet });
  try {
    assert.equal(await code(v.verify(s.access_token)), "revoked");
  } finally {
    await v.close();
  }
});

test("bad tokens are invalid_token", { skip }, async () => {
  const v = await createVerifier({ url, apiKey, issuer, audience, logger: quiet });
  try {
    const s = await login("carol");
    const [h, p, sig] = s.access_token.split(".");
    const other = (await login("dave")).access_token.split(".");
    for (const bad of ["", "x".repeat(9000), "hello", `${h}.${p}.`, `${h}.${other[1]}.${sig}`,
      `eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0.${p}.`]) {
      assert.equal(await code(v.verify(bad)), "invalid_token", bad.slice(0, 40));
    }
    const wrongAudience = new Verifier({ url, apiKey, issuer, audience: "someone-else", logger: quiet });
    await wrongAudience.start();
    assert.equal(await code(wrongAudience.verify(s.access_token)), "invalid_token");
    await wrongAudience.close();
  } finally {
    await v.close();
  }
});

test("staleness policy: reject by default, accept with a warning when asked", { skip }, async () => {
  for (const whenStale of ["reject", "accept"]) {
    let offset = 0;
    const { lines, logger } = logs();
    const v = await createVerifier({ url, apiKey, issuer, audience, whenStale, maxStalenessMs: 20_000, logger, now: () => Date.now() + offset });
    try {
      const s = await login("erin");
      assert.equal(await code(v.verify(s.access_token)), "ok");
      offset = 25_000; // no heartbeat for longer than maxStaleness (the server sends one every 10 s)
      const got = await code(v.verify(s.access_token));
      if (whenStale === "reject") {
        assert.equal(got, "stale");
      } else {
        assert.equal(got, "ok");
        assert.equal((await v.verify(s.access_token)).stale, true);
        assert.ok(lines.some((l) => l.startsWith("WARN") && l.includes("stale")), lines.join("\n"));
      }
    } finally {
      await v.close();
    }
  }
});

test("incident revocation of all and rotate_keys reject every old token", { skip }, async () => {
  const v = await createVerifier({ url, apiKey, issuer, audience, logger: quiet });
  try {
    const before = await Promise.all(["f1", "f2", "f3"].map(login));
    for (const s of before) assert.equal(await code(v.verify(s.access_token)), "ok");
    await api("POST", "/v1/revocations", { all: true, rotate_keys: true, reason: "node test" });
    for (const s of before) {
      await eventually("incident", async () => ["revoked", "invalid_token"].includes(await code(v.verify(s.access_token))));
    }
    // A login a second later is accepted, signed by the new key.
    await new Promise((r) => setTimeout(r, 1100));
    const after = await login("f1");
    await eventually("new session after the incident", async () => (await code(v.verify(after.access_token))) === "ok");
  } finally {
    await v.close();
  }
});

test("middleware: 401 without a valid token, claims on req.sessiond", { skip }, async () => {
  const v = await createVerifier({ url, apiKey, issuer, audience, logger: quiet });
  const mw = v.middleware();
  const app = http.createServer((req, res) => mw(req, res, () => res.end(req.sessiond.subject)));
  await new Promise((r) => app.listen(0, "127.0.0.1", r));
  const base = `http://127.0.0.1:${app.address().port}`;
  try {
    const s = await login("gina");
    const ok = await fetch(base, { headers: { Authorization: `Bearer ${s.access_token}` } });
    assert.equal(ok.status, 200);
    assert.equal(await ok.text(), "gina");
    for (const auth of [undefined, "Basic dTpw", "Bearer x.y.z", "Bearer a b"]) {
      const res = await fetch(base, { headers: auth ? { Authorization: auth } : {} });
      assert.equal(res.status, 401, String(auth));
      assert.match(res.headers.get("www-authenticate"), /^Bearer/);
    }
  } finally {
    app.close();
    await v.close();
  }
});

// A server in front of sessiond that answers the stream with bad input.
async function badStreamProxy(answer) {
  const srv = http.createServer(async (req, res) => {
    if (req.url === "/v1/revocations/stream") {
      answer(res);
      return;
    }
    const upstream = await fetch(url + req.url, { headers: { Authorization: req.headers.authorization ?? "" } });
    res.writeHead(upstream.status, { "Content-Type": upstream.headers.get("content-type") ?? "" });
    res.end(Buffer.from(await upstream.arrayBuffer()));
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  return { srv, url: `http://127.0.0.1:${srv.address().port}` };
}

const cursor = "evt_00363echpdok7iur29n13uses0";
for (const [name, answer] of [
  ["HTML page", (res) => { res.writeHead(200, { "Content-Type": "text/html" }); res.end("<html><body>502</body></html>"); }],
  ["garbage JSON", (res) => { res.writeHead(200, { "Content-Type": "text/event-stream" }); res.end(`event: revoked\nid: ${cursor}\ndata: {"session_id": \n\n`); }],
  ["truncated event", (res) => { res.writeHead(200, { "Content-Type": "text/event-stream" }); res.end(`event: revoked\nid: ${cursor}\ndata: {"session_id":"s1","until":"2030-01-0`); }],
  ["unknown event", (res) => { res.writeHead(200, { "Content-Type": "text/event-stream" }); res.end(`event: revoked_v2\nid: ${cursor}\ndata: {}\n\n`); }],
  ["missing id", (res) => { res.writeHead(200, { "Content-Type": "text/event-stream" }); res.end(`event: revoked\ndata: {"session_id":"s1","until":"2030-01-01T00:00:00Z"}\n\n`); }],
]) {
  test(`bad stream input (${name}) fails closed and is logged`, { skip }, async () => {
    const proxy = await badStreamProxy(answer);
    const { lines, logger } = logs();
    const v = await createVerifier({ url: proxy.url, apiKey, issuer, audience, logger });
    try {
      const s = await login("henry");
      await eventually("stale after bad input", async () => (await code(v.verify(s.access_token))) === "stale");
      assert.ok(lines.some((l) => l.startsWith("ERROR")), lines.join("\n"));
    } finally {
      await v.close();
      proxy.srv.close();
    }
  });
}

test("options are checked", () => {
  for (const o of [
    { url: "ftp://h", apiKey: "k", issuer: "i", audience: "a" },
    { url: "http://u:p@h", apiKey: "k", issuer: "i", audience: "a" },
    { url: "http://h", apiKey: "", issuer: "i", audience: "a" },
    { url: "http://h", apiKey: "k", issuer: "i", audience: "a", leewaySeconds: 3600 },
    { url: "http://h", apiKey: "k", issuer: "i", audience: "a", whenStale: "maybe" },
    // Durations the Go verifier refuses (negative) or cannot hold: NaN
    // (Number("30s") from an environment variable) made the state never
    // stale and a Retry-After's wait NaN, a reconnection at once; an
    // idleTimeoutMs past setTimeout's 2^31-1 ms fires after 1 ms.
    ...["maxStalenessMs", "idleTimeoutMs", "minRefetchIntervalMs", "requestTimeoutMs"].flatMap((f) =>
      [NaN, -1, Infinity, "30000"].map((v) => ({ url: "http://h", apiKey: "k", issuer: "i", audience: "a", [f]: v }))),
    { url: "http://h", apiKey: "k", issuer: "i", audience: "a", idleTimeoutMs: 2 ** 31 },
  ]) {
    assert.throws(() => new Verifier(o), TypeError, JSON.stringify(o, (k, v) => (typeof v === "number" && !Number.isFinite(v) ? String(v) : v)));
  }
  // What the defaults and the tests use stays accepted.
  for (const o of [{}, { maxStalenessMs: 0, minRefetchIntervalMs: 0 }, { maxStalenessMs: 3_600_000, idleTimeoutMs: 2 ** 31 - 1, requestTimeoutMs: 1 }]) {
    assert.doesNotThrow(() => new Verifier({ url: "http://h", apiKey: "k", issuer: "i", audience: "a", ...o }), JSON.stringify(o));
  }
});
