// The waits of a JWKS or snapshot request: requestTimeoutMs bounds the
// wait for the answer's headers, then the wait for each 4 KiB of its body
// (or its end), not the whole transfer, so that a large snapshot over a
// slow link loads so long as its bytes keep coming, and one that trickles
// a byte now and then does not hold the verifier forever (as the Go
// verifier's HTTPClient.Timeout does, and as the server asks of a client
// reading the snapshot).

/** setTimeout fires at once past 2^31-1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** What Progress uses of a timer (a Node Timeout; a fake in tests). */
export interface Timer {
  refresh(): unknown;
  close(): unknown;
  unref?(): unknown;
}

/** The least of a body that must arrive each ms. */
export const PROGRESS_CHUNK = 4 << 10;

/**
 * Aborts signal when too little arrived for ms: no answer (until
 * started), then less than PROGRESS_CHUNK bytes of body (each
 * PROGRESS_CHUNK moves the timer on).
 */
export class Progress {
  readonly signal: AbortSignal;
  readonly #ctl = new AbortController();
  readonly #timer: Timer;
  #started = false;
  #got = 0; // bytes towards the next PROGRESS_CHUNK
  // Bytes since the timer last moved on. Not #got: what a chunk brought
  // past PROGRESS_CHUNK arrived as the timer moved on, so a body that
  // stops after it brought no bytes for ms.
  #since = 0;

  /** startTimer is setTimeout but in tests. */
  constructor(readonly ms: number, parent: AbortSignal, readonly what: string,
    startTimer: (fn: () => void, ms: number) => Timer = setTimeout) {
    this.signal = AbortSignal.any([parent, this.#ctl.signal]);
    this.#timer = startTimer(() => this.#ctl.abort(new Error(`${what}: ${this.#waiting()} for ${ms} ms`)), Math.min(ms, MAX_TIMER_MS));
    this.#timer.unref?.();
  }

  #waiting(): string {
    if (!this.#started) return "no answer";
    return this.#since === 0 ? "no bytes" : "less than 4 KiB";
  }

  /** The headers are in: the wait is now for the body's bytes. */
  started(): void {
    this.#started = true;
    this.#timer.refresh();
  }

  stop(): void {
    this.#timer.close();
  }

  /** The chunks of body, each moving the timer on; it stops at the end. */
  async *body(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    try {
      for await (const chunk of body) {
        this.#got += chunk.byteLength;
        this.#since += chunk.byteLength;
        if (this.#got >= PROGRESS_CHUNK) {
          this.#since = 0;
          // What this chunk brought past PROGRESS_CHUNK counts towards
          // the next: dropped, a body whose chunks straddle it would be
          // held to up to twice that each ms (as the Go verifier's).
          this.#got %= PROGRESS_CHUNK;
          this.#timer.refresh();
        }
        yield chunk;
      }
    } finally {
      this.stop();
    }
  }
}
