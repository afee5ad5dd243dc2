// requestTimeoutMs bounds the wait for the answer's headers and for each
// chunk of the body of the JWKS and the snapshot, not the whole transfer:
// a snapshot trickled over several times the timeout loads; one whose
// bytes stop for longer fails about the timeout later, saying so; so does
// a server that sends no headers (as the Go verifier's HTTPClient.Timeout).
import { test } from "node:test";
import assert from "node:assert/strict";
import { createVerifier } from "../dist/index.js";
import { quiet, cursorAt, fakeSnapshot } from "./helpers.mjs";

const timeout = 200;
const cursor = cursorAt(Date.now());
const doc = JSON.stringify({
  revocations: Array.from({ length: 20 }, (_, i) => ({ session_id: `slow-${i}`, subject: "kim", revoked_at: "2026-01-01T00:00:00Z",
    reason: "logout", until: "2099-01-01T00:00:00Z" })),
  watermarks: [], cursor,
}) + "\n";
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// waitGone resolves when the client hangs up, or after ten timeouts.
const waitGone = (res) => Promise.race([new Promise((r) => res.on("close", r)), sleep(10 * timeout)]);

for (const [name, serve, want] of [
  ["trickled over several timeouts", async (req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    // 128 bytes each quarter timeout: the document takes many timeouts.
    for (let i = 0; i < doc.length && !res.destroyed; i += 128) {
      res.write(doc.slice(i, i + 128));
      await sleep(timeout / 4);
    }
    res.end();
  }, null],
  ["stalled half way", async (req, res) => {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.write(doc.slice(0, doc.length / 2));
    await waitGone(res);
    res.end();
  }, /snapshot: no bytes for 200 ms/],
  ["no headers", async (req, res) => {
    await waitGone(res);
    res.end();
  }, /snapshot: no answer for 200 ms/],
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
      assert.equal(v.status().revoked, 20);
      await v.close();
    } finally {
      fake.close();
    }
  });
}
