// The snapshot read as it arrives (src/snapshot.ts): a large one loads,
// gzipped or not; the bound on entries and on one entry's size stops a
// hostile server's endless one; the real sessiond gzips it for fetch,
// which asks for gzip by default.
import { test } from "node:test";
import assert from "node:assert/strict";
import http from "node:http";
import zlib from "node:zlib";
import { once } from "node:events";
import { createVerifier } from "../dist/index.js";
import { SnapshotSplitter, MAX_SNAPSHOT_ELEMENT } from "../dist/snapshot.js";
import { url, apiKey, issuer, audience, skip, quiet, cursorAt, fakeSnapshot } from "./helpers.mjs";

const cursor = cursorAt(Date.now());
const entry = (i) =>
  JSON.stringify({ session_id: `mass-${String(i).padStart(7, "0")}`, subject: "user-12345678", revoked_at: "2026-01-01T00:00:00Z",
    reason: "logout", until: "2099-01-01T00:00:00Z" });

// drained waits until out takes more or closes.
function drained(out) {
  return new Promise((resolve) => {
    const done = () => { out.off("drain", done); out.off("close", done); resolve(); };
    out.on("drain", done);
    out.on("close", done);
  });
}

// write sends parts() to out with backpressure until it is done or the
// client hangs up.
async function pump(out, parts) {
  for (const p of parts) {
    if (out.destroyed) return;
    if (!out.write(p)) await drained(out);
  }
  if (!out.destroyed) out.end();
}

function* document(n) {
  yield '{"revocations":[';
  let batch = [];
  for (let i = 0; i < n; i++) {
    batch.push(entry(i));
    if (batch.length === 1000 || i === n - 1) {
      yield (i >= batch.length ? "," : "") + batch.join(",");
      batch = [];
    }
  }
  yield `],"watermarks":[{"subject":"mo","issued_before":"2026-01-01T00:00:00Z"}],"cursor":"${cursor}"}\n`;
}

// Gzipped when the request accepts it, as sessiond does (never, as an
// older sessiond, with identity).
function serveDocument(n, identity = false) {
  return (req, res) => {
    const gz = !identity && /\bgzip\b/.test(req.headers["accept-encoding"] ?? "");
    res.writeHead(200, { "Content-Type": "application/json", "Vary": "Accept-Encoding", ...(gz ? { "Content-Encoding": "gzip" } : {}) });
    if (!gz) return pump(res, document(n));
    const z = zlib.createGzip({ level: 1 });
    z.pipe(res);
    pump(z, document(n));
  };
}

for (const identity of [false, true]) {
  test(`a snapshot of 500,000 revocations (85 MB, over the old 64 MiB cap) loads, ${identity ? "identity" : "gzipped"}`, async () => {
    const n = 500_000;
    const fake = await fakeSnapshot(serveDocument(n, identity), cursor);
    try {
      // No request timeout: how long 85 MB takes on a loaded machine is not tested.
      const v = await createVerifier({ url: fake.url, apiKey: "k", issuer: "i", audience: "a", logger: quiet, requestTimeoutMs: 0x7fffffff });
      assert.equal(v.status().revoked, n);
      await v.close();
      assert.match(fake.accept[0], /\bgzip\b/, "fetch asks for gzip");
    } finally {
      fake.close();
    }
  });
}

test("maxSnapshotEntries bounds revocations and watermarks together", async () => {
  const fake = await fakeSnapshot(serveDocument(999), cursor);
  try {
    const v = await createVerifier({ url: fake.url, apiKey: "k", issuer: "i", audience: "a", logger: quiet, maxSnapshotEntries: 1000 });
    assert.equal(v.status().revoked, 999);
    await v.close();
    await assert.rejects(createVerifier({ url: fake.url, apiKey: "k", issuer: "i", audience: "a", logger: quiet, maxSnapshotEntries: 999 }),
      /more than maxSnapshotEntries \(999\)/);
    for (const bad of [-1, 1.5, "10"]) {
      await assert.rejects(createVerifier({ url: fake.url, apiKey: "k", issuer: "i", audience: "a", maxSnapshotEntries: bad }), /maxSnapshotEntries/);
    }
  } finally {
    fake.close();
  }
});

// A server that never ends its snapshot is refused at the bound, and the
// reading stops there (the server's writes end when the client hangs up).
test("an endless snapshot is refused at the bound", async () => {
  for (const [name, start, more, want] of [
    ["endless entries", '{"revocations":[', (i) => (i ? "," : "") + entry(i), /more than maxSnapshotEntries/],
    ["endless session ID", '{"revocations":[{"session_id":"', () => "a".repeat(4096), /an element over 65536 bytes/],
    ["endless whitespace", '{"revocations":[', () => " ".repeat(4096), /an element over 65536 bytes/],
    ["endless unknown member", '{"padding":[', () => "1,".repeat(2048), /an element over 65536 bytes/],
    ["endless cursor", '{"revocations":[],"watermarks":[],"cursor":"', () => "a".repeat(4096), /an element over 65536 bytes/],
  ]) {
    let ended;
    const closed = new Promise((r) => { ended = r; });
    const fake = await fakeSnapshot(async (req, res) => {
      res.on("close", ended);
      res.writeHead(200, { "Content-Type": "application/json" });
      res.write(start);
      for (let i = 0; !res.destroyed; i++) {
        if (!res.write(more(i))) await drained(res);
      }
    }, cursor);
    try {
      await assert.rejects(createVerifier({ url: fake.url, apiKey: "k", issuer: "i", audience: "a", logger: quiet, maxSnapshotEntries: 10_000 }),
        want, name);
      await closed;
    } finally {
      fake.close();
    }
  }
});

// Split at every position, the document reads as JSON.parse reads it.
test("the splitter agrees with JSON.parse wherever the chunks split", () => {
  const doc = JSON.stringify({ revocations: [JSON.parse(entry(1)), { session_id: "a\"],[{", until: "x", subject: "\\\u2028" }],
    extra: { revocations: [1, 2], s: "]" }, watermarks: [], cursor }) + "\n";
  for (let cut = 0; cut <= doc.length; cut++) {
    const got = { revocations: [], watermarks: [] };
    const s = new SnapshotSplitter(10, (list) => { got[list] = []; }, (list, v) => got[list].push(v));
    s.write(doc.slice(0, cut));
    s.write(doc.slice(cut));
    const rest = s.finish();
    assert.deepEqual({ ...rest, ...got }, JSON.parse(doc), `cut at ${cut}`);
  }
  for (const bad of ['{"revocations":[1,]}', '{"revocations":[,1]}', '{"revocations":[1 2]}', '{"revocations":[', '{"revocations":[]', '{"revocations":[]}x',
    '{"revocations":[{]}', '{"revocations":["a]}']) {
    assert.throws(() => {
      const s = new SnapshotSplitter(10, () => {}, () => {});
      s.write(bad);
      s.finish();
    }, undefined, bad);
  }
  assert.equal(MAX_SNAPSHOT_ELEMENT, 65536);
});

// The real sessiond gzips the snapshot for Node's fetch, which asks for
// gzip and decodes it; a client that does not ask gets identity.
test("sessiond gzips the snapshot for fetch, not for a client that does not ask", { skip }, async () => {
  const res = await fetch(url + "/v1/revocations/snapshot", { headers: { Authorization: `Bearer ${apiKey}` } });
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-encoding"), "gzip");
  assert.equal(res.headers.get("vary"), "Accept-Encoding");
  const snap = await res.json();
  assert.ok(Array.isArray(snap.revocations) && typeof snap.cursor === "string");
  const plain = await new Promise((resolve, reject) => {
    http.get(url + "/v1/revocations/snapshot", { headers: { Authorization: `Bearer ${apiKey}` } }, (r) => {
      let body = "";
      r.setEncoding("utf8");
      r.on("data", (c) => { body += c; });
      r.on("end", () => resolve({ encoding: r.headers["content-encoding"], body }));
    }).on("error", reject);
  });
  assert.equal(plain.encoding, undefined);
  assert.ok(Array.isArray(JSON.parse(plain.body).revocations));
  const v = await createVerifier({ url, apiKey, issuer, audience, logger: quiet });
  await v.close();
});
