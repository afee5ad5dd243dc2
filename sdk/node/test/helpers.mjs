// Helpers the verifier's tests share (not a test file: node --test runs
// only *.test.mjs).
import assert from "node:assert/strict";
import http from "node:http";
import { once } from "node:events";
import { VerifyError } from "../dist/index.js";

// The real `sessiond serve` the Go test (node_test.go) starts, and an API
// call to it.
export const url = process.env.SESSIOND_URL;
export const apiKey = process.env.SESSIOND_API_KEY;
export const issuer = process.env.SESSIOND_ISSUER;
export const audience = process.env.SESSIOND_AUDIENCE;
export const skip = !url && "SESSIOND_URL is not set (node_test.go sets it)";
export const quiet = { warn() {}, error() {} };

export async function api(method, path, body) {
  const res = await fetch(url + path, {
    method,
    headers: { Authorization: `Bearer ${apiKey}`, "Content-Type": "application/json" },
    body: body ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

// eventually waits up to 10 s for cond (a bound on waiting, not a measurement).
export async function eventually(what, cond) {
  const deadline = Date.now() + 10_000;
  while (!(await cond())) {
    if (Date.now() > deadline) assert.fail(`${what}: not within 10s`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

// code is "ok" when p resolves, else the VerifyError code it rejects with.
export async function code(p) {
  try {
    await p;
    return "ok";
  } catch (e) {
    if (e instanceof VerifyError) return e.code;
    throw e;
  }
}

// cursorAt is the stream cursor of time ms (stream.CursorAt in Go): the
// time in µs and 64 zero bits, in 26 characters of base32hex.
export function cursorAt(ms) {
  const bits = ((BigInt(ms) * 1000n) << 64n) << 2n; // 26 characters carry 130 bits
  let s = "";
  for (let i = 25; i >= 0; i--) s += "0123456789abcdefghijklmnopqrstuv"[Number((bits >> BigInt(5 * i)) & 31n)];
  return "evt_" + s;
}

// fakeStream is a sessiond with an empty JWKS, an empty snapshot at
// cursor and a stream that stream(req, res, n) answers (n counts the
// stream requests from 1). No token verifies against it: for following
// the stream only.
export async function fakeStream(cursor, stream) {
  let n = 0;
  const srv = http.createServer((req, res) => {
    switch (req.url) {
      case "/.well-known/jwks.json":
        return void res.writeHead(200, { "Content-Type": "application/json" }).end('{"keys":[]}');
      case "/v1/revocations/snapshot":
        return void res.writeHead(200, { "Content-Type": "application/json" }).end(JSON.stringify({ revocations: [], watermarks: [], cursor }));
      case "/v1/revocations/stream":
        return void stream(req, res, ++n);
      default:
        res.writeHead(404).end();
    }
  });
  await new Promise((r) => srv.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${srv.address().port}`,
    close: () => { srv.closeAllConnections(); srv.close(); },
  };
}

// fakeSnapshot is a sessiond whose JWKS is empty, whose stream only
// sends a heartbeat, and whose snapshot snap(req, res) answers;
// accept lists the Accept-Encoding of the snapshot requests.
export async function fakeSnapshot(snap, cursor = cursorAt(Date.now())) {
  const accept = [];
  const srv = http.createServer((req, res) => {
    switch (req.url) {
      case "/.well-known/jwks.json":
        res.writeHead(200, { "Content-Type": "application/json" }).end('{"keys":[]}');
        return;
      case "/v1/revocations/snapshot":
        accept.push(req.headers["accept-encoding"] ?? "");
        snap(req, res);
        return;
      case "/v1/revocations/stream":
        res.writeHead(200, { "Content-Type": "text/event-stream" });
        res.write(`: heartbeat\nid: ${cursor}\n\n`);
        return;
      default:
        res.writeHead(404).end();
    }
  });
  srv.listen(0, "127.0.0.1");
  await once(srv, "listening");
  return { url: `http://127.0.0.1:${srv.address().port}`, accept, close: () => { srv.closeAllConnections(); srv.close(); } };
}
