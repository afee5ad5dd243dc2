// The verifier accepts access tokens only, and no key but the JWKS's:
// refresh tokens and other JWTs signed by a trusted key, headers naming
// keys or extensions (jku, jwk, x5c, x5u, crit) and an alg that is not the
// kid's are invalid_token, and nothing a header points to is fetched.
// Runs against a real `sessiond serve` whose URL and API key the Go test
// (node_test.go) passes in SESSIOND_URL and SESSIOND_API_KEY.
import { test } from "node:test";
import assert from "node:assert/strict";
import crypto from "node:crypto";
import http from "node:http";
import { createVerifier, VerifyError } from "../dist/index.js";
import { api, apiKey, audience, issuer, quiet, skip, url } from "./helpers.mjs";

async function code(p) {
  try {
    await p;
    return "ok";
  } catch (e) {
    if (e instanceof VerifyError) return e.code;
    throw e;
  }
}

const b64 = (b) => Buffer.from(b).toString("base64url");

// sign returns payload (JSON bytes, used as is) under header, signed with
// key by alg, as a compact JWS: a header exactly as the test writes it.
function sign(alg, key, header, payload) {
  const input = `${b64(JSON.stringify(header))}.${b64(payload)}`;
  const data = Buffer.from(input);
  const sig = {
    EdDSA: () => crypto.sign(null, data, key),
    ES256: () => crypto.sign("sha256", data, { key, dsaEncoding: "ieee-p1363" }),
    HS256: () => crypto.createHmac("sha256", key).update(data).digest(),
  }[alg]();
  return `${input}.${b64(sig)}`;
}

async function listen(handler) {
  const srv = http.createServer(handler);
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  return { srv, url: `http://127.0.0.1:${srv.address().port}` };
}

function shut(srv) {
  srv.closeAllConnections();
  srv.close();
}

const cursor = "evt_00363echpdok7iur29n13uses0";

// A sessiond for the verifier to follow: its JWKS is the real server's
// (every key it has listed, so a rotation elsewhere cannot pull the real
// token's key away) plus a key the test holds, which the verifier must
// trust as it trusts sessiond's own; its revocation state is its own and
// empty (other test files revoke everything on the real server meanwhile).
async function sessiondWithTestKey(testJWK) {
  const seen = new Map();
  const streams = new Set();
  const s = await listen(async (req, res) => {
    switch (req.url) {
      case "/.well-known/jwks.json": {
        const up = await (await fetch(url + req.url)).json();
        for (const k of up.keys) seen.set(k.kid, k);
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ keys: [...seen.values(), testJWK] }));
        return;
      }
      case "/v1/revocations/snapshot":
        res.writeHead(200, { "Content-Type": "application/json" });
        res.end(JSON.stringify({ revocations: [], watermarks: [], cursor }));
        return;
      case "/v1/revocations/stream": {
        res.writeHead(200, { "Content-Type": "text/event-stream" });
        const beat = () => res.write(": heartbeat\n\n");
        beat();
        const t = setInterval(beat, 1000);
        streams.add(t);
        res.on("close", () => clearInterval(t));
        return;
      }
      default:
        res.writeHead(404).end();
    }
  });
  return { ...s, close: () => { for (const t of streams) clearInterval(t); shut(s.srv); } };
}

test("only access tokens, and only the JWKS's keys, are accepted (JOSE header and typ)", { skip }, async (t) => {
  const trusted = crypto.generateKeyPairSync("ed25519");
  const kid = "header-test-key";
  const trustedJWK = { ...trusted.publicKey.export({ format: "jwk" }), kid, alg: "EdDSA", use: "sig" };
  const attacker = crypto.generateKeyPairSync("ed25519");
  const attackerJWK = { ...attacker.publicKey.export({ format: "jwk" }), kid: "attacker", alg: "EdDSA", use: "sig" };
  const attackerP256 = crypto.generateKeyPairSync("ec", { namedCurve: "P-256" });

  // The attacker's server, serving its key as a JWKS: it counts requests.
  let fetched = 0;
  const evil = await listen((req, res) => {
    fetched++;
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ keys: [attackerJWK] }));
  });
  const sessiond = await sessiondWithTestKey(trustedJWK);
  const v = await createVerifier({ url: sessiond.url, apiKey, issuer, audience, logger: quiet, minRefetchIntervalMs: 1 });
  try {
    const s = await api("POST", "/v1/sessions", { subject: "lena" });
    assert.equal(typeof s.refresh_token, "string");
    const claims = Buffer.from(s.access_token.split(".")[1], "base64url");
    const header = (edit = () => {}) => {
      const h = { alg: "EdDSA", kid, typ: "at+jwt" };
      edit(h);
      return h;
    };
    const resign = (edit) => sign("EdDSA", trusted.privateKey, header(edit), claims);
    const byAttacker = (h) => sign("EdDSA", attacker.privateKey, h, claims);
    const set = JSON.stringify({
      ...JSON.parse(claims),
      events: { "https://schemas.openid.net/secevent/caep/event-type/session-revoked": { subject: { format: "opaque", id: "lena" } } },
    });

    for (const [name, token, want] of [
      // Positive controls: the harness, the fake sessiond and the signing.
      ["control: the real access token", s.access_token, "ok"],
      ["control: its claims re-signed by the test key, same header", resign(), "ok"],
      ["control: typ application/at+jwt", resign((h) => { h.typ = "application/at+jwt"; }), "ok"],

      // Refresh tokens: the session's own (opaque in hybrid), and the
      // access claims as a JWT refresh token (typ rt+jwt).
      ["the session's refresh token", s.refresh_token, "invalid_token"],
      ["access claims as rt+jwt", resign((h) => { h.typ = "rt+jwt"; }), "invalid_token"],
      // Other or no typ.
      ["typ JWT", resign((h) => { h.typ = "JWT"; }), "invalid_token"],
      ["typ missing", resign((h) => { delete h.typ; }), "invalid_token"],
      // Headers naming keys or extensions.
      ["jku (trusted key)", resign((h) => { h.jku = `${evil.url}/jwks.json`; }), "invalid_token"],
      ["jku (attacker's key and kid)", byAttacker({ alg: "EdDSA", kid: "attacker", typ: "at+jwt", jku: `${evil.url}/jwks.json` }), "invalid_token"],
      ["jwk (attacker's key embedded, signed by it)", byAttacker({ alg: "EdDSA", kid, typ: "at+jwt", jwk: attackerJWK }), "invalid_token"],
      ["jwk (trusted key)", resign((h) => { h.jwk = attackerJWK; }), "invalid_token"],
      ["x5c", resign((h) => { h.x5c = [crypto.randomBytes(64).toString("base64")]; }), "invalid_token"],
      ["x5u", resign((h) => { h.x5u = `${evil.url}/cert.pem`; }), "invalid_token"],
      ["crit", resign((h) => { h.crit = ["exp"]; }), "invalid_token"],
      // Another kind of JWT a trusted key signs.
      ["SSF SET (secevent+jwt)", sign("EdDSA", trusted.privateKey, header((h) => { h.typ = "secevent+jwt"; }), set), "invalid_token"],
      // An alg other than the kid's.
      ["alg ES256 with the EdDSA kid", sign("ES256", attackerP256.privateKey, header((h) => { h.alg = "ES256"; }), claims), "invalid_token"],
      ["alg HS256 keyed with the public key", sign("HS256", Buffer.from(trustedJWK.x, "base64url"), header((h) => { h.alg = "HS256"; }), claims), "invalid_token"],
    ]) {
      await t.test(name, async () => {
        assert.equal(await code(v.verify(token)), want);
      });
    }
    assert.equal(fetched, 0, "the verifier fetched URLs that tokens' headers named");
  } finally {
    await v.close();
    sessiond.close();
    shut(evil.srv);
  }
});
