// The network and the server failing under the verifier, as the Go
// verifier's faults_test.go has them: a TCP proxy in front of the real
// sessiond (node_test.go) freezes connections (the server vanishes without
// FIN or RST) or drips bytes; a fake stream sends only a proxy's comments.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import http from "node:http";
import net from "node:net";
import { createVerifier } from "../dist/index.js";
import { api, apiKey, audience, code, eventually, issuer, quiet, skip, url } from "./helpers.mjs";

// faultProxy forwards TCP connections to target. freezeAll() makes the
// open ones half-open (nothing forwarded, nothing closed); new ones still
// forward. With drip, the server's bytes go out one write each.
async function faultProxy(target, { drip = false } = {}) {
  const { hostname, port } = new URL(target);
  const conns = new Set();
  let accepted = 0;
  const srv = net.createServer((client) => {
    accepted++;
    const server = net.connect(Number(port), hostname);
    const c = { client, server, frozen: false };
    conns.add(c);
    const forward = (from, to, oneByOne) => {
      from.on("data", (d) => {
        if (c.frozen) return; // held, never delivered
        if (!oneByOne) return void to.write(d);
        for (let i = 0; i < d.length; i++) to.write(d.subarray(i, i + 1));
      });
      from.on("end", () => { if (!c.frozen) to.end(); });
      from.on("error", () => to.destroy());
    };
    forward(client, server, false);
    forward(server, client, drip);
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${srv.address().port}`,
    accepted: () => accepted,
    freezeAll: () => { for (const c of conns) c.frozen = true; },
    close: () => {
      for (const c of conns) { c.client.destroy(); c.server.destroy(); }
      srv.close();
    },
  };
}

test("a half-open stream: stale after maxStaleness, then a reconnection catches up without a snapshot", { skip }, async () => {
  const p = await faultProxy(url);
  let now = Date.now();
  const v = await createVerifier({ url: p.url, apiKey, issuer, audience, logger: quiet, now: () => now, idleTimeoutMs: 300 });
  try {
    const s = await api("POST", "/v1/sessions", { subject: "hana" });
    const other = await api("POST", "/v1/sessions", { subject: "ivo" });
    await eventually("connected", () => v.status().connected);
    // Wait for the heartbeat after the catch-up, so the stream is live.
    assert.equal(await code(v.verify(s.access_token)), "ok", "control");
    p.freezeAll();
    await api("DELETE", `/v1/sessions/${s.session.id}`);
    assert.equal(await code(v.verify(s.access_token)), "ok", "within maxStaleness, cut off: the documented window");
    now += 31_000;
    assert.equal(await code(v.verify(other.access_token)), "stale", "maxStaleness after the last heartbeat, cut off");
    await eventually("the revocation made while cut off is applied after a reconnection",
      async () => (await code(v.verify(s.access_token))) === "revoked");
    await eventually("current again", async () => (await code(v.verify(other.access_token))) === "ok");
    assert.ok(p.accepted() >= 2, `connections through the proxy: ${p.accepted()}; want a reconnection`);
    assert.equal(v.status().snapshots, 1, "the catch-up resumes with Last-Event-ID, no snapshot");
  } finally {
    await v.close();
    p.close();
  }
});

test("a stream dripped byte by byte (lines, events, UTF-8 split anywhere) applies the same events", { skip }, async () => {
  const p = await faultProxy(url, { drip: true });
  const v = await createVerifier({ url: p.url, apiKey, issuer, audience, logger: quiet });
  try {
    const s = await api("POST", "/v1/sessions", { subject: "zoë☃" });
    await eventually("connected", () => v.status().connected);
    await api("DELETE", `/v1/sessions/${s.session.id}`);
    await eventually("revoked byte by byte", async () => (await code(v.verify(s.access_token))) === "revoked");
    assert.equal(v.status().stale, false);
  } finally {
    await v.close();
    p.close();
  }
});

// A proxy that keeps an idle stream open with comments of its own while
// the node behind it is stuck: the verifier leaves it after idleTimeoutMs,
// as it leaves a silent one, and reconnects (as the Go verifier does).
test("a proxy's keep-alive comments do not hold the verifier on a dead stream", { skip }, async () => {
  let streams = 0;
  const front = http.createServer(async (req, res) => {
    if (req.url === "/v1/revocations/stream" && ++streams === 1) {
      // The first stream: sessiond's first words, then only the proxy's.
      const upstream = await fetch(url + req.url, { headers: { Authorization: req.headers.authorization, "Last-Event-ID": req.headers["last-event-id"] ?? "" } }).catch(() => null);
      res.writeHead(200, { "Content-Type": "text/event-stream" });
      if (upstream?.body) {
        const reader = upstream.body.getReader();
        const { value } = await reader.read(); // the catch-up and its heartbeat
        if (value) res.write(value);
        reader.cancel().catch(() => {});
      }
      const t = setInterval(() => res.write(": keep-alive\n\n"), 20);
      res.on("close", () => clearInterval(t));
      return;
    }
    // Everything else, and later streams: the real server.
    const headers = { ...req.headers };
    delete headers.host;
    const ac = new AbortController();
    res.on("close", () => ac.abort());
    try {
      const up = await fetch(url + req.url, { headers, signal: ac.signal });
      res.writeHead(up.status, { "Content-Type": up.headers.get("content-type") ?? "" });
      if (up.body) for await (const chunk of up.body) res.write(chunk);
    } catch {
      // the verifier hung up
    }
    res.end();
  });
  await new Promise((r) => front.listen(0, "127.0.0.1", r));
  const v = await createVerifier({ url: `http://127.0.0.1:${front.address().port}`, apiKey, issuer, audience, logger: quiet, idleTimeoutMs: 300 });
  try {
    await eventually("the verifier leaves a stream that brings only a proxy's comments and reconnects", () => streams >= 2);
  } finally {
    await v.close();
    front.closeAllConnections();
    front.close();
  }
});

// The reconnection backoff starts over only after a connection that
// brought a heartbeat: a stream that answers reset every time (a cursor
// another node finds in its future) or ends empty (a proxy's answer) is
// backed off from, not retried, and the snapshot reloaded, ten times a
// second. Doubling from 100 ms, each wait at least half its backoff: the
// fifth at least 800 ms (a bound the verifier computes, not a measurement
// of the machine: a slow machine only makes the gap longer).
for (const [name, write] of [
  ["a stream that answers reset every time", (res, cursor) => res.end(`event: reset\nid: ${cursor}\ndata: {"reason":"cursor_in_future"}\n\n`)],
  ["a stream that ends empty", (res) => res.end()],
]) {
  test(`backs off from ${name}`, async () => {
    const cursor = "evt_00363echpdok7iur29n13uses0";
    const at = [];
    const fake = http.createServer((req, res) => {
      switch (req.url) {
        case "/.well-known/jwks.json":
          return void res.writeHead(200, { "Content-Type": "application/json" }).end('{"keys":[]}');
        case "/v1/revocations/snapshot":
          return void res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ revocations: [], watermarks: [], cursor }));
        case "/v1/revocations/stream":
          at.push(Date.now());
          res.writeHead(200, { "Content-Type": "text/event-stream" });
          return void write(res, cursor);
        default:
          res.writeHead(404).end();
      }
    });
    await new Promise((r) => fake.listen(0, "127.0.0.1", r));
    const v = await createVerifier({ url: `http://127.0.0.1:${fake.address().port}`, apiKey: "k", issuer: "i", audience: "a", logger: quiet });
    try {
      await eventually("six connections", () => at.length >= 6);
      const gaps = at.slice(1, 6).map((t, i) => t - at[i]);
      assert.ok(gaps[4] >= 800, `gaps between connections ${gaps.join(", ")} ms: want them to back off (the fifth at least 800 ms)`);
    } finally {
      await v.close();
      fake.closeAllConnections();
      fake.close();
    }
  });
}

// A token of a key the verifier does not know yet, verified while a JWKS
// fetch is under way (the endpoint slow, or hanging), waits for that fetch
// and is checked against what it brings, as the Go verifier does, however
// recently it started: refusing it would answer 401 to a token of a key
// the fetch under way is about to learn.
test("an unknown kid joins the JWKS fetch under way", async () => {
  const kid = "rotated-key";
  const pair = crypto.generateKeyPairSync("ed25519");
  const jwk = { ...pair.publicKey.export({ format: "jwk" }), kid, alg: "EdDSA", use: "sig" };
  let calls = 0, release;
  const released = new Promise((r) => { release = r; });
  const fake = http.createServer(async (req, res) => {
    switch (req.url) {
      case "/.well-known/jwks.json": {
        const keys = ++calls === 1 ? [] : [jwk]; // the first fetch: before the rotation
        if (calls > 1) await released; // slow
        return void res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ keys }));
      }
      case "/v1/revocations/snapshot":
        return void res.writeHead(200, { "Content-Type": "application/json" })
          .end(JSON.stringify({ revocations: [], watermarks: [], cursor: "evt_00363echpdok7iur29n13uses0" }));
      case "/v1/revocations/stream":
        res.writeHead(200, { "Content-Type": "text/event-stream" });
        return void res.write(": heartbeat\nid: evt_00363echpdok7iur29n13uses0\n\n");
      default:
        res.writeHead(404).end();
    }
  });
  await new Promise((r) => fake.listen(0, "127.0.0.1", r));
  let now = Date.now();
  const [issuer, audience] = ["https://sessiond.probe", "probe-app"];
  const v = await createVerifier({ url: `http://127.0.0.1:${fake.address().port}`, apiKey: "k", issuer, audience, logger: quiet, now: () => now });
  const b64 = (x) => Buffer.from(x).toString("base64url");
  const sign = (claims) => {
    const input = `${b64(JSON.stringify({ alg: "EdDSA", typ: "at+jwt", kid }))}.${b64(JSON.stringify(claims))}`;
    return `${input}.${b64(crypto.sign(null, Buffer.from(input), pair.privateKey))}`;
  };
  const sec = Math.floor(now / 1000);
  const claims = (sub) => ({ iss: issuer, aud: audience, client_id: audience, sub, sid: "ses_" + sub, jti: crypto.randomUUID(),
    iat: sec, exp: sec + 300, auth_time: sec, sess_exp: sec + 3600, sst: "hybrid" });
  try {
    now += 2000; // past minRefetchIntervalMs since the first fetch
    const first = code(v.verify(sign(claims("ann")))); // starts the slow fetch
    await eventually("the refetch is under way", () => calls === 2);
    const second = code(v.verify(sign(claims("ben")))); // while it is
    release();
    assert.equal(await first, "ok", "control: the token that started the fetch");
    assert.equal(await second, "ok", "a token of the key being fetched was refused while the fetch was under way");
    assert.equal(calls, 2, "JWKS fetches: the second verify must join the first's");
  } finally {
    await v.close();
    fake.closeAllConnections();
    fake.close();
  }
});
