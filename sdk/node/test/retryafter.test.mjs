// A stream answered 429 or 503 with Retry-After (sessiond: a store outage
// while the API key is checked, too many failed authentications from this
// address; a proxy: its own limits, a node draining) is tried again no
// sooner than it says, at most 5 minutes later; without one, or with one
// shorter than the backoff, on the backoff. As the Go verifier's
// retryafter_internal_test.go.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createVerifier } from "../dist/index.js";
import { MAX_RETRY_AFTER_MS, retryAfterMs, retryCapMs } from "../dist/retryafter.js";
import { cursorAt, eventually, fakeStream } from "./helpers.mjs";

const now = Date.UTC(2030, 0, 1);
const httpDate = (ms) => new Date(ms).toUTCString(); // IMF-fixdate

for (const [value, want] of [
  ["120", 120_000],
  ["0", 0],
  [httpDate(now + 90_000), 90_000],
  ["86400", MAX_RETRY_AFTER_MS],
  ["99999999999999999999999", MAX_RETRY_AFTER_MS],
  [httpDate(now + 86_400_000), MAX_RETRY_AFTER_MS],
  [httpDate(now - 3_600_000), 0], // past
  [null, 0],
  ["", 0],
  ["soon", 0],
  ["+120", 0], // delay-seconds is digits only
  ["-5", 0],
  ["120, 120", 0], // two headers, as fetch joins them
  ["1.5", 0],
  [" 120", 0],
  ["0x10", 0],
  ["Tue, 01 Jan 2030 00:01:30 UTC", 0], // GMT only
  ["Tue, 31 Feb 2030 00:01:30 GMT", 0], // no such day
  // IMF-fixdate to the letter, as the Go verifier reads it too.
  ["tue, 01 jan 2030 00:01:30 GMT", 0],
  ["Tue,  01 Jan 2030 00:01:30 GMT", 0],
  ["Tue, 01 Jan 2030 00:01:30.5 GMT", 0],
  ["Tue, 1 Jan 2030 00:01:30 GMT", 0],
  ["Tue, 01 Jan 2030 24:01:30 GMT", 0],
  ["Tuesday, 01-Jan-30 00:01:30 GMT", 0], // RFC 850, which senders must not use
  ["Tue Jan  1 00:01:30 2030", 0], // asctime, read as local time by Date.parse
]) {
  test(`retryAfterMs(${JSON.stringify(value)}) = ${want}`, () => {
    assert.equal(retryAfterMs(value, now), want);
  });
}

assert.equal(MAX_RETRY_AFTER_MS, 300_000, "the documented cap: 5 minutes");

// A Retry-After holds the follower off for half of maxStalenessMs at most
// (at least the longest backoff, at most MAX_RETRY_AFTER_MS): a proxy's
// five minutes must not keep a verifier stale, refusing every token, long
// after the server is back. As the Go verifier's retryCap.
for (const [maxStalenessMs, want] of [
  [30_000, 15_000], // the default
  [2_000, 5_000], // the longest backoff
  [3_600_000, MAX_RETRY_AFTER_MS],
]) {
  test(`retryCapMs(${maxStalenessMs}) = ${want}`, () => {
    assert.equal(retryCapMs(maxStalenessMs, 5_000), want);
  });
}

// The wait between the refused connection and the next is the verifier's
// own (computed from Retry-After, not a measurement of the machine: a slow
// machine only makes it longer); the backoff would be at most 100 ms.
for (const [status, retryAfter, min] of [
  [503, "1", 1000],
  [429, "1", 1000],
  [503, () => httpDate(Date.now() + 2000), 1000], // whole seconds: at least 1 s from now
]) {
  const name = typeof retryAfter === "function" ? "an HTTP date" : retryAfter;
  test(`a stream answered ${status} with Retry-After ${name} is not tried again sooner`, async () => {
    const at = [];
    const f = await fakeStream(cursorAt(now), (req, res) => {
      at.push(Date.now());
      if (at.length === 1) {
        const v = typeof retryAfter === "function" ? retryAfter() : retryAfter;
        return void res.writeHead(status, { "Retry-After": v, "Content-Type": "application/problem+json" }).end('{"code":"store_unavailable"}');
      }
      res.writeHead(200, { "Content-Type": "text/event-stream" }).write(`: heartbeat\nid: ${cursorAt(now)}\n\n`);
    });
    const warnings = [];
    const logger = { warn(msg, attrs) { warnings.push(`${msg} ${attrs?.err ?? ""}`); }, error() {} };
    const v = await createVerifier({ url: f.url, apiKey: "k", issuer: "i", audience: "a", logger });
    try {
      await eventually("the second connection", () => at.length >= 2);
      assert.ok(at[1] - at[0] >= min, `the second connection came ${at[1] - at[0]} ms after a ${status} with Retry-After ${name}; want at least ${min} ms`);
      assert.ok(warnings.some((w) => w.includes(`status ${status}`) && w.includes("retry after")), `warnings ${JSON.stringify(warnings)}`);
    } finally {
      await v.close();
      f.close();
    }
  });
}
