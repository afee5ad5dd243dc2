// The waits of a JWKS or snapshot request: requestTimeoutMs bounds the
// wait for the answer's headers, then the wait for each chunk of its body,
// not the whole transfer, so that a large snapshot over a slow link loads
// so long as its bytes keep coming (as the Go verifier's
// HTTPClient.Timeout does).

/** setTimeout fires at once past 2^31-1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Aborts signal when nothing arrived for ms: no answer (until started),
 * then no bytes (each chunk of body moves the timer on).
 */
export class Progress {
  readonly signal: AbortSignal;
  readonly #ctl = new AbortController();
  readonly #timer: ReturnType<typeof setTimeout>;
  #waiting = "no answer";

  constructor(readonly ms: number, parent: AbortSignal, readonly what: string) {
    this.signal = AbortSignal.any([parent, this.#ctl.signal]);
    this.#timer = setTimeout(() => this.#ctl.abort(new Error(`${what}: ${this.#waiting} for ${ms} ms`)), Math.min(ms, MAX_TIMER_MS));
    this.#timer.unref?.();
  }

  /** The headers are in: the wait is now for the body's bytes. */
  started(): void {
    this.#waiting = "no bytes";
    this.#timer.refresh();
  }

  stop(): void {
    clearTimeout(this.#timer);
  }

  /** The chunks of body, each moving the timer on; it stops at the end. */
  async *body(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
    try {
      for await (const chunk of body) {
        this.#timer.refresh();
        yield chunk;
      }
    } finally {
      this.stop();
    }
  }
}
