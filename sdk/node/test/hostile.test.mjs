// The Node verifier against hostile or odd input, as the Go verifier
// treats it: future iat, oversized answers, two Authorization headers,
// keep-alive comments, revocations at the edge of the leeway, other
// spellings of a token and claims the server refuses, a device-bound
// session's token, a key retired while a token of it is being checked. No
// real sessiond: a fake one in this process serves a JWKS of a key the
// test holds, an empty snapshot and a stream the test writes to.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import http from "node:http";
import net from "node:net";
import { createVerifier } from "../dist/index.js";
import { code, eventually } from "./helpers.mjs";

const apiKey = "sdak_probe_0123456789abcdefghijklmnopqrstu";
const issuer = "https://sessiond.probe";
const audience = "probe-app";
const kid = "probe-key";
const quiet = { warn() {}, error() {} };
const cursor = "evt_00363echpdok7iur29n13uses0";

const b64 = (b) => Buffer.from(b).toString("base64url");

async function listen(handler) {
  const srv = http.createServer(handler);
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  return { srv, url: `http://127.0.0.1:${srv.address().port}` };
}

// fakeSessiond: JWKS with the test's Ed25519 key (none once state.serveKey
// is false; state.jwksCalls counts the fetches), an empty snapshot, and a
// stream that starts with a heartbeat (with an id, as sessiond sends it);
// write() sends more to every open stream.
async function fakeSessiond({ jwks, revocations = [] } = {}) {
  const pair = crypto.generateKeyPairSync("ed25519");
  const jwk = { ...pair.publicKey.export({ format: "jwk" }), kid, alg: "EdDSA", use: "sig" };
  const streams = new Set();
  const state = { serveKey: true, jwksCalls: 0 };
  const s = await listen((req, res) => {
    switch (req.url) {
      case "/.well-known/jwks.json":
        state.jwksCalls++;
        if (jwks) return jwks(req, res);
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ keys: state.serveKey ? [jwk] : [] }));
        return;
      case "/v1/revocations/snapshot":
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ revocations, watermarks: [], cursor }));
        return;
      case "/v1/revocations/stream":
        res.writeHead(200, { "Content-Type": "text/event-stream" });
        res.write(`: heartbeat\nid: ${cursor}\n\n`);
        streams.add(res);
        res.on("close", () => streams.delete(res));
        return;
      default:
        res.writeHead(404).end();
    }
  });
  // signText signs payload, JSON text used as is; sign signs claims.
  const signText = (payload, header = { alg: "EdDSA", typ: "at+jwt", kid }) => {
    const input = `${b64(JSON.stringify(header))}.${b64(payload)}`;
    return `${input}.${b64(crypto.sign(null, Buffer.from(input), pair.privateKey))}`;
  };
  const sign = (claims, header) => signText(JSON.stringify(claims), header);
  return {
    url: s.url,
    streams,
    state,
    sign,
    signText,
    write: (text) => { for (const r of streams) r.write(text); },
    close: () => { s.srv.closeAllConnections(); s.srv.close(); },
  };
}

function claimsAt(nowSec, edit = () => {}) {
  const c = {
    iss: issuer, aud: audience, client_id: audience, sub: "mallory", sid: "ses_probe_" + crypto.randomUUID(),
    jti: crypto.randomUUID(), iat: nowSec, exp: nowSec + 300, auth_time: nowSec, sess_exp: nowSec + 3600, sst: "hybrid",
  };
  edit(c);
  return c;
}

// jose checks iat only with maxTokenAge; like Go (golang-jwt's
// WithIssuedAt) a token issued in the future is refused.
test("a token with iat in the future is refused (as the Go verifier does)", async () => {
  const fake = await fakeSessiond();
  const v = await createVerifier({ url: fake.url, apiKey, issuer, audience, logger: quiet });
  try {
    const now = Math.floor(Date.now() / 1000);
    assert.equal(await code(v.verify(fake.sign(claimsAt(now)))), "ok", "control: a current token");
    const future = fake.sign(claimsAt(now, (c) => { c.iat = now + 3600; c.exp = now + 3900; }));
    assert.equal(await code(v.verify(future)), "invalid_token", "iat an hour ahead was accepted");
  } finally {
    await v.close();
    fake.close();
  }
});

// The 1 MiB JWKS bound must stop the reading (snapshot.test.mjs: the snapshot's),
// as Go's LimitReader does, not be checked once the whole answer is in
// memory. The fake JWKS sends 64 MiB with backpressure and counts what it
// got rid of before the client hung up.
test("the JWKS read stops at its size limit", async () => {
  const total = 64 << 20, chunk = Buffer.alloc(64 << 10, 0x20);
  let sent = 0;
  let done;
  const finished = new Promise((r) => { done = r; });
  const fake = await fakeSessiond({
    jwks: async (req, res) => {
      res.on("close", () => done(sent));
      res.writeHead(200, { "Content-Type": "application/json" });
      res.write('{"keys":[');
      while (sent < total && !res.destroyed) {
        sent += chunk.length;
        if (!res.write(chunk)) await new Promise((r) => { res.once("drain", r); res.once("close", r); });
      }
      if (!res.destroyed) res.end("]}");
    },
  });
  try {
    await assert.rejects(createVerifier({ url: fake.url, apiKey, issuer, audience, logger: quiet }), /over/);
    const got = await finished;
    assert.ok(got < total / 2, `the client read ${got >> 20} MiB of a JWKS limited to 1 MiB before giving up`);
  } finally {
    fake.close();
  }
});

// A proxy in front and this app could each read a different one of two
// Authorization headers; Node's req.headers keeps only the first.
test("the middleware refuses two Authorization headers (as Go's does)", async () => {
  const fake = await fakeSessiond();
  const v = await createVerifier({ url: fake.url, apiKey, issuer, audience, logger: quiet });
  const mw = v.middleware();
  const app = await listen((req, res) => mw(req, res, () => { res.statusCode = 200; res.end("in"); }));
  const raw = (headers) =>
    new Promise((resolve, reject) => {
      const sock = net.connect(app.srv.address().port, "127.0.0.1");
      let out = "";
      sock.on("data", (d) => { out += d; });
      sock.on("end", () => resolve(Number(out.split(" ")[1])));
      sock.on("error", reject);
      sock.write(`GET /api HTTP/1.1\r\nHost: api.test\r\n${headers.join("\r\n")}\r\nConnection: close\r\n\r\n`);
    });
  try {
    const token = fake.sign(claimsAt(Math.floor(Date.now() / 1000)));
    assert.equal(await raw([`Authorization: Bearer ${token}`]), 200, "control: one header");
    assert.equal(await raw([`Authorization: Bearer ${token}`, "Authorization: Bearer someone-elses-token"]), 401,
      "two Authorization headers were admitted on the first");
  } finally {
    await v.close();
    app.srv.closeAllConnections();
    app.srv.close();
    fake.close();
  }
});

// The Go verifier answers a token bound to a DPoP key (cnf.jkt), sent as
// Bearer, with 401 and a DPoP challenge (docs/verifier.md); this one, which
// checks no proofs, answers it so too, and the DPoP scheme likewise, with
// a body that says to check such tokens elsewhere: never "an access token
// is required" under a Bearer challenge, which sent its client looking for
// a token it had. The DPoP scheme is checked in Go's order: exactly one
// proof, then the token, then the binding.
test("the middleware answers a DPoP-bound token as the Go verifier does, saying it checks no proofs", async () => {
  const fake = await fakeSessiond();
  const v = await createVerifier({ url: fake.url, apiKey, issuer, audience, logger: quiet });
  const mw = v.middleware();
  const app = await listen((req, res) => mw(req, res, () => { res.statusCode = 200; res.end("in"); }));
  const now = Math.floor(Date.now() / 1000);
  const bound = fake.sign(claimsAt(now, (c) => { c.cnf = { jkt: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" }; }));
  const plain = fake.sign(claimsAt(now));
  const dpopChallenge = /^DPoP realm="api", error="invalid_token", algs="[^"]*ES256[^"]*"$/;
  const says = /does not check DPoP proofs.*Go verifier.*POST \/v1\/sessions\/verify/;
  const cases = [
    { name: "bound token as Bearer", headers: { Authorization: `Bearer ${bound}` }, status: 401, challenge: dpopChallenge, body: says },
    { name: "bound token as DPoP with a proof", headers: { Authorization: `DPoP ${bound}`, DPoP: "eyJ.any.proof" }, status: 401, challenge: dpopChallenge, body: says },
    // As Go's: exactly one proof first, before the token is looked at.
    { name: "bound token as DPoP without a proof", headers: { Authorization: `dpop ${bound}` }, status: 401,
      challenge: /^DPoP realm="api", error="invalid_dpop_proof", algs="[^"]*ES256[^"]*"$/, body: /^exactly one DPoP proof is required$/ },
    { name: "a bad token as DPoP", headers: { Authorization: "DPoP x.y.z", DPoP: "eyJ.any.proof" }, status: 401, challenge: dpopChallenge, body: /^the access token is not valid$/ },
    // As Go's: an unbound token sent as DPoP is refused with the DPoP
    // challenge, and not told it is bound.
    { name: "unbound token as DPoP", headers: { Authorization: `DPoP ${plain}`, DPoP: "eyJ.any.proof" }, status: 401, challenge: dpopChallenge, body: /^the access token is not valid$/ },
    // Unchanged.
    { name: "unbound token as Bearer", headers: { Authorization: `Bearer ${plain}` }, status: 200, challenge: null, body: /^in$/ },
    { name: "no token", headers: {}, status: 401, challenge: /^Bearer realm="api", DPoP realm="api", algs="[^"]*ES256[^"]*"$/, body: /^an access token is required$/ },
    { name: "a bad token as Bearer", headers: { Authorization: "Bearer x.y.z" }, status: 401, challenge: /^Bearer realm="api", error="invalid_token"$/, body: /^the access token is not valid$/ },
  ];
  try {
    for (const c of cases) {
      const res = await fetch(app.url, { headers: c.headers });
      const body = await res.text();
      assert.equal(res.status, c.status, `${c.name}: status (body ${body})`);
      const got = res.headers.get("www-authenticate");
      if (c.challenge) assert.match(got ?? "", c.challenge, `${c.name}: WWW-Authenticate`);
      else assert.equal(got, null, `${c.name}: WWW-Authenticate`);
      assert.match(body, c.body, `${c.name}: body`);
    }
  } finally {
    await v.close();
    app.srv.closeAllConnections();
    app.srv.close();
    fake.close();
  }
});

// While the revocation state is stale (whenStale "reject"), the Go
// verifier's middleware answers 503 with Retry-After for every token it
// would check further, bound or not, Bearer or DPoP: a bound token may be
// revoked without the verifier knowing, and its client is to retry, not to
// sign in (verifier/dpop_test.go's TestVerifier_DPoPMiddlewareStale). This
// one answered the DPoP scheme, and a bound token as Bearer, 401 at once.
// As Go's, a DPoP request without exactly one proof, and a token that does
// not verify, are still 401.
test("the middleware answers 503 while stale for bound tokens and the DPoP scheme too, as Go's", async () => {
  const fake = await fakeSessiond();
  let now = Date.now();
  const v = await createVerifier({ url: fake.url, apiKey, issuer, audience, logger: quiet, now: () => now });
  const mw = v.middleware();
  const app = await listen((req, res) => mw(req, res, () => { res.statusCode = 200; res.end("in"); }));
  const nowSec = Math.floor(now / 1000);
  const bound = fake.sign(claimsAt(nowSec, (c) => { c.cnf = { jkt: "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" }; }));
  const plain = fake.sign(claimsAt(nowSec));
  const dpopChallenge = (err) => new RegExp(`^DPoP realm="api", error="${err}", algs="[^"]*ES256[^"]*"$`);
  const cases = [
    { name: "bound token as DPoP with a proof", headers: { Authorization: `DPoP ${bound}`, DPoP: "eyJ.any.proof" }, status: 503 },
    { name: "bound token as Bearer", headers: { Authorization: `Bearer ${bound}` }, status: 503 },
    { name: "unbound token as DPoP", headers: { Authorization: `DPoP ${plain}`, DPoP: "eyJ.any.proof" }, status: 503 },
    { name: "unbound token as Bearer", headers: { Authorization: `Bearer ${plain}` }, status: 503 },
    { name: "bound token as DPoP without a proof", headers: { Authorization: `DPoP ${bound}` }, status: 401, challenge: dpopChallenge("invalid_dpop_proof") },
    { name: "a bad token as DPoP", headers: { Authorization: "DPoP x.y.z", DPoP: "eyJ.any.proof" }, status: 401, challenge: dpopChallenge("invalid_token") },
  ];
  try {
    await eventually("stream connected", () => v.status().connected && !v.status().stale);
    const fresh = await fetch(app.url, { headers: { Authorization: `DPoP ${bound}`, DPoP: "eyJ.any.proof" } });
    assert.equal(fresh.status, 401, `control, fresh: a bound token as DPoP (body ${await fresh.text()})`);
    now += 60_000; // past maxStalenessMs (30 s) with no heartbeat
    assert.equal(await code(v.verify(bound)), "stale", "verify(bound token) while stale");
    for (const c of cases) {
      const res = await fetch(app.url, { headers: c.headers });
      const body = await res.text();
      assert.equal(res.status, c.status, `${c.name}: status (body ${body})`);
      assert.equal(res.headers.get("retry-after"), c.status === 503 ? "5" : null, `${c.name}: Retry-After`);
      if (c.challenge) assert.match(res.headers.get("www-authenticate") ?? "", c.challenge, `${c.name}: WWW-Authenticate`);
    }
  } finally {
    await v.close();
    app.srv.closeAllConnections();
    app.srv.close();
    fake.close();
  }
});

// Staleness measures sessiond's heartbeat, which always carries a cursor:
// a keep-alive comment a proxy injects must not keep a stuck stream fresh
// under whenStale "reject".
test("an id-less comment does not mark the revocation state current", async () => {
  const fake = await fakeSessiond();
  let now = Date.now();
  const v = await createVerifier({ url: fake.url, apiKey, issuer, audience, logger: quiet, now: () => now });
  try {
    await eventually("stream connected", () => v.status().connected && fake.streams.size > 0);
    const token = fake.sign(claimsAt(Math.floor(now / 1000)));
    assert.equal(await code(v.verify(token)), "ok", "control: fresh");
    now += 60_000; // past maxStalenessMs (30 s) with no heartbeat
    assert.equal(await code(v.verify(token)), "stale", "control: stale without heartbeats");
    // A keep-alive comment, then an event that shows it was read.
    const until = new Date(now + 3_600_000).toISOString();
    fake.write(": keep-alive\n\n");
    fake.write(`event: revoked\nid: ${cursor}.2\ndata: ${JSON.stringify({ session_id: "sentinel", subject: "x", until })}\n\n`);
    await eventually("sentinel applied", () => v.status().revoked === 1);
    assert.equal(await code(v.verify(token)), "stale", "an id-less comment counted as the server's heartbeat");
  } finally {
    await v.close();
    fake.close();
  }
});

// sessiond computes a revocation's until with its own leeway, but verify()
// accepts a token up to leewaySeconds past exp and sess_exp: the entry is
// kept that much longer.
test("a revoked session stays revoked while its token is inside the verifier's leeway", async () => {
  let now = Date.now();
  const nowSec = Math.floor(now / 1000);
  const sid = "ses_probe_leeway";
  const exp = nowSec + 10; // the session ends with its token
  const until = new Date((exp + 5 + 1) * 1000).toISOString(); // sessiond's horizon with jwt.leeway 5 s
  const fake = await fakeSessiond({ revocations: [{ session_id: sid, subject: "mallory", revoked_at: new Date(now).toISOString(), reason: "logout", until }] });
  const v = await createVerifier({ url: fake.url, apiKey, issuer, audience, logger: quiet, now: () => now, leewaySeconds: 60, maxStalenessMs: 3_600_000 });
  try {
    await eventually("stream connected", () => v.status().connected && fake.streams.size > 0);
    const token = fake.sign(claimsAt(nowSec, (c) => { c.sid = sid; c.exp = exp; c.sess_exp = exp; }));
    assert.equal(await code(v.verify(token)), "revoked", "control: revoked from the snapshot");
    const sentinel = fake.sign(claimsAt(nowSec, (c) => { c.sid = "sentinel"; }));
    now = (exp + 55) * 1000; // past until, inside exp + 60 s
    const far = new Date(now + 3_600_000).toISOString();
    fake.write(`event: revoked\nid: ${cursor}.2\ndata: ${JSON.stringify({ session_id: "sentinel", subject: "x", until: far })}\n\n`);
    // apply() prunes in the same call that applies the sentinel: once its
    // token is revoked, the prune has run.
    await eventually("sentinel applied", async () => (await code(v.verify(sentinel))) === "revoked");
    assert.equal(await code(v.verify(token)), "revoked", "the revoked session's token verified again inside the leeway");
  } finally {
    await v.close();
    fake.close();
  }
});

// What sessiond's codec refuses (docs/jwt.md), the verifier refuses too:
// another spelling of a token (jose decodes with atob on Node 20, which
// skips whitespace and padding and ignores trailing bits), times that are
// not whole-second integers in the JSON text (JSON.parse reads 1.0 as 1),
// a typ in another case (jose compares typ case-insensitively), no
// sess_exp, exp before iat. And a device-bound (DBSC) browser session's
// token, which the server's introspection answers inactive: only the
// gateway, which sees its bound cookie, can tell the browser from a thief.
test("spellings and claims the server refuses, and a device-bound session's token, are invalid_token", async () => {
  const fake = await fakeSessiond();
  const v = await createVerifier({ url: fake.url, apiKey, issuer, audience, logger: quiet });
  try {
    const now = Math.floor(Date.now() / 1000);
    const tok = fake.sign(claimsAt(now));
    const at = tok.lastIndexOf(".") + 10; // inside the signature
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const flipped = tok.slice(0, -1) + alphabet[alphabet.indexOf(tok.at(-1)) ^ 1]; // same bytes, another text
    const text = (edit) => JSON.stringify(claimsAt(now)).replace(/"(iat|exp)":(\d+)/g, edit);
    const wrong = [];
    const binding = { id: "dbsc-session-1", jkt: "A".repeat(43), jwk: { kty: "EC", crv: "P-256", x: "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", y: "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0" } };
    for (const [name, token, want] of [
      ["control: the token", tok, "ok"],
      ["control: typ application/at+jwt", fake.sign(claimsAt(now), { alg: "EdDSA", typ: "application/at+jwt", kid }), "ok"],
      ["control: custom claims that name dbsc", fake.sign(claimsAt(now, (c) => { c.ext = { feature: "dbsc", app: { dbsc: binding } }; })), "ok"],
      ["signature: non-zero trailing bits", flipped, "invalid_token"],
      ["signature: padding", tok + "==", "invalid_token"],
      ["signature: a space inside", tok.slice(0, at) + " " + tok.slice(at), "invalid_token"],
      ["signature: a tab inside", tok.slice(0, at) + "\t" + tok.slice(at), "invalid_token"],
      ["signature: LF inside", tok.slice(0, at) + "\n" + tok.slice(at), "invalid_token"],
      ["signature: CRLF inside", tok.slice(0, at) + "\r\n" + tok.slice(at), "invalid_token"],
      ["a fourth segment", tok + ".e30", "invalid_token"],
      ["iat as a float", fake.signText(text((m, n, d) => (n === "iat" ? `"iat":${d}.0` : m))), "invalid_token"],
      ["exp in exponent form", fake.signText(text((m, n, d) => (n === "exp" ? `"exp":${d}e0` : m))), "invalid_token"],
      ["IAT as a float besides iat", fake.signText(text((m) => m).replace(/}$/, `,"IAT":${now}.0}`)), "invalid_token"],
      ["typ AT+JWT", fake.sign(claimsAt(now), { alg: "EdDSA", typ: "AT+JWT", kid }), "invalid_token"],
      ["typ Application/at+jwt", fake.sign(claimsAt(now), { alg: "EdDSA", typ: "Application/at+jwt", kid }), "invalid_token"],
      ["sess_exp missing", fake.sign(claimsAt(now, (c) => { delete c.sess_exp; })), "invalid_token"],
      ["exp before iat", fake.sign(claimsAt(now, (c) => { c.exp = now - 2; })), "invalid_token"],
      ["a device-bound (DBSC) session's token", fake.sign(claimsAt(now, (c) => { c.ext = { plan: "pro", dbsc: binding }; })), "invalid_token"],
    ]) {
      for (const when of ["", ", again (cached?)"]) {
        const got = await code(v.verify(token));
        if (got !== want) wrong.push(`${name}${when}: ${got}, want ${want}`);
      }
    }
    assert.deepEqual(wrong, []);
  } finally {
    await v.close();
    fake.close();
  }
});

// holdSignatureCheck makes the next signature check (crypto.subtle.verify,
// which jose calls) wait until release(); entered resolves once it waits.
// restore() puts the real function back.
function holdSignatureCheck() {
  const subtle = globalThis.crypto.subtle;
  const real = subtle.verify;
  let release, enter;
  const gate = new Promise((r) => { release = r; });
  const entered = new Promise((r) => { enter = r; });
  subtle.verify = async function (...args) {
    subtle.verify = real;
    enter();
    await gate;
    return real.apply(subtle, args);
  };
  return { entered, release, restore: () => { subtle.verify = real; } };
}

// The kill switch ends every token of a retired key, also one whose
// signature check was under way when the key went: its answer is not
// cached after the purge, and a cached token's key is checked on every
// hit (the Go verifier counts purges the same way, verifier/cache.go). The
// key goes by key_retired on the stream, or by a JWKS fetched meanwhile
// that lists it no more. Held at crypto.subtle.verify, so the order is
// fixed.
for (const [how, retire] of [
  ["key_retired on the stream", async (fake) => {
    const calls = fake.state.jwksCalls;
    fake.write(`event: key_retired\nid: ${cursor}.2\ndata: ${JSON.stringify({ kid })}\n\n`);
    // key_retired makes the verifier fetch the JWKS: the event is applied.
    await eventually("key_retired applied", () => fake.state.jwksCalls > calls);
  }],
  ["a JWKS fetched meanwhile without the key", async (fake, v) => {
    // A token of an unknown kid makes the verifier fetch the JWKS now.
    const other = fake.sign(claimsAt(Math.floor(Date.now() / 1000)), { alg: "EdDSA", typ: "at+jwt", kid: "another-key" });
    assert.equal(await code(v.verify(other)), "invalid_token");
  }],
]) {
  test(`a token whose signature check overlaps its key's retirement does not verify after it (${how})`, async () => {
    const fake = await fakeSessiond();
    const v = await createVerifier({ url: fake.url, apiKey, issuer, audience, logger: quiet, minRefetchIntervalMs: 1 });
    const hold = holdSignatureCheck();
    try {
      await eventually("stream connected", () => v.status().connected && fake.streams.size > 0);
      const token = fake.sign(claimsAt(Math.floor(Date.now() / 1000)));
      const first = code(v.verify(token)); // the check starts, then waits
      await hold.entered;
      fake.state.serveKey = false;
      await retire(fake, v);
      hold.release();
      await first; // began before the retirement: either answer is defensible
      assert.equal(await code(v.verify(token)), "invalid_token",
        "the token verified after its key was retired: the check under way was cached after the purge");
    } finally {
      hold.restore();
      await v.close();
      fake.close();
    }
  });
}

// The same overlap, with the key back before the check ends (a JWKS
// fetched meanwhile without it, then one with it again): the key is
// valid, but the answer of the check that straddled the purge must not be
// remembered, so the token's next verify checks its signature again.
test("the answer of a signature check that overlapped a cache purge is not cached", async () => {
  const fake = await fakeSessiond();
  const v = await createVerifier({ url: fake.url, apiKey, issuer, audience, logger: quiet, minRefetchIntervalMs: 1 });
  const subtle = globalThis.crypto.subtle;
  const real = subtle.verify;
  const hold = holdSignatureCheck();
  try {
    const now = Math.floor(Date.now() / 1000);
    const token = fake.sign(claimsAt(now));
    const unknownKid = () => fake.sign(claimsAt(now), { alg: "EdDSA", typ: "at+jwt", kid: "another-key" });
    const first = code(v.verify(token));
    await hold.entered;
    fake.state.serveKey = false;
    assert.equal(await code(v.verify(unknownKid())), "invalid_token"); // fetches the JWKS: the key goes, the cache is purged
    fake.state.serveKey = true;
    assert.equal(await code(v.verify(unknownKid())), "invalid_token"); // fetches it again: the key is back
    hold.release();
    assert.equal(await first, "ok");
    let checks = 0;
    subtle.verify = function (...args) {
      checks++;
      return real.apply(subtle, args);
    };
    assert.equal(await code(v.verify(token)), "ok");
    assert.equal(checks, 1, "the token skipped its signature check: the answer given across the purge was cached");
  } finally {
    hold.restore();
    subtle.verify = real;
    await v.close();
    fake.close();
  }
});

// The Go verifier reads times as RFC 3339 (encoding/json); Date.parse also
// takes a year alone, words, or no zone (local time). Both verifiers must
// apply the same revocations, so such a time is unreadable here too.
test("a revocation time that is not RFC 3339 is unreadable (as in Go)", async () => {
  for (const until of ["2099", "2099-01-01T00:00:00", "Jan 1 2099", "2099-01-01t00:00:00z", "2099-01-01 00:00:00Z"]) {
    const fake = await fakeSessiond();
    const errors = [];
    const logger = { warn() {}, error: (m) => errors.push(m) };
    const v = await createVerifier({ url: fake.url, apiKey, issuer, audience, logger });
    try {
      await eventually("stream connected", () => v.status().connected && fake.streams.size > 0);
      fake.write(`event: revoked\nid: ${cursor}.2\ndata: ${JSON.stringify({ session_id: "s1", subject: "x", until })}\n\n`);
      await eventually(`${until}: an answer`, () => errors.length > 0 || v.status().revoked > 0);
      assert.equal(v.status().revoked, 0, `${until}: applied`);
      assert.match(errors[0], /unreadable revocation stream/, until);
    } finally {
      await v.close();
      fake.close();
    }
    const snap = await fakeSessiond({ revocations: [{ session_id: "s1", subject: "x", until }] });
    try {
      await assert.rejects(createVerifier({ url: snap.url, apiKey, issuer, audience, logger: quiet }), /not a revocation snapshot/, `${until}: snapshot`);
    } finally {
      snap.close();
    }
  }
});

// Every cell of the middleware's answers against the Go middleware's
// (verifier/middleware.go, verifier/dpop_test.go): scheme (none, Bearer,
// DPoP) × token (bound, unbound, revoked bound, revoked unbound, bad) ×
// DPoP headers (0, 1, 2) × revocation state (fresh, stale). Go's order:
// no credentials; the DPoP scheme without exactly one proof; the token
// (a revoked or bad one is invalid_token under the scheme's challenge);
// staleness (503); then the binding. The one difference is documented
// (docs/verifier.md): a bound token, which Go would check the proof of or
// refuse as Bearer, is refused here with a body saying this verifier
// checks no proofs. Before, no credentials got one challenge where Go
// gives a Bearer and a DPoP one, and an unbound token sent as DPoP was
// told it is bound to a key.
test("the middleware answers every scheme, token, proof count and state as the Go middleware", async () => {
  let now = Date.now();
  const nowSec = Math.floor(now / 1000);
  const until = new Date(now + 3_600_000).toISOString();
  const revoked = (sid) => ({ session_id: sid, subject: "mallory", revoked_at: new Date(now).toISOString(), reason: "logout", until });
  const fake = await fakeSessiond({ revocations: [revoked("ses_revoked_bound"), revoked("ses_revoked_plain")] });
  const v = await createVerifier({ url: fake.url, apiKey, issuer, audience, logger: quiet, now: () => now });
  const mw = v.middleware();
  const app = await listen((req, res) => mw(req, res, () => { res.statusCode = 200; res.end("in"); }));
  const jkt = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
  const tokens = {
    bound: fake.sign(claimsAt(nowSec, (c) => { c.cnf = { jkt }; })),
    unbound: fake.sign(claimsAt(nowSec)),
    "revoked bound": fake.sign(claimsAt(nowSec, (c) => { c.cnf = { jkt }; c.sid = "ses_revoked_bound"; })),
    "revoked unbound": fake.sign(claimsAt(nowSec, (c) => { c.sid = "ses_revoked_plain"; })),
    bad: "x.y.z",
  };
  const algs = 'algs="ES256 ES384 ES512 RS256 RS384 RS512 PS256 PS384 PS512 EdDSA"';
  const dpop = (err) => `DPoP realm="api", error="${err}", ${algs}`;
  const says = /does not check DPoP proofs.*Go verifier.*POST \/v1\/sessions\/verify/;
  // What Go answers (the bound-token body aside, as above).
  const want = (scheme, token, proofs, stale) => {
    if (scheme === "none") return { status: 401, challenge: `Bearer realm="api", DPoP realm="api", ${algs}`, body: /^an access token is required\n?$/ };
    if (scheme === "DPoP" && proofs !== 1) return { status: 401, challenge: dpop("invalid_dpop_proof"), body: /^exactly one DPoP proof is required\n?$/ };
    if (token === "bad" || token.startsWith("revoked")) {
      return { status: 401, challenge: scheme === "DPoP" ? dpop("invalid_token") : 'Bearer realm="api", error="invalid_token"', body: /^the access token is not valid\n?$/ };
    }
    if (stale) return { status: 503, challenge: null, body: /^cannot check revocations right now\n?$/ };
    if (token === "bound") return { status: 401, challenge: dpop("invalid_token"), body: says };
    if (scheme === "DPoP") return { status: 401, challenge: dpop("invalid_token"), body: /^the access token is not valid\n?$/ };
    return { status: 200, challenge: null, body: /^in$/ };
  };
  try {
    await eventually("stream connected", () => v.status().connected && !v.status().stale);
    for (const stale of [false, true]) {
      if (stale) now += 60_000; // past maxStalenessMs (30 s) with no heartbeat
      for (const scheme of ["none", "Bearer", "DPoP"]) {
        for (const [name, token] of Object.entries(tokens)) {
          for (const proofs of [0, 1, 2]) {
            const headers = {};
            if (scheme !== "none") headers.Authorization = `${scheme} ${token}`;
            if (proofs > 0) headers.DPoP = Array.from({ length: proofs }, (_, i) => `eyJ.proof.${i}`);
            const cell = `${stale ? "stale" : "fresh"}, ${scheme}, ${name} token, ${proofs} DPoP headers`;
            const res = await rawGet(app.srv.address().port, headers);
            const w = want(scheme, name, proofs, stale);
            assert.equal(res.status, w.status, `${cell}: status (body ${res.body})`);
            assert.equal(res.challenge, w.challenge, `${cell}: WWW-Authenticate`);
            assert.equal(res.retryAfter, w.status === 503 ? "5" : null, `${cell}: Retry-After`);
            assert.match(res.body, w.body, `${cell}: body`);
          }
        }
      }
    }
  } finally {
    await v.close();
    app.srv.closeAllConnections();
    app.srv.close();
    fake.close();
  }
});

// rawGet sends a GET with headers (an array value on a line each, as two
// DPoP headers arrive) and returns the status, the WWW-Authenticate
// challenges joined by ", ", Retry-After and the body.
function rawGet(port, headers) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: "127.0.0.1", port, path: "/api", method: "GET", headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => { body += d; });
      res.on("end", () => {
        const challenges = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          if (res.rawHeaders[i].toLowerCase() === "www-authenticate") challenges.push(res.rawHeaders[i + 1]);
        }
        resolve({ status: res.statusCode, challenge: challenges.length ? challenges.join(", ") : null,
          retryAfter: res.headers["retry-after"] ?? null, body });
      });
    });
    req.on("error", reject);
    req.end();
  });
}
