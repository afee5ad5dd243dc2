import { test } from "node:test";
import assert from "node:assert/strict";
import { SSEDecoder, MalformedStreamError, UTF8Stream, isCursor, MAX_LINE } from "../dist/sse.js";

test("SSEDecoder decodes events, heartbeats and CRLF across chunks", () => {
  const d = new SSEDecoder();
  const input = "event: revoked\r\nid: evt_1\r\ndata: {\"a\":1}\r\n\r\n: heartbeat\nid: evt_2\n\ndata: x\ndata: y\n\n";
  const blocks = [];
  for (const ch of input) blocks.push(...d.push(ch)); // one character at a time
  d.end();
  assert.deepEqual(blocks, [
    { name: "revoked", id: "evt_1", data: '{"a":1}', comment: false },
    { name: "", id: "evt_2", data: null, comment: true },
    { name: "", id: "", data: "x\ny", comment: false },
  ]);
});

for (const [name, input] of [
  ["unknown field", "foo: bar\n\n"],
  ["HTML", "<html>\n\n"],
  ["NUL in id", "id: a\0b\n\n"],
  ["line too long", "data: " + "x".repeat(MAX_LINE) + "\n"],
  ["line too long without newline", "x".repeat(MAX_LINE + 1)],
]) {
  test(`SSEDecoder refuses ${name}`, () => {
    assert.throws(() => new SSEDecoder().push(input), MalformedStreamError);
  });
}

test("SSEDecoder refuses input that ends inside a block or a line", () => {
  for (const input of ["event: revoked\n", "event: rev"]) {
    const d = new SSEDecoder();
    d.push(input);
    assert.throws(() => d.end(), MalformedStreamError);
  }
});

test("SSEDecoder measures a line in UTF-8 bytes without its terminator, as the Go decoder (TestDecoder_LineLimit)", () => {
  const data = (n, c) => "data: " + c.repeat(Math.floor((n - 6) / Buffer.byteLength(c))) + "a".repeat((n - 6) % Buffer.byteLength(c));
  const cases = [
    ["MaxLine, LF", data(MAX_LINE, "a") + "\n\n", true],
    ["MaxLine, CRLF", data(MAX_LINE, "a") + "\r\n\r\n", true],
    ["MaxLine+1, LF", data(MAX_LINE + 1, "a") + "\n\n", false],
    ["MaxLine+1, CRLF", data(MAX_LINE + 1, "a") + "\r\n\n", false],
    ["MaxLine in 2-byte characters", data(MAX_LINE, "é") + "\n\n", true],
    ["MaxLine+1 in 2-byte characters", data(MAX_LINE + 1, "é") + "\n\n", false],
  ];
  for (const [name, input, ok] of cases) {
    // Whole, and cut after every "\r": where the chunks end changes nothing.
    for (const chunks of [[input], input.split(/(?<=\r)/)]) {
      const d = new SSEDecoder();
      let accepted = true;
      try {
        for (const c of chunks) d.push(c);
        d.end();
      } catch (e) {
        if (!(e instanceof MalformedStreamError)) throw e;
        accepted = false;
      }
      assert.equal(accepted, ok, `${name} in ${chunks.length} chunks`);
    }
  }
});

test("isCursor", () => {
  const c = "evt_00363echpdok7iur29n13uses0";
  for (const ok of [c, c + ".2", c + ".1000000", "evt_8" + "0".repeat(25)]) assert.equal(isCursor(ok), true, ok);
  for (const bad of ["", "evt_", c + ".1", c + ".0", c + ".01", c + "x", c.toUpperCase(), "abc_" + c.slice(4), c + ".10000000", c.slice(0, 29) + "w", "evt_" + "v".repeat(26), "evt_g" + "0".repeat(25), c.slice(0, 29) + "1", c.slice(0, 29) + "3" + ".2"]) {
    assert.equal(isCursor(bad), false, bad);
  }
});

test("UTF8Stream refuses bytes that are not UTF-8, keeps U+FFFD and split characters", () => {
  assert.throws(() => new UTF8Stream().decode(new Uint8Array([0x64, 0xff, 0x0a])), MalformedStreamError);
  const u = new UTF8Stream();
  const bytes = new TextEncoder().encode("data: \uFFFD é\n\n");
  let text = "";
  for (const b of bytes) text += u.decode(new Uint8Array([b])); // one byte at a time
  text += u.decode();
  const d = new SSEDecoder();
  assert.deepEqual(d.push(text), [{ name: "", id: "", data: "\uFFFD é", comment: false }]);
});
