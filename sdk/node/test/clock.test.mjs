// The verifier's clocks, as the Go verifier's stale_internal_test.go has
// them: how long ago the state was proven current, and the JWKS refetch
// rate limit, are measured on the monotonic clock (performance.now) when
// now is unset, not on Date.now, which NTP or a restored VM may step
// either way. No real sessiond: a fake one sends a single heartbeat, then
// keeps the stream silent, so nothing proves the state current again
// during a case. Date.now and performance.now are stubbed (and restored).
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import http from "node:http";
import { createVerifier } from "../dist/index.js";
import { code, eventually } from "./helpers.mjs";

const apiKey = "sdak_probe_0123456789abcdefghijklmnopqrstu";
const issuer = "https://sessiond.probe";
const audience = "probe-app";
const quiet = { warn() {}, error() {} };
const cursor = "evt_00363echpdok7iur29n13uses0";
const b64 = (b) => Buffer.from(b).toString("base64url");

// clocks replaces Date.now and performance.now with the real ones moved
// by wall and tick ms; restore puts the real ones back.
function clocks() {
  const realDate = Date.now;
  const realPerf = performance.now;
  const c = { wall: 0, tick: 0 };
  Date.now = () => realDate() + c.wall;
  performance.now = () => realPerf.call(performance) + c.tick;
  c.restore = () => {
    Date.now = realDate;
    performance.now = realPerf;
  };
  return c;
}

// fakeSessiond serves a JWKS of key k1 (and those added with
// addKey), an empty snapshot, and a stream that sends one heartbeat and
// then nothing.
async function fakeSessiond() {
  const keys = new Map();
  const addKey = (kid) => {
    const pair = crypto.generateKeyPairSync("ed25519");
    keys.set(kid, { pair, jwk: { ...pair.publicKey.export({ format: "jwk" }), kid, alg: "EdDSA", use: "sig" } });
  };
  addKey("k1");
  const state = { jwksCalls: 0 };
  const srv = http.createServer((req, res) => {
    switch (req.url) {
      case "/.well-known/jwks.json":
        state.jwksCalls++;
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ keys: [...keys.values()].map((k) => k.jwk) }));
        return;
      case "/v1/revocations/snapshot":
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ revocations: [], watermarks: [], cursor }));
        return;
      case "/v1/revocations/stream":
        res.writeHead(200, { "Content-Type": "text/event-stream" });
        res.write(`: heartbeat\nid: ${cursor}\n\n`);
        return;
      default:
        res.writeHead(404).end();
    }
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  // sign signs a token issued now (Date.now, as stubbed) with kid.
  const sign = (kid) => {
    const t = Math.floor(Date.now() / 1000);
    const claims = {
      iss: issuer, aud: audience, client_id: audience, sub: "mallory", sid: "ses_probe_" + crypto.randomUUID(),
      jti: crypto.randomUUID(), iat: t, exp: t + 300, auth_time: t, sess_exp: t + 3600, sst: "hybrid",
    };
    const input = `${b64(JSON.stringify({ alg: "EdDSA", typ: "at+jwt", kid }))}.${b64(JSON.stringify(claims))}`;
    return `${input}.${b64(crypto.sign(null, Buffer.from(input), keys.get(kid).pair.privateKey))}`;
  };
  return {
    url: `http://127.0.0.1:${srv.address().port}`,
    state,
    addKey,
    sign,
    close: () => { srv.closeAllConnections(); srv.close(); },
  };
}

test("staleness is measured on the monotonic clock, not Date.now", async (t) => {
  for (const tc of [
    { name: "fresh", wall: 1_000, tick: 1_000, want: "ok" },
    { name: "past maxStalenessMs", wall: 31_000, tick: 31_000, want: "stale" },
    { name: "wall stepped back, stream silent", wall: -600_000, tick: 31_000, want: "stale" },
    { name: "wall stepped forward", wall: 3_600_000, tick: 1_000, want: "ok" },
  ]) {
    await t.test(tc.name, async () => {
      const fake = await fakeSessiond();
      const c = clocks();
      try {
        const v = await createVerifier({ url: fake.url, apiKey, issuer, audience, logger: quiet, idleTimeoutMs: 3_600_000 });
        try {
          await eventually("the heartbeat", () => v.status().connected && !v.status().stale);
          c.wall += tc.wall;
          c.tick += tc.tick;
          assert.equal(v.status().stale, tc.want === "stale", `status().stale after the wall clock moved ${tc.wall} ms and ticks ${tc.tick} ms`);
          assert.equal(await code(v.verify(fake.sign("k1"))), tc.want, `verify after the wall clock moved ${tc.wall} ms and ticks ${tc.tick} ms`);
        } finally {
          await v.close();
        }
      } finally {
        c.restore();
        fake.close();
      }
    });
  }
});

// A wall clock stepped back must not hold off the JWKS refetch that lets a
// token of a newly published key through (Go's time.Since is monotonic).
test("the JWKS refetch rate limit is measured on the monotonic clock", async () => {
  const fake = await fakeSessiond();
  const c = clocks();
  try {
    const v = await createVerifier({ url: fake.url, apiKey, issuer, audience, logger: quiet, idleTimeoutMs: 3_600_000 });
    try {
      c.wall -= 600_000;
      c.tick += 2_000; // past minRefetchIntervalMs since the first fetch
      fake.addKey("k2");
      const calls = fake.state.jwksCalls;
      assert.equal(await code(v.verify(fake.sign("k2"))), "ok", "a token of a key published since the last fetch, the wall clock stepped back 10 min");
      assert.equal(fake.state.jwksCalls, calls + 1, "JWKS fetches on the unknown kid");
    } finally {
      await v.close();
    }
  } finally {
    c.restore();
    fake.close();
  }
});

// The minute between two stale warnings is on the monotonic clock too (the
// Go verifier's warnStale): a wall clock stepped back by N silenced the
// only sign that stale tokens are being accepted for N more, and the first
// warning must not wait for the process to be a minute old.
test("stale warnings are spaced on the monotonic clock", async () => {
  const fake = await fakeSessiond();
  const c = clocks();
  const warnings = [];
  const logger = { warn(msg) { if (msg.includes("stale")) warnings.push(msg); }, error() {} };
  try {
    const v = await createVerifier({ url: fake.url, apiKey, issuer, audience, logger, whenStale: "accept", idleTimeoutMs: 3_600_000 });
    try {
      await eventually("the heartbeat", () => v.status().connected && !v.status().stale);
      c.tick += 31_000;
      assert.equal(await code(v.verify(fake.sign("k1"))), "ok", "verify while stale (accept)");
      assert.equal(warnings.length, 1, "stale warnings once stale");
      c.wall -= 600_000;
      c.tick += 61_000;
      assert.equal(await code(v.verify(fake.sign("k1"))), "ok", "verify while stale (accept), a minute later");
      assert.equal(warnings.length, 2, "stale warnings a minute later, the wall clock stepped back 10 min");
    } finally {
      await v.close();
    }
  } finally {
    c.restore();
    fake.close();
  }
});
