// Progress moves its timer on once each PROGRESS_CHUNK of body has
// arrived, whatever sizes the chunks come in: bytes past a PROGRESS_CHUNK
// count towards the next, so a body that arrives at 4 KiB a timeout, in
// chunks that straddle it, is not held to 8 KiB (as the Go verifier's
// TestProgressBody_EachChunk).
import { test } from "node:test";
import assert from "node:assert/strict";
import { Progress, PROGRESS_CHUNK } from "../dist/progress.js";

const k = PROGRESS_CHUNK;

for (const [name, sizes, want] of [
  ["less than a chunk", [k / 4, k / 4, k / 4], 0],
  ["half chunks", [k / 2, k / 2, k / 2, k / 2], 2],
  ["three quarters of a chunk each", [3 * k / 4, 3 * k / 4, 3 * k / 4, 3 * k / 4], 3],
  ["a chunk and a half each", [3 * k / 2, 3 * k / 2], 2],
  ["three quarters, a chunk and a half, three quarters", [3 * k / 4, 3 * k / 2, 3 * k / 4], 2],
  ["a byte short, twice, then two", [k - 1, k - 1, 2], 2],
  ["many chunks at once, then the rest of one", [5 * k / 2, k / 2], 2],
  // Three chunks at once move it on once: the next ms waits for the next
  // PROGRESS_CHUNK, not a byte (no credit carried over).
  ["three chunks at once, then a byte", [3 * k, 1], 1],
  ["exactly a chunk, then a byte short of one", [k, k - 1], 1],
]) {
  test(`Progress: ${name}`, async () => {
    let moved = 0;
    const fake = { refresh: () => { moved++; }, close: () => {} };
    const p = new Progress(1000, new AbortController().signal, "snapshot", () => fake);
    p.started();
    moved = 0; // started() moves it on too: only the body's count
    async function* body() {
      for (const n of sizes) yield new Uint8Array(n);
    }
    let got = 0;
    for await (const chunk of p.body(body())) got += chunk.byteLength;
    assert.equal(got, sizes.reduce((a, b) => a + b, 0));
    assert.equal(moved, want, `chunks of ${sizes} moved the timer on ${moved} times; want ${want}`);
  });
}

// What the timer says when it fires depends on what arrived since it last
// moved on: nothing is "no bytes", some is "less than 4 KiB". Bytes a
// chunk brought past a PROGRESS_CHUNK count towards the next, but they
// came when the timer moved on: a body that stops right after them brought
// no bytes for the ms (as the Go verifier's TestProgressBody_Stalled).
for (const [name, sizes, want] of [
  ["nothing", [], "no bytes"],
  ["a byte", [1], "less than 4 KiB"],
  ["exactly a chunk", [k], "no bytes"],
  ["a chunk and a byte in one chunk", [k + 1], "no bytes"],
  ["two chunks and a half in one chunk", [5 * k / 2], "no bytes"],
  ["a chunk and a byte, then a byte", [k + 1, 1], "less than 4 KiB"],
  ["half a chunk, then a chunk", [k / 2, k], "no bytes"],
]) {
  test(`Progress stalled after ${name}`, async () => {
    let fire;
    const fake = { refresh: () => {}, close: () => {} };
    const p = new Progress(1000, new AbortController().signal, "snapshot", (fn) => { fire = fn; return fake; });
    p.started();
    const it = p.body((async function* () {
      for (const n of sizes) yield new Uint8Array(n);
      await new Promise(() => {}); // then nothing, as a stalled body
    })());
    for (const n of sizes) assert.equal((await it.next()).value.byteLength, n);
    fire();
    await new Promise((r) => setImmediate(r)); // the abort waits for the loop's next read
    assert.equal(p.signal.reason?.message, `snapshot: ${want} for 1000 ms`);
  });
}

// The loop runs its timers before it reads the bytes that arrived: after
// a time without the CPU (a loaded machine), the timer fired first and
// aborted a request whose bytes were already here. Those bytes, read
// before the loop's next turn, count; with none, the timer aborts.
for (const [name, bytes, want] of [
  ["a chunk that was waiting when the timer fired", k, null],
  ["less than a chunk waiting", k / 2, "snapshot: less than 4 KiB for 1000 ms"],
  ["nothing waiting", 0, "snapshot: no bytes for 1000 ms"],
]) {
  test(`Progress: ${name}`, async () => {
    let fire;
    const fake = { refresh: () => {}, close: () => {} };
    const p = new Progress(1000, new AbortController().signal, "snapshot", (fn) => { fire = fn; return fake; });
    p.started();
    let arrive;
    const arrived = new Promise((r) => { arrive = r; });
    async function* body() {
      yield await arrived;
      await new Promise(() => {}); // then nothing more
    }
    const next = p.body(body())[Symbol.asyncIterator]().next();
    fire();
    if (bytes > 0) {
      arrive(new Uint8Array(bytes));
      await next;
    }
    await new Promise((r) => setImmediate(r));
    assert.equal(p.signal.aborted ? p.signal.reason.message : null, want);
  });
}

// What ends the wait before the deferred abort runs drops it: the body's
// end (its last bytes, less than a chunk, came with the timer), stop()
// (the caller is done with the answer), or the headers, when the timer
// that fired was the wait for them. An abort after the body was read
// whole would fail what has nothing left to wait for.
for (const [name, act] of [
  ["the body ended after the timer fired", async (p, fire) => {
    const it = p.body((async function* () { yield new Uint8Array(1); })())[Symbol.asyncIterator]();
    await it.next();
    fire();
    assert.equal((await it.next()).done, true);
  }],
  ["stopped after the timer fired", async (p, fire) => {
    fire();
    p.stop();
  }],
]) {
  test(`Progress: ${name}`, async () => {
    let fire;
    const fake = { refresh: () => {}, close: () => {} };
    const p = new Progress(1000, new AbortController().signal, "snapshot", (fn) => { fire = fn; return fake; });
    p.started();
    await act(p, fire);
    await new Promise((r) => setImmediate(r));
    assert.equal(p.signal.aborted ? p.signal.reason.message : null, null);
  });
}

for (const [name, headers, want] of [
  ["headers waiting when the timer fired", true, null],
  ["no headers when the timer fired", false, "snapshot: no answer for 1000 ms"],
]) {
  test(`Progress: ${name}`, async () => {
    let fire;
    const fake = { refresh: () => {}, close: () => {} };
    const p = new Progress(1000, new AbortController().signal, "snapshot", (fn) => { fire = fn; return fake; });
    fire();
    if (headers) p.started();
    await new Promise((r) => setImmediate(r));
    assert.equal(p.signal.aborted ? p.signal.reason.message : null, want);
  });
}
