// A strict, bounded decoder of the revocation stream's Server-Sent Events.
// It refuses what a revocation stream never sends (unknown fields, lines
// over MAX_LINE, data over MAX_DATA, NUL in an id), so a proxy's HTML page
// or a cut connection is an error, never a guess.

export const MAX_LINE = 64 * 1024;
export const MAX_DATA = 1024 * 1024;

/**
 * Decodes bytes to text for SSEDecoder.push; bytes that are not UTF-8 are
 * a MalformedStreamError (U+FFFD itself is valid text: stores write it in
 * place of what they cannot hold).
 */
export class UTF8Stream {
  #d = new TextDecoder("utf-8", { fatal: true });
  decode(chunk?: Uint8Array): string {
    try {
      return chunk ? this.#d.decode(chunk, { stream: true }) : this.#d.decode();
    } catch {
      throw new MalformedStreamError("not UTF-8 text");
    }
  }
}

/** One dispatched block: an event (name and data) or a heartbeat (comment). */
export interface Block {
  name: string;
  id: string;
  data: string | null;
  comment: boolean;
}

export class MalformedStreamError extends Error {
  override name = "MalformedStreamError";
}

// overLine reports whether s is over MAX_LINE bytes in UTF-8, as the Go
// decoder measures (stream.MaxLine), not in UTF-16 code units: each unit
// is 1 to 3 bytes, so only a string over MAX_LINE / 3 units is encoded.
function overLine(s: string): boolean {
  return s.length > MAX_LINE || (s.length * 3 > MAX_LINE && Buffer.byteLength(s, "utf8") > MAX_LINE);
}

export class SSEDecoder {
  #buf = "";
  #block: Block | null = null;
  #dataBytes = 0; // the block's data in UTF-8 bytes, "\n" joins included

  /** Feeds text and returns the blocks it completes. Throws MalformedStreamError. */
  push(text: string): Block[] {
    this.#buf += text;
    const out: Block[] = [];
    for (;;) {
      const nl = this.#buf.indexOf("\n");
      if (nl < 0) {
        // A "\r" waiting for its "\n" is no part of the line.
        if (overLine(this.#buf.endsWith("\r") ? this.#buf.slice(0, -1) : this.#buf)) {
          throw new MalformedStreamError(`line over ${MAX_LINE} bytes`);
        }
        return out;
      }
      let line = this.#buf.slice(0, nl);
      this.#buf = this.#buf.slice(nl + 1);
      if (line.endsWith("\r")) line = line.slice(0, -1);
      if (overLine(line)) throw new MalformedStreamError(`line over ${MAX_LINE} bytes`);
      const b = this.#line(line);
      if (b) out.push(b);
    }
  }

  /** Ends the input; throws when it ends inside a block or a line. */
  end(): void {
    if (this.#buf.length > 0 || this.#block) throw new MalformedStreamError("input ends inside a block");
  }

  #line(line: string): Block | null {
    if (line === "") {
      const b = this.#block;
      this.#block = null;
      this.#dataBytes = 0;
      return b;
    }
    const b = (this.#block ??= { name: "", id: "", data: null, comment: false });
    if (line.startsWith(":")) {
      b.comment = true;
      return null;
    }
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    switch (field) {
      case "event":
        b.name = value;
        break;
      case "id":
        if (value.includes("\0")) throw new MalformedStreamError("NUL in id");
        b.id = value;
        break;
      case "data":
        this.#dataBytes += (b.data === null ? 0 : 1) + Buffer.byteLength(value, "utf8");
        if (this.#dataBytes > MAX_DATA) throw new MalformedStreamError(`event data over ${MAX_DATA} bytes`);
        b.data = b.data === null ? value : b.data + "\n" + value;
        break;
      case "retry":
        break;
      default:
        throw new MalformedStreamError(`unknown field ${JSON.stringify(field.slice(0, 32))}`);
    }
    return null;
  }
}

const CURSOR = /^evt_[0-9a-v]{26}(\.[1-9][0-9]{0,6})?$/;

const BASE32HEX = "0123456789abcdefghijklmnopqrstuv";
const MAX_MICROS = 1n << 62n;

// cursorMicros is the time an event ID holds, in microseconds: the first
// 64 of the bits its 26 base32hex characters carry (the first 13 carry 65).
function cursorMicros(s: string): bigint {
  let v = 0n;
  for (let i = 4; i < 17; i++) v = v * 32n + BigInt(BASE32HEX.indexOf(s.charAt(i)));
  return v >> 1n;
}

/** The time a cursor (isCursor) holds, in ms since the epoch. */
export function cursorMillis(s: string): number {
  return Number(cursorMicros(s)) / 1000;
}

/** Reports whether s is a cursor of the stream (an event log ID, maybe with an index). */
export function isCursor(s: string): boolean {
  const m = CURSOR.exec(s);
  if (!m) return false;
  if (m[1] !== undefined && (m[1] === ".1" || Number(m[1].slice(1)) > 1_000_000)) return false;
  // The last character's 2 low bits are past the ID's 128: zero in every
  // event ID, so a cursor has one spelling (stream.ParseCursor refuses
  // the others too).
  if ((BASE32HEX.indexOf(s.charAt(29)) & 3) !== 0) return false;
  // A time beyond 2^62 µs is none the server makes; the Go verifier
  // refuses it too (stream.ParseCursor).
  return cursorMicros(s) <= MAX_MICROS;
}
