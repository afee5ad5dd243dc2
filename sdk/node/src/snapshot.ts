// Reading the revocation snapshot as it arrives, as the Go verifier does
// (verifier/snapshot.go): the elements of "revocations" and "watermarks"
// are parsed one at a time, everything else of the document (at most
// MAX_SNAPSHOT_ELEMENT) at the end. A snapshot of 500,000 revocations is
// 85 MB of JSON; the verifier keeps a session ID and a time of each, never
// the document.

/** Bound on one entry's JSON, and on the rest of the document without its entries. */
export const MAX_SNAPSHOT_ELEMENT = 64 * 1024;

/** Default bound on a snapshot's revocations and watermarks (maxSnapshotEntries). */
export const DEFAULT_MAX_SNAPSHOT_ENTRIES = 2_000_000;

/** The members whose elements are streamed. */
export type SnapshotList = "revocations" | "watermarks";

const QUOTE = 0x22, BACKSLASH = 0x5c, COLON = 0x3a, COMMA = 0x2c;
const OPEN_OBJ = 0x7b, CLOSE_OBJ = 0x7d, OPEN_ARR = 0x5b, CLOSE_ARR = 0x5d;

/**
 * Splits a snapshot document into its entries as text arrives: begin(list)
 * at each "revocations" or "watermarks" array of the top-level object (a
 * member repeated starts over, as JSON.parse keeps the last), element(list,
 * value) for each of its elements, and finish() returns the document with
 * those arrays empty, parsed. Throws on what is not JSON, an element or the
 * rest over MAX_SNAPSHOT_ELEMENT, more than maxEntries elements.
 */
export class SnapshotSplitter {
  #depth = 0;
  #inString = false;
  #escape = false;
  #skeleton = ""; // the document without the streamed elements
  #stringStart = -1; // where the last string at depth 1 starts in the skeleton
  #lastString = ""; // its text, quotes included
  #key: string | null = null; // the member whose value comes next
  #list: SnapshotList | null = null; // the streamed array being read
  #elem = ""; // its element so far
  #afterComma = false;
  #entries = 0;

  constructor(
    readonly maxEntries: number,
    readonly begin: (list: SnapshotList) => void,
    readonly element: (list: SnapshotList, value: unknown) => void,
  ) {}

  write(text: string): void {
    let seg = 0; // start of the text not yet added to skeleton or element
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (this.#inString) {
        if (this.#escape) this.#escape = false;
        else if (c === BACKSLASH) this.#escape = true;
        else if (c === QUOTE) {
          this.#inString = false;
          if (this.#list === null && this.#depth === 1) {
            this.#skeleton += text.slice(seg, i + 1);
            seg = i + 1;
            this.#lastString = this.#skeleton.slice(this.#stringStart);
          }
        }
        continue;
      }
      switch (c) {
        case QUOTE:
          this.#inString = true;
          if (this.#list === null && this.#depth === 1) this.#stringStart = this.#skeleton.length + (i - seg);
          break;
        case COLON:
          if (this.#list === null && this.#depth === 1) this.#key = parseKey(this.#lastString);
          break;
        case OPEN_OBJ:
          this.#depth++;
          break;
        case OPEN_ARR:
          this.#depth++;
          if (this.#list === null && this.#depth === 2 && (this.#key === "revocations" || this.#key === "watermarks")) {
            this.#skeleton += text.slice(seg, i + 1);
            seg = i + 1;
            this.#list = this.#key;
            this.#elem = "";
            this.#afterComma = false;
            this.begin(this.#list);
          }
          break;
        case COMMA:
          if (this.#list !== null && this.#depth === 2) {
            this.#elem += text.slice(seg, i);
            seg = i + 1;
            this.#emit(true);
            this.#afterComma = true;
          } else if (this.#list === null && this.#depth === 1) {
            this.#key = null;
          }
          break;
        case CLOSE_OBJ:
          this.#depth--;
          break;
        case CLOSE_ARR:
          this.#depth--;
          if (this.#list !== null && this.#depth === 1) {
            this.#elem += text.slice(seg, i);
            seg = i;
            this.#emit(this.#afterComma || this.#elem.trim() !== "");
            this.#list = null;
          }
          break;
      }
    }
    if (this.#list !== null) this.#elem += text.slice(seg);
    else this.#skeleton += text.slice(seg);
    if (this.#elem.length > MAX_SNAPSHOT_ELEMENT || this.#skeleton.length > MAX_SNAPSHOT_ELEMENT) {
      throw new Error(`snapshot: an element over ${MAX_SNAPSHOT_ELEMENT} bytes`);
    }
  }

  // emit parses the element read so far; want: there must be one (after
  // a comma, or an array with elements before).
  #emit(want: boolean): void {
    const text = this.#elem;
    this.#elem = "";
    if (!want) return;
    if (text.length > MAX_SNAPSHOT_ELEMENT) throw new Error(`snapshot: an element over ${MAX_SNAPSHOT_ELEMENT} bytes`);
    const value: unknown = JSON.parse(text); // throws on an empty or broken element
    if (++this.#entries > this.maxEntries) {
      throw new Error(`snapshot: more than maxSnapshotEntries (${this.maxEntries}) entries`);
    }
    this.element(this.#list!, value);
  }

  /** The document without the streamed elements; throws if it is not JSON. */
  finish(): unknown {
    if (this.#inString || this.#list !== null) throw new Error("snapshot: the document ends early");
    return JSON.parse(this.#skeleton);
  }
}

function parseKey(s: string): string | null {
  try {
    const k: unknown = JSON.parse(s);
    return typeof k === "string" ? k : null;
  } catch {
    return null;
  }
}

/** Feeds a response body, UTF-8, to a splitter. */
export async function splitBody(body: AsyncIterable<Uint8Array>, s: SnapshotSplitter): Promise<unknown> {
  const dec = new TextDecoder("utf-8", { fatal: true });
  for await (const chunk of body) s.write(dec.decode(chunk, { stream: true }));
  s.write(dec.decode());
  return s.finish();
}
