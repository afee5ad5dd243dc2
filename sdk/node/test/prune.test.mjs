// Revocations past their until (and the verifier's leeway) are dropped
// once a minute while the stream is followed, on heartbeats too, as the
// Go verifier does after every block: dropped only after an event, a mass
// logout followed by quiet kept every entry (about 100 bytes each) for as
// long as no further revocation came.
import { test } from "node:test";
import { createVerifier } from "../dist/index.js";
import { cursorAt, eventually, fakeStream, quiet } from "./helpers.mjs";

test("revocations past their until are dropped on a heartbeat, with no event after them", async () => {
  const clock = { ms: Date.now() };
  let stream = null;
  const f = await fakeStream(cursorAt(clock.ms), (req, res) => {
    res.writeHead(200, { "Content-Type": "text/event-stream" });
    res.write(`: heartbeat\nid: ${cursorAt(clock.ms)}\n\n`);
    stream = res;
  });
  const v = await createVerifier({ url: f.url, apiKey: "k", issuer: "i", audience: "a", logger: quiet, now: () => clock.ms });
  try {
    await eventually("stream connected", () => stream !== null && v.status().connected);
    const iso = (ms) => new Date(ms).toISOString();
    for (let i = 0; i < 3; i++) {
      const r = { session_id: `ses_${i}`, subject: "u", revoked_at: iso(clock.ms), reason: "logout", until: iso(clock.ms + 60_000) };
      stream.write(`event: revoked\nid: ${cursorAt(clock.ms)}\ndata: ${JSON.stringify(r)}\n\n`);
    }
    await eventually("revocations applied", () => v.status().revoked === 3);
    // Past every until and the leeway; heartbeats only from now on, their
    // cursors keeping pace with the clock (not a stream falling behind).
    clock.ms += 5 * 60_000;
    stream.write(`: heartbeat\nid: ${cursorAt(clock.ms)}\n\n`);
    await eventually("expired revocations dropped after a heartbeat", () => v.status().revoked === 0);
  } finally {
    await v.close();
    f.close();
  }
});
