// How far a stream connection's heartbeats fall behind the server's log,
// as the Go verifier's lag.go measures it.

/**
 * Measures, on one connection, how much further behind the server's log
 * its heartbeats arrive than its fastest one did. A heartbeat's cursor
 * carries the time of the node's last read of its log; a path slower than
 * the stream (a proxy buffering, a congested link, a node whose stream
 * loop falls behind) delivers heartbeats whose cursors fall behind their
 * arrival. The arrival is read on the verifier's ticks and compared only
 * with another arrival, the cursor only with another cursor of the same
 * node: neither the skew between the two machines' clocks nor a step of
 * the local wall clock enters the measure.
 */
export class LagMeter {
  #set = false;
  #tick = 0; // ticks at the baseline heartbeat's arrival, ms
  #at = 0; // its cursor's time, ms

  /**
   * How much further behind the server's log (ms) the heartbeat arriving at
   * tick, whose cursor carries at, is than the baseline. The first
   * heartbeat of the connection is the baseline, and so is any later one
   * that is less behind (the first may itself have been delayed).
   */
  behind(tick: number, at: number): number {
    if (this.#set) {
      const d = (tick - this.#tick) - (at - this.#at);
      if (d > 0) return d;
    }
    this.#set = true;
    this.#tick = tick;
    this.#at = at;
    return 0;
  }
}
