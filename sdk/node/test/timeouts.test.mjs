// requestTimeoutMs bounds the wait for the answer's headers and for each
// chunk of the body of the JWKS and the snapshot, not the whole transfer:
// a snapshot trickled over several times the timeout loads; one whose
// bytes stop for longer fails about the timeout later, saying so; so does
// a server that sends no headers (as the Go verifier's HTTPClient.Timeout).
import { before, test } from "node:test";
import assert from "node:assert/strict";
import { createVerifier } from "../dist/index.js";
import { quiet, cursorAt, fakeSnapshot } from "./helpers.mjs";

// Not shorter: on a loaded 2-core CI the fake server's JWKS answer alone
// once took over 200 ms, failing the verifier's start before the snapshot
// under test was asked for.
const timeout = 500;
const cursor = cursorAt(Date.now());
const snapshot = (n) => JSON.stringify({
  revocations: Array.from({ length: n }, (_, i) => ({ session_id: `slow-${i}`, subject: "kim", revoked_at: "2026-01-01T00:00:00Z",
    reason: "logout", until: "2099-01-01T00:00:00Z" })),
  watermarks: [], cursor,
}) + "\n";
const doc = snapshot(20);
// Large enough that at 2 KiB each twentieth of the timeout it takes over
// twice the timeout (white space could not be: the rest of the document
// without its entries is bounded to 64 KiB).
const trickledEntries = 1000;
const trickled = snapshot(trickledEntries);
assert.ok(trickled.length >= 2 * 20 * 2048, `the trickled snapshot is ${trickled.length} bytes`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The process's first fetch loads and compiles undici: under load that
// alone took over the timeout ("jwks: no answer for 500 ms"), before any
// of what is tested here.
before(async () => {
  const fake = await fakeSnapshot(() => {}, cursor);
  try {
    await (await fetch(`${fake.url}/.well-known/jwks.json`)).text();
  } finally {
    fake.close();
  }
});

// waitGone resolves when the client hangs up, or after ten timeouts.
const waitGone = (res) => Promise.race([new Promise((r) => res.on("close", r)), sleep(10 * timeout)]);

for (const [name, serve, want] of [
  ["trickled over several timeouts", async (req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    // 2 KiB each twentieth of the timeout: ten times the 4 KiB each
    // timeout asked for, so that a verifier bounding the whole transfer
    // fails, not a loaded machine's late wake-up (at twice the rate, the
    // Go verifier's test did).
    for (let i = 0; i < trickled.length && !res.destroyed; i += 2048) {
      res.write(trickled.slice(i, i + 2048));
      await sleep(timeout / 20);
    }
    res.end();
  }, null],
  ["trickled forever", async (req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    // A byte each quarter timeout, never ending: bytes keep coming, far
    // too few of them.
    res.write('{"revocations":[');
    for (let i = 0; i < 200 && !res.destroyed; i++) {
      await sleep(timeout / 4);
      res.write(" ");
    }
    res.end();
  }, new RegExp(`snapshot: less than 4 KiB for ${timeout} ms`)],
  ["stalled half way", async (req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.write(doc.slice(0, doc.length / 2));
    await waitGone(res);
    res.end();
  }, new RegExp(`snapshot: less than 4 KiB for ${timeout} ms`)],
  // The whole document, then neither more nor the body's end: a wait
  // that ran out, not a document that is not one.
  ["stalled at its end", async (req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.write(doc);
    await waitGone(res);
    res.end();
  }, new RegExp(`snapshot: less than 4 KiB for ${timeout} ms`)],
  // The whole document, then the connection cut before the body's end: a
  // connection lost, not a document that is not one (as the Go verifier
  // says the read error).
  ["cut at its end", async (req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.write(doc);
    await sleep(timeout / 10);
    res.socket.destroy();
  }, /snapshot: (?!not a revocation snapshot)\w/],
  ["cut in its middle", async (req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.write(doc.slice(0, doc.length / 2));
    await sleep(timeout / 10);
    res.socket.destroy();
  }, /snapshot: (?!not a revocation snapshot)\w/],
  ["with no body", async (req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.flushHeaders();
    await waitGone(res);
    res.end();
  }, new RegExp(`snapshot: no bytes for ${timeout} ms`)],
  ["no headers", async (req, res) => {
    await waitGone(res);
    res.end();
  }, new RegExp(`snapshot: no answer for ${timeout} ms`)],
]) {
  test(`a snapshot ${name}`, async () => {
    const fake = await fakeSnapshot(serve, cursor);
    try {
      const opts = { url: fake.url, apiKey: "k", issuer: "i", audience: "a", logger: quiet, requestTimeoutMs: timeout };
      if (want) {
        await assert.rejects(createVerifier(opts), want);
        return;
      }
      const v = await createVerifier(opts);
      assert.equal(v.status().revoked, trickledEntries);
      await v.close();
    } finally {
      fake.close();
    }
  });
}
