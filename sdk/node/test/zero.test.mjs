// What a zero (or unset) option means: the default, for every duration and
// for cacheSize, as a zero field of the Go verifier's Options does. A zero
// that meant itself made requestTimeoutMs and idleTimeoutMs fire at once
// (no verifier could start; no stream connection lived), maxStalenessMs
// always stale, minRefetchIntervalMs a JWKS fetch for every token of an
// unknown kid, leewaySeconds no leeway and cacheSize no cache, each unlike
// the same setting in Go. Also: a sessiond not reachable at start is an
// Error naming what was fetched, not the TypeError of a bad option.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import http from "node:http";
import { createVerifier, Verifier } from "../dist/index.js";
import { code, eventually } from "./helpers.mjs";

const apiKey = "sdak_zero_0123456789abcdefghijklmnopqrstuvw";
const issuer = "https://sessiond.zero";
const audience = "zero-app";
const kid = "zero-key";
const quiet = { warn() {}, error() {} };
const cursor = "evt_00363echpdok7iur29n13uses0";
const b64 = (b) => Buffer.from(b).toString("base64url");

// fake: a sessiond whose JWKS holds one Ed25519 key (calls.jwks counts
// its fetches), whose snapshot is empty and whose stream sends one
// heartbeat and stays open (calls.stream counts its connections).
async function fake() {
  const pair = crypto.generateKeyPairSync("ed25519");
  const jwk = { ...pair.publicKey.export({ format: "jwk" }), kid, alg: "EdDSA", use: "sig" };
  const calls = { jwks: 0, stream: 0 };
  const srv = http.createServer((req, res) => {
    switch (req.url) {
      case "/.well-known/jwks.json":
        calls.jwks++;
        return void res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
      case "/v1/revocations/snapshot":
        return void res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ revocations: [], watermarks: [], cursor }));
      case "/v1/revocations/stream":
        calls.stream++;
        res.writeHead(200, { "Content-Type": "text/event-stream" });
        res.write(`: heartbeat\nid: ${cursor}\n\n`);
        return;
      default:
        res.writeHead(404).end();
    }
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  const sign = (claims, header = { alg: "EdDSA", typ: "at+jwt", kid }) => {
    const input = `${b64(JSON.stringify(header))}.${b64(JSON.stringify(claims))}`;
    return `${input}.${b64(crypto.sign(null, Buffer.from(input), pair.privateKey))}`;
  };
  return {
    url: `http://127.0.0.1:${srv.address().port}`,
    calls,
    sign,
    close: () => { srv.closeAllConnections(); srv.close(); },
  };
}

function claimsAt(nowSec, edit = () => {}) {
  const c = {
    iss: issuer, aud: audience, client_id: audience, sub: "zoe", sid: "ses_zero_" + crypto.randomUUID(),
    jti: crypto.randomUUID(), iat: nowSec, exp: nowSec + 300, auth_time: nowSec, sess_exp: nowSec + 3600, sst: "hybrid",
  };
  edit(c);
  return c;
}

// withFake runs check with a fake sessiond f, a clock and start, which
// starts a verifier on f with opts (now: the clock's time), and closes
// them all once check ends.
async function withFake(opts, check) {
  const f = await fake();
  const clock = { ms: Date.now() };
  const verifiers = [];
  const start = async () => {
    const v = await createVerifier({ url: f.url, apiKey, issuer, audience, logger: quiet, now: () => clock.ms, ...opts });
    verifiers.push(v);
    return v;
  };
  try {
    await check(f, start, clock);
  } finally {
    for (const v of verifiers) await v.close();
    f.close();
  }
}

// checksOfTwo verifies token twice with v, both ok, and returns how many
// signature checks (crypto.subtle.verify) that took: 1 with a cache.
async function checksOfTwo(v, token) {
  const subtle = globalThis.crypto.subtle;
  const real = subtle.verify;
  let checks = 0;
  subtle.verify = function (...args) { checks++; return real.apply(subtle, args); };
  try {
    assert.equal(await code(v.verify(token)), "ok");
    assert.equal(await code(v.verify(token)), "ok");
  } finally {
    subtle.verify = real;
  }
  return checks;
}

// Each case starts a verifier with the option at 0 (clock: the test's,
// when the case moves it) and checks what the default gives.
for (const [option, check] of [
  ["requestTimeoutMs", async (f, start) => {
    // 0 ms for the JWKS's answer: the verifier could not start.
    const v = await start();
    assert.equal(v.status().snapshots, 1);
  }],
  ["idleTimeoutMs", async (f, start) => {
    // Dropped at once: the stream never stayed connected.
    const v = await start();
    await eventually("stream connected", () => v.status().connected);
    assert.equal(f.calls.stream, 1);
  }],
  ["maxStalenessMs", async (f, start, clock) => {
    const v = await start();
    await eventually("stream connected", () => v.status().connected);
    clock.ms += 1000; // a second after the last heartbeat: current with the default 30 s
    assert.equal(v.status().stale, false, "stale a second after the heartbeat");
  }],
  ["minRefetchIntervalMs", async (f, start, clock) => {
    const v = await start();
    const unknown = () => f.sign(claimsAt(Math.floor(clock.ms / 1000)), { alg: "EdDSA", typ: "at+jwt", kid: "not-in-the-jwks" });
    for (let i = 0; i < 3; i++) assert.equal(await code(v.verify(unknown())), "invalid_token");
    // The clock has not moved: within the default second of the first fetch.
    assert.equal(f.calls.jwks, 1, "JWKS fetched for every token of an unknown kid");
  }],
  ["leewaySeconds", async (f, start, clock) => {
    const v = await start();
    const now = Math.floor(clock.ms / 1000);
    const expired = f.sign(claimsAt(now, (c) => { c.iat = now - 300; c.exp = now - 2; }));
    assert.equal(await code(v.verify(expired)), "ok", "expired 2 s ago, within the default 5 s");
  }],
  ["cacheSize", async (f, start, clock) => {
    const v = await start();
    const token = f.sign(claimsAt(Math.floor(clock.ms / 1000)));
    assert.equal(await checksOfTwo(v, token), 1, "the signature was checked again: no cache");
  }],
]) {
  test(`${option}: 0 takes the default, as in the Go verifier`, () => withFake({ [option]: 0 }, check));
}

test("cacheSize: a negative one keeps no cache; one that is no whole number is refused", () => withFake({ cacheSize: -1 }, async (f, start, clock) => {
  const v = await start();
  const token = f.sign(claimsAt(Math.floor(clock.ms / 1000)));
  assert.equal(await checksOfTwo(v, token), 2, "cacheSize -1 cached a token");
  // NaN (a Number() of a mistyped variable) and Infinity never evicted: a
  // cache growing with every distinct token.
  for (const bad of [NaN, Infinity, 1.5, "100"]) {
    assert.throws(() => new Verifier({ url: f.url, apiKey, issuer, audience, cacheSize: bad }), TypeError, String(bad));
  }
}));

// A sessiond down at start: createVerifier fails with an Error that says
// what it was fetching and keeps the cause; a TypeError is a bad option
// (fetch's own "fetch failed" is one).
test("sessiond not reachable at start: an Error naming the JWKS, not a TypeError", async () => {
  const srv = http.createServer();
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  const down = `http://127.0.0.1:${srv.address().port}`;
  await new Promise((r) => srv.close(r));
  await assert.rejects(createVerifier({ url: down, apiKey, issuer, audience, logger: quiet }), (e) => {
    assert.ok(!(e instanceof TypeError), `${e.name}: ${e.message}: a TypeError, as a bad option throws`);
    assert.match(e.message, /^jwks: /);
    assert.ok(e.cause, "the network error is not kept as the cause");
    return true;
  });
});

// Once started, a sessiond gone is logged with the reason fetch keeps in
// its cause ("connect ECONNREFUSED …"), not fetch's bare "fetch failed".
test("a stream that cannot connect is logged with the network error", () => {
  const lines = [];
  const logger = { warn: (m, a) => lines.push(`${m} ${JSON.stringify(a)}`), error: (m, a) => lines.push(`${m} ${JSON.stringify(a)}`) };
  return withFake({ logger }, async (f, start) => {
    const v = await start();
    await eventually("stream connected", () => v.status().connected);
    f.close();
    await eventually("a refused reconnection logged with its reason", () => lines.some((l) => l.includes("ECONNREFUSED")));
  });
});
