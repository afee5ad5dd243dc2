// Retry-After on the stream's 429 and 503 answers, read as the Go
// verifier's retryafter.go reads it.

/**
 * The longest a Retry-After holds the follower off: past maxStalenessMs
 * the state is stale anyway, and a proxy's hour-long value must not keep
 * a verifier off a server that is back.
 */
export const MAX_RETRY_AFTER_MS = 5 * 60_000;

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const IMF_FIXDATE = /^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\d{2}) (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) (\d{4}) (\d{2}):(\d{2}):(\d{2}) GMT$/;

/**
 * Reads a Retry-After value (RFC 9110 §10.2.3): delay-seconds (digits
 * only) or an HTTP date (IMF-fixdate, the form senders must use; Date.parse
 * would also take forms the Go verifier refuses, the asctime one as local
 * time) as ms from now (ms since the epoch), at most MAX_RETRY_AFTER_MS;
 * 0 if it is neither or already past.
 */
export function retryAfterMs(v: string | null, now: number): number {
  if (!v) return 0;
  if (/^[0-9]+$/.test(v)) return Math.min(Number(v) * 1000, MAX_RETRY_AFTER_MS);
  const m = IMF_FIXDATE.exec(v);
  if (!m) return 0;
  const [day, month, year, h, min, s] = [Number(m[1]), MONTHS.indexOf(m[2]!), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6])];
  const t = new Date(Date.UTC(year, month, day, h, min, s));
  // Date.UTC carries an overflow into the next field (31 Feb is 3 Mar):
  // a date that does not read back is none.
  if (t.getUTCFullYear() !== year || t.getUTCDate() !== day || t.getUTCMonth() !== month || t.getUTCHours() !== h || t.getUTCMinutes() !== min || t.getUTCSeconds() !== s) {
    return 0;
  }
  return t.getTime() > now ? Math.min(t.getTime() - now, MAX_RETRY_AFTER_MS) : 0;
}

/**
 * How long a Retry-After may hold the follower off: half of
 * maxStalenessMs, at least the longest backoff, at most
 * MAX_RETRY_AFTER_MS. A proxy's maintenance page asking for minutes would
 * otherwise keep the verifier stale, refusing every token, long after the
 * server is back; sessiond itself asks for seconds. As the Go verifier's
 * retryCap.
 */
export function retryCapMs(maxStalenessMs: number, maxBackoffMs: number): number {
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(maxBackoffMs, maxStalenessMs / 2));
}
