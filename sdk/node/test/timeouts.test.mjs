// requestTimeoutMs bounds the wait for the answer's headers and for each
// chunk of the body of the JWKS and the snapshot, not the whole transfer:
// a snapshot trickled over several times the timeout loads; one whose
// bytes stop for longer fails about the timeout later, saying so; so does
// a server that sends no headers (as the Go verifier's HTTPClient.Timeout).
import { once } from "node:events";
import { before, test } from "node:test";
import { Worker } from "node:worker_threads";
import assert from "node:assert/strict";
import { createVerifier } from "../dist/index.js";
import { quiet, cursorAt } from "./helpers.mjs";

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

// The process's first verifier loads and compiles undici and the
// verifier's paths: under load that alone took over the timeout ("jwks:
// no answer for 500 ms"), before any of what is tested here. One starts
// first, against a server in a worker as the tests' are, and waits as
// long as that takes (the longest timer Node has: this is no check).
before(async () => {
  const fake = await startServer("whole");
  try {
    const v = await createVerifier({ url: fake.url, apiKey: "k", issuer: "i", audience: "a", logger: quiet, requestTimeoutMs: 2 ** 31 - 1 });
    await v.close();
  } finally {
    await fake.close();
  }
});

// startServer runs the fake sessiond answering the snapshot as mode
// says (slowserver.mjs) in a worker thread. Its exit is awaited from the
// start: a worker that died before close (an error in a handler) made
// close wait for an exit already past, and the run hang without a word;
// close now fails with the worker's error.
async function startServer(mode) {
  const worker = new Worker(new URL("./slowserver.mjs", import.meta.url), { workerData: { mode, timeout, cursor, doc, trickled } });
  const exited = once(worker, "exit");
  exited.catch(() => {}); // reported by close
  const [url] = await once(worker, "message");
  return {
    url,
    close: async () => {
      worker.postMessage("close");
      await exited;
    },
  };
}

for (const [name, mode, want] of [
  ["trickled over several timeouts", "trickled", null],
  ["trickled forever", "trickledForever", new RegExp(`snapshot: less than 4 KiB for ${timeout} ms`)],
  ["stalled half way", "stalled", new RegExp(`snapshot: less than 4 KiB for ${timeout} ms`)],
  // The whole document, then neither more nor the body's end: a wait
  // that ran out, not a document that is not one.
  ["stalled at its end", "stalledAtEnd", new RegExp(`snapshot: less than 4 KiB for ${timeout} ms`)],
  // The whole document, or half, then the connection cut before the
  // body's end: a connection lost, not a document that is not one (as the
  // Go verifier says the read error), in the words docs/verifier.md quotes.
  ["cut at its end", "cutAtEnd", /snapshot: terminated \(other side closed\)$/],
  ["cut in its middle", "cutInMiddle", /snapshot: terminated \(other side closed\)$/],
  ["with no body", "noBody", new RegExp(`snapshot: no bytes for ${timeout} ms`)],
  ["no headers", "noHeaders", new RegExp(`snapshot: no answer for ${timeout} ms`)],
]) {
  test(`a snapshot ${name}`, async () => {
    const fake = await startServer(mode);
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
      await fake.close();
    }
  });
}
