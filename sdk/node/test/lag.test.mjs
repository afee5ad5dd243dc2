// A stream whose heartbeats still arrive but carry cursors that fall
// further and further behind (a proxy buffering, a congested link, a node
// whose stream loop falls behind its log) is dropped like a silent one;
// one whose cursors keep a constant offset (clock skew between machines)
// is not. As the Go verifier's lag_test.go. No real sessiond: a fake
// stream the test writes heartbeats to, on an injected clock.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createVerifier } from "../dist/index.js";
import { LagMeter } from "../dist/lag.js";
import { cursorAt, eventually, fakeStream } from "./helpers.mjs";

const s = 1000;

// Heartbeats arrive 10 s apart on the ticks; offsets are where each one's
// cursor is, relative to the ticks.
for (const tc of [
  { name: "in step", offsets: [0, 0, 0, 0], want: [0, 0, 0, 0] },
  { name: "server an hour ahead", offsets: [3600 * s, 3600 * s, 3600 * s], want: [0, 0, 0] },
  { name: "server an hour behind", offsets: [-3600 * s, -3600 * s, -3600 * s], want: [0, 0, 0] },
  { name: "falling behind 5 s a heartbeat", offsets: [0, -5 * s, -10 * s, -35 * s], want: [0, 5 * s, 10 * s, 35 * s] },
  { name: "falling behind, an hour of skew", offsets: [3600 * s, 3595 * s, 3565 * s], want: [0, 5 * s, 35 * s] },
  { name: "a first heartbeat delayed: the next, less behind, is the baseline", offsets: [-20 * s, 0, -10 * s], want: [0, 0, 10 * s] },
  { name: "the baseline lowered mid-connection", offsets: [0, -20 * s, 5 * s, -20 * s, -26 * s], want: [0, 20 * s, 0, 25 * s, 31 * s] },
  { name: "a server clock stepped forward: the new baseline", offsets: [0, 3600 * s, 3590 * s], want: [0, 0, 10 * s] },
]) {
  test(`LagMeter: ${tc.name}`, () => {
    const m = new LagMeter();
    const start = Date.UTC(2030, 0, 1);
    let tick = 3600 * s; // a process's ticks are past zero
    const got = tc.offsets.map((off, i) => {
      const d = m.behind(tick, start + i * 10 * s + off);
      tick += 10 * s;
      return d;
    });
    assert.deepEqual(got, tc.want, `behind with cursors at ${tc.offsets} ms off the ticks`);
  });
}

// fake is a stream whose connections record their Last-Event-ID; the
// first stays open for heartbeats the test writes, later ones say nothing.
async function fake(snapshotCursor) {
  const conns = [];
  const f = await fakeStream(snapshotCursor, (req, res) => {
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    res.flushHeaders();
    conns.push({ lastEventID: req.headers["last-event-id"] ?? "", res });
  });
  return { ...f, conns, beat: (cursor) => conns[0].res.write(`: heartbeat\nid: ${cursor}\n\n`) };
}

// Heartbeats every 10 s of the verifier's clock, each with a cursor only
// 5 s on from the one before: the verifier takes them while they are at
// most idleTimeoutMs (30 s) further behind than the connection's first,
// drops the connection at the first that is more, without counting it as
// a sign that the state is current, and reconnects from the last
// heartbeat it took. Its state turns stale maxStalenessMs after that one.
test("a stream falling behind the server's log is dropped, its heartbeat not taken; stale maxStalenessMs after the last taken", async () => {
  let now = Date.UTC(2030, 0, 1);
  const f = await fake(cursorAt(now));
  const warnings = [];
  const logger = { warn(msg, attrs) { warnings.push(`${msg} ${attrs?.err ?? ""}`); }, error() {} };
  const v = await createVerifier({ url: f.url, apiKey: "k", issuer: "i", audience: "a", logger, now: () => now });
  try {
    await eventually("connected", () => f.conns.length === 1 && v.status().connected);
    const taken = (what) => eventually(what, () => v.status().lastSync.getTime() === now);
    now += s; // the snapshot's lastSync was at the start
    const base = now;
    let last = cursorAt(base);
    f.beat(last);
    await taken("the connection's first heartbeat");
    for (let i = 1; i <= 6; i++) { // the sixth: 30 s further behind, not more than idleTimeoutMs
      now += 10 * s;
      last = cursorAt(base + i * 5 * s);
      f.beat(last);
      await taken(`heartbeat ${i}, ${5 * i} s further behind than the first`);
    }
    now += 10 * s;
    f.beat(cursorAt(base + 35 * s)); // 35 s further behind
    await eventually("the heartbeat 35 s further behind taken, or the connection dropped",
      () => f.conns.length >= 2 || v.status().lastSync.getTime() === now);
    assert.ok(f.conns.length >= 2, "a heartbeat 35 s further behind the server's log than the connection's first (idleTimeoutMs 30 s) was taken as proof that the state is current; want the connection dropped");
    assert.equal(f.conns[1].lastEventID, last, "the reconnection's Last-Event-ID: the last heartbeat taken");
    assert.equal(v.status().lastSync.getTime(), now - 10 * s, "lastSync after the drop: the last heartbeat taken");
    assert.ok(warnings.some((w) => w.includes("falls behind")), `warnings ${JSON.stringify(warnings)}: want one that the stream falls behind`);
    assert.equal(v.status().stale, false, "10 s after the last heartbeat taken");
    now += 21 * s;
    assert.equal(v.status().stale, true, "maxStalenessMs after the last heartbeat taken, the stream falling behind");
  } finally {
    await v.close();
    f.close();
  }
});

// The server's clock an hour ahead of the verifier's, or an hour behind:
// the cursors are that far off, but do not fall behind. The verifier
// follows the stream for several idleTimeoutMs on one connection, current
// all along.
for (const skew of [3600 * s, -3600 * s]) {
  test(`a server ${skew / s} s off keeps its stream (skew is not lag)`, async () => {
    let now = Date.UTC(2030, 0, 1);
    const f = await fake(cursorAt(now + skew));
    const v = await createVerifier({ url: f.url, apiKey: "k", issuer: "i", audience: "a", logger: { warn() {}, error() {} }, now: () => now });
    try {
      await eventually("connected", () => f.conns.length === 1 && v.status().connected);
      for (let i = 1; i <= 12; i++) { // 2 minutes
        now += 10 * s;
        f.beat(cursorAt(now + skew));
        await eventually(`the heartbeat after ${10 * i} s taken`, () => v.status().lastSync.getTime() === now);
      }
      assert.equal(f.conns.length, 1, "stream connections over 2 minutes: the offset is skew, not lag");
      assert.equal(v.status().stale, false);
    } finally {
      await v.close();
      f.close();
    }
  });
}
