// The follower's wait between reconnections.

/**
 * Resolves after ms, or at once when signal aborts. The abort listener is
 * removed when the timer fires: a verifier that reconnects for days (a
 * server refusing it, a flapping link) must not pile up one listener per
 * wait on its long-lived signal.
 */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = () => { clearTimeout(t); resolve(); };
    const t = setTimeout(() => { signal.removeEventListener("abort", onAbort); resolve(); }, ms);
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
