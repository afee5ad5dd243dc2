// The follower's wait between reconnections leaves no listener behind on
// the verifier's long-lived abort signal, whether the wait ends by its
// timer or by an abort.
import { test } from "node:test";
import assert from "node:assert/strict";
import { getEventListeners } from "node:events";
import { sleep } from "../dist/sleep.js";

test("waits that end by their timer leave no abort listener", async () => {
  const ac = new AbortController();
  for (let i = 0; i < 20; i++) await sleep(1, ac.signal);
  assert.equal(getEventListeners(ac.signal, "abort").length, 0);
});

test("an abort ends a wait at once and leaves no listener", async () => {
  const ac = new AbortController();
  const waiting = sleep(60_000, ac.signal);
  assert.equal(getEventListeners(ac.signal, "abort").length, 1);
  ac.abort();
  await waiting; // a timer left running would hold the test for a minute
  assert.equal(getEventListeners(ac.signal, "abort").length, 0);
});

test("a signal already aborted does not wait", async () => {
  const ac = new AbortController();
  ac.abort();
  await sleep(60_000, ac.signal);
  assert.equal(getEventListeners(ac.signal, "abort").length, 0);
});
