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
  #moves = 0; // times the timer moved on: whether it did after it fired
  #stopped = false;

  /** startTimer is setTimeout but in tests. */
  constructor(readonly ms: number, parent: AbortSignal, readonly what: string,
    startTimer: (fn: () => void, ms: number) => Timer = setTimeout) {
    this.signal = AbortSignal.any([parent, this.#ctl.signal]);
    this.#timer = startTimer(() => this.#fired(), Math.min(ms, MAX_TIMER_MS));
    this.#timer.unref?.();
  }

  // The loop runs its timers before it reads what arrived: after a time
  // without the CPU (a loaded machine), the timer would abort a request
  // whose bytes were already here. The abort waits for the loop's next
  // read of its sockets (setImmediate runs after it) and is dropped if
  // bytes that arrived in time moved the timer on meanwhile.
  #fired(): void {
    const moves = this.#moves;
    setImmediate(() => {
      if (this.#moves === moves && !this.#stopped) this.#ctl.abort(new Error(`${this.what}: ${this.#waiting()} for ${this.ms} ms`));
    });
  }

  #move(): void {
    this.#moves++;
    this.#timer.refresh();
  }

  #waiting(): string {
    if (!this.#started) return "no answer";
    return this.#since === 0 ? "no bytes" : "less than 4 KiB";
  }

  /** The headers are in: the wait is now for the body's bytes. */
  started(): void {
    this.#started = true;
    this.#move();
  }

  stop(): void {
    this.#stopped = true;
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
          this.#move();
        }
        yield chunk;
      }
    } finally {
      this.stop();
    }
  }
}
