// @sessiond/verifier: verify sessiond access tokens inside a Node.js
// service, with no call to sessiond per request. Signature and claims are
// checked locally against the JWKS (with jose); revocations, incident
// watermarks and retired keys arrive on sessiond's revocation stream, which
// the verifier follows in the background, resuming with Last-Event-ID.
// Past maxStaleness without word from the stream, the policy is explicit:
// reject (the default) or accept with a warning.

import { createLocalJWKSet, decodeProtectedHeader, errors as joseErrors, jwtVerify } from "jose";
import type { JSONWebKeySet, JWTPayload } from "jose";
import { SSEDecoder, MalformedStreamError, UTF8Stream, cursorMillis, isCursor } from "./sse.js";
import { LagMeter } from "./lag.js";
import { retryAfterMs, retryCapMs } from "./retryafter.js";
import { sleep } from "./sleep.js";
import { MAX_TIMER_MS, Progress } from "./progress.js";
import { DEFAULT_MAX_SNAPSHOT_ENTRIES, SnapshotSplitter, splitBody } from "./snapshot.js";
import type { Block } from "./sse.js";

export { SSEDecoder, MalformedStreamError, UTF8Stream, isCursor } from "./sse.js";
export type { Block } from "./sse.js";

/** Why Verify refused a token. */
export type VerifyErrorCode = "invalid_token" | "expired" | "revoked" | "absolute_timeout" | "stale";

export class VerifyError extends Error {
  override name = "VerifyError";
  constructor(readonly code: VerifyErrorCode, message: string) {
    super(message);
  }
}

/**
 * The refusal of a token bound to a DPoP key (cnf): a VerifyError with
 * code invalid_token, told apart by the middleware, which answers it with
 * a DPoP challenge as the Go verifier does.
 */
class BoundTokenError extends VerifyError {}

/**
 * A token whose signature and claims passed: bound is set for a token
 * bound to a DPoP key (cnf), refused only after the revocation checks and
 * staleness, in the Go verifier's order (a stale state answers 503 for it
 * too).
 */
interface Checked {
  claims: Claims;
  kid: string;
  bound: boolean;
}

/** The middleware's answer to a DPoP-bound token, whatever its scheme. */
const boundTokenText =
  "the access token is bound to a key (DPoP) and this verifier (@sessiond/verifier for Node.js) does not check DPoP proofs: " +
  "check such tokens with the Go verifier or sessiond's POST /v1/sessions/verify";

/** The algs parameter of the DPoP challenge (RFC 9449 §7.1), as the Go verifier's. */
const dpopAlgs = 'algs="ES256 ES384 ES512 RS256 RS384 RS512 PS256 PS384 PS512 EdDSA"';

export type StalePolicy = "reject" | "accept";

export interface Logger {
  warn(msg: string, attrs?: Record<string, unknown>): void;
  error(msg: string, attrs?: Record<string, unknown>): void;
}

export interface VerifierOptions {
  /** Base URL of the sessiond server, e.g. https://sessiond.internal:8420. */
  url: string;
  /** API key for the snapshot and the stream. */
  apiKey: string;
  /** jwt.issuer and jwt.audience of sessiond's configuration. */
  issuer: string;
  audience: string;
  /** Clock-skew allowance in seconds (0 or unset: 5; at most 60). */
  leewaySeconds?: number;
  /** Milliseconds without word from the stream before whenStale applies (0 or unset: 30000). */
  maxStalenessMs?: number;
  /** What to do past maxStaleness: "reject" (default) or "accept" with a warning. */
  whenStale?: StalePolicy;
  /**
   * Drop a stream connection that brought no event or heartbeat (a block
   * with an id) for this long, in ms (default 30000); a proxy's keep-alive
   * comments do not count. Also drop one whose heartbeats arrive this much
   * further behind the server's log than the connection's fastest one did
   * (a proxy buffering, a congested link), without taking that heartbeat as
   * proof that the state is current. 0 or unset: 30000.
   */
  idleTimeoutMs?: number;
  /** Minimum ms between JWKS fetches on an unknown kid (0 or unset: 1000). */
  minRefetchIntervalMs?: number;
  /** Verified tokens kept to skip the signature check (0 or unset: 10000; negative: none). */
  cacheSize?: number;
  /**
   * Bound on a snapshot's revocations and watermarks (0 or unset: 2000000); a
   * larger one is refused, as from a broken or hostile server. Each entry
   * is also at most 64 KiB of JSON. About 100 bytes of heap are kept per
   * revocation.
   */
  maxSnapshotEntries?: number;
  /**
   * Timeout of JWKS and snapshot requests in ms (0 or unset: 10000): how long
   * to wait for the answer's headers, then for each 4 KiB of its body, or
   * its end (less than that for that long fails the request), not the
   * whole transfer, so a large snapshot over a slow link loads while its
   * bytes keep coming, and a server trickling a byte now and then is given
   * up.
   */
  requestTimeoutMs?: number;
  /** Where connection trouble and stale warnings go (default: console). */
  logger?: Logger;
  /**
   * The clock, in ms since the epoch (default Date.now). When set, it also
   * measures staleness, the minute between stale warnings and the JWKS
   * refetch interval; by default those run on performance.now, which a
   * wall clock stepped by NTP or a restored VM does not move.
   */
  now?: () => number;
}

/** What a verified access token says. */
export interface Claims {
  subject: string;
  sessionId: string;
  tokenId: string;
  strategy: "hybrid" | "jwt";
  issuedAt: Date;
  expiresAt: Date;
  authTime: Date;
  /** The session's absolute expiry (sess_exp, which a token must carry). */
  sessionExpiresAt: Date;
  persistent: boolean;
  /** The session's custom claims (ext), or null. */
  custom: Record<string, unknown> | null;
  /** Set when accepted although the revocation state was stale (whenStale "accept"). */
  stale: boolean;
}

export interface Status {
  connected: boolean;
  lastSync: Date;
  stale: boolean;
  revoked: number;
  /** Snapshots loaded: one at start, one per reset; a reconnection that resumed with Last-Event-ID loads none. */
  snapshots: number;
}

interface Revoked {
  session_id: string;
  subject: string;
  revoked_at: string;
  reason: string;
  until: string;
}

interface Watermark {
  subject?: string;
  all?: boolean;
  issued_before: string;
}

interface Snapshot {
  revocations: Revoked[];
  watermarks: Watermark[];
  cursor: string;
}

class ProtocolError extends Error {
  override name = "ProtocolError";
}
class ResetSignal extends Error {}
// The stream's heartbeats arrive further behind the server's log than
// idleTimeoutMs, compared with the connection's fastest one.
class BehindError extends Error {
  override name = "BehindError";
}
// The server (or a proxy) answered the stream 429 or 503.
class RefusedError extends Error {
  override name = "RefusedError";
  constructor(message: string, readonly retryAfterMs: number) {
    super(message);
  }
}

// The reconnection backoff doubles from 100 ms up to this.
const MAX_BACKOFF_MS = 5000;
// The longest delay setTimeout keeps; a longer one fires after 1 ms.
const MAX_TOKEN_BYTES = 8 * 1024;
const ALLOWED_HEADERS = new Set(["alg", "typ", "kid"]);
const SEGMENT = /^[A-Za-z0-9_-]+$/;

/**
 * The text of e for an error message or a log, with the reason fetch
 * keeps in its cause: its own message is only "fetch failed".
 */
function describe(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  const cause = (e as { cause?: { message?: unknown } } | null)?.cause;
  return typeof cause?.message === "string" && cause.message !== "" ? `${text} (${cause.message})` : text;
}

/**
 * body, its own failures named for what: fetch's body fails with a
 * TypeError ("terminated") when the connection is lost, the class that
 * the snapshot's parsing throws for text that is not UTF-8, so a snapshot
 * cut short was reported "not a revocation snapshot".
 */
async function* bodyErrors(body: AsyncIterable<Uint8Array>, what: string): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of body) yield chunk;
  } catch (e) {
    if (e instanceof TypeError) throw new Error(`${what}: ${describe(e)}`, { cause: e });
    throw e;
  }
}

/**
 * Whether hostname (a URL's, IPv6 in brackets, as the WHATWG parser writes
 * it) is this machine: localhost (also fully qualified, "localhost.", RFC
 * 6761 §6.3) or a loopback address, IPv4-mapped ones included.
 */
function loopback(hostname: string): boolean {
  const h = hostname.toLowerCase();
  return h === "localhost" || h === "localhost." || h === "[::1]" ||
    /^(\[::ffff:7f[0-9a-f]{2}:[0-9a-f]{1,4}\]|127\.\d{1,3}\.\d{1,3}\.\d{1,3})$/.test(h);
}

/**
 * Whether token has the one spelling sessiond writes (docs/jwt.md rules 2
 * and 3; RFC 7515 §2, RFC 4648 §3.5): three non-empty base64url segments
 * without padding, whitespace or non-zero trailing bits, each of which
 * re-encodes to itself. jose decodes with atob on Node 20, which skips
 * whitespace and padding and ignores trailing bits: without this check a
 * token would have many spellings, each a new cache entry and a way past
 * any list keyed on the token's text.
 */
function canonical(token: string): boolean {
  const segs = token.split(".");
  return segs.length === 3 && segs.every((seg) => SEGMENT.test(seg) && Buffer.from(seg, "base64url").toString("base64url") === seg);
}

// The claims sessiond writes as whole seconds. The server and the Go
// verifier decode them into integers, so 1700000000.0 or 17e8 is a
// malformed token there, although JSON.parse reads the same number.
const INTEGER_CLAIMS = new Set(["exp", "nbf", "iat", "auth_time", "sess_exp"]);
const INTEGER = /^-?(?:0|[1-9][0-9]*)$/;

/**
 * Whether every top-level member of the JSON object text json (valid JSON:
 * jose has parsed it) named as an integer claim, in any case (Go matches
 * names case-insensitively), is written as a plain integer.
 */
function integerClaims(json: string): boolean {
  const tokens = /\s*("(?:[^"\\]|\\.)*"|[{}[\]:,]|[^\s{}[\]:,"]+)/y;
  let depth = 0, prev = "", name = "";
  for (let m; (m = tokens.exec(json)) !== null;) {
    const t = m[1]!;
    if (depth === 1 && prev === ":" && INTEGER_CLAIMS.has(name) && !INTEGER.test(t)) return false;
    if (t === "{" || t === "[") depth++;
    else if (t === "}" || t === "]") depth--;
    else if (depth === 1 && t[0] === '"' && (prev === "{" || prev === ",")) name = (JSON.parse(t) as string).toLowerCase();
    prev = t;
  }
  return true;
}

/**
 * Whether ext, a token's custom claims, binds its session to a device key
 * (DBSC): a dbsc member with an id and a key thumbprint, as the server's
 * Session.DeviceBinding reads it.
 */
function deviceBound(ext: unknown): boolean {
  if (typeof ext !== "object" || ext === null) return false;
  const d = (ext as Record<string, unknown>).dbsc;
  if (typeof d !== "object" || d === null || Array.isArray(d)) return false;
  const b = d as Record<string, unknown>;
  return typeof b.id === "string" && b.id !== "" && typeof b.jkt === "string" && b.jkt !== "";
}

// RFC 3339 as Go's time.Time reads it from JSON. Date.parse alone takes
// "2099", "Jan 1 2099" and times without a zone (read as local time), which
// the Go verifier refuses: the two would apply different revocations.
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/;

function parseTime(s: unknown): number {
  if (typeof s !== "string" || !RFC3339.test(s)) return NaN;
  return Date.parse(s);
}

function validRevoked(r: unknown): r is Revoked {
  if (typeof r !== "object" || r === null || Array.isArray(r)) return false;
  const x = r as Record<string, unknown>;
  return typeof x.session_id === "string" && x.session_id !== "" && x.session_id.length <= 128 && !Number.isNaN(parseTime(x.until));
}

function validWatermark(w: unknown): w is Watermark {
  if (typeof w !== "object" || w === null || Array.isArray(w)) return false;
  const x = w as Record<string, unknown>;
  const hasSubject = typeof x.subject === "string" && x.subject !== "";
  const all = x.all === true;
  return hasSubject !== all && (x.subject === undefined || typeof x.subject === "string") &&
    (x.all === undefined || typeof x.all === "boolean") && !Number.isNaN(parseTime(x.issued_before));
}

/** Verifies sessiond access tokens locally. Create it with createVerifier. */
export class Verifier {
  readonly #o: Required<Omit<VerifierOptions, "logger" | "now">> & { logger: Logger; now: () => number };
  // A clock that only moves forward, in ms, for intervals: now when the
  // caller set it (tests), else the monotonic clock, so that a wall clock
  // stepped back cannot keep a state whose stream is down looking current
  // past maxStalenessMs (as the Go verifier's ticks).
  readonly #ticks: () => number;
  readonly #base: string;
  #keys: ReturnType<typeof createLocalJWKSet> | null = null;
  #kids = new Set<string>();
  #lastFetch = 0;
  #fetching: Promise<void> | null = null;
  #retired = new Map<string, number>();
  #revoked = new Map<string, number>(); // session ID → until (ms)
  #all = 0;
  #subjects = new Map<string, number>();
  #cache = new Map<string, Checked>();
  // Counts cache purges (a key retired or gone from the JWKS): a token
  // whose signature check began before one is not cached after it.
  #generation = 0;
  #cursor = "";
  #lastSync = 0; // wall clock, for status() and logs
  #syncTick = -Infinity; // #ticks at the last proof that the state is current (none: stale)
  #broken = false;
  #lastWarn = -Infinity; // #ticks at the last stale warning
  #connected = false;
  #snapshots = 0;
  #beats = 0; // heartbeats applied
  #abort = new AbortController();
  #loop: Promise<void> | null = null;

  constructor(opts: VerifierOptions) {
    let u: URL;
    try {
      u = new URL(opts.url);
    } catch {
      throw new TypeError("url: not a URL");
    }
    if ((u.protocol !== "http:" && u.protocol !== "https:") || u.username || u.password || u.search || u.hash) {
      throw new TypeError("url: must be an http or https base URL without credentials, query or fragment");
    }
    for (const f of ["apiKey", "issuer", "audience"] as const) {
      if (typeof opts[f] !== "string" || opts[f] === "") throw new TypeError(`${f}: is required`);
    }
    // As in the Go verifier's Options, 0 (or unset) is the default for
    // every duration and for cacheSize: a 0 taken as given fired
    // requestTimeoutMs and idleTimeoutMs at once, made the state always
    // stale and fetched the JWKS for every token of an unknown kid.
    const rawLeeway: unknown = opts.leewaySeconds ?? 0;
    if (!(typeof rawLeeway === "number" && rawLeeway >= 0 && rawLeeway <= 60)) throw new TypeError("leewaySeconds: must be between 0 and 60");
    const leeway = rawLeeway || 5;
    if (opts.whenStale !== undefined && opts.whenStale !== "reject" && opts.whenStale !== "accept") {
      throw new TypeError('whenStale: must be "reject" or "accept"');
    }
    for (const f of ["maxStalenessMs", "idleTimeoutMs", "minRefetchIntervalMs", "requestTimeoutMs"] as const) {
      // NaN (a Number() of "30s") compares false: never stale, a Retry-After
      // waited for no time. setTimeout fires at once past 2^31-1 ms.
      const v: unknown = opts[f];
      const most = f === "idleTimeoutMs" ? MAX_TIMER_MS : Number.MAX_SAFE_INTEGER;
      if (v !== undefined && !(typeof v === "number" && v >= 0 && v <= most)) {
        throw new TypeError(`${f}: must be a number of milliseconds between 0 and ${most}`);
      }
    }
    const cacheSize: unknown = opts.cacheSize ?? 0;
    // NaN or Infinity never evicted anything.
    if (!(typeof cacheSize === "number" && Number.isSafeInteger(cacheSize))) {
      throw new TypeError("cacheSize: must be a whole number, 0 for the default, negative for none");
    }
    const maxEntries: unknown = opts.maxSnapshotEntries ?? 0;
    if (!(typeof maxEntries === "number" && Number.isSafeInteger(maxEntries) && maxEntries >= 0)) {
      throw new TypeError("maxSnapshotEntries: must be a whole number, 0 for the default");
    }
    this.#o = {
      url: opts.url,
      apiKey: opts.apiKey,
      issuer: opts.issuer,
      audience: opts.audience,
      leewaySeconds: leeway,
      maxStalenessMs: opts.maxStalenessMs || 30_000,
      whenStale: opts.whenStale ?? "reject",
      idleTimeoutMs: opts.idleTimeoutMs || 30_000,
      minRefetchIntervalMs: opts.minRefetchIntervalMs || 1000,
      cacheSize: cacheSize || 10_000,
      requestTimeoutMs: opts.requestTimeoutMs || 10_000,
      maxSnapshotEntries: maxEntries || DEFAULT_MAX_SNAPSHOT_ENTRIES,
      logger: opts.logger ?? {
        warn: (m, a) => console.warn(m, a ?? {}),
        error: (m, a) => console.error(m, a ?? {}),
      },
      now: opts.now ?? Date.now,
    };
    this.#ticks = opts.now ?? (() => performance.now());
    this.#base = opts.url.replace(/\/+$/, "");
    if (u.protocol === "http:" && !loopback(u.hostname)) {
      this.#o.logger.warn(
        "sessiond verifier: sessiond is reached over plain HTTP: anyone on the network path can read the API key and swap the JWKS for keys of their own, whose tokens this verifier would accept; use https, or a loopback address",
        { host: u.host },
      );
    }
  }

  /** Fetches the JWKS and the snapshot, then follows the stream until close(). */
  async start(): Promise<void> {
    await this.#fetchKeys();
    await this.#loadSnapshot();
    this.#loop = this.#follow();
  }

  /** Stops following the stream. verify() keeps working on the state it has. */
  async close(): Promise<void> {
    this.#abort.abort();
    await this.#loop;
  }

  status(): Status {
    return { connected: this.#connected, lastSync: new Date(this.#lastSync), stale: this.#stale(), revoked: this.#revoked.size, snapshots: this.#snapshots };
  }

  /**
   * Verifies an access token: its spelling (canonical base64url), signature
   * (JWKS), claims (typ at+jwt, iss, aud, exp, iat, session expiry), then
   * revoked sessions and watermarks, then staleness. Rejects with a
   * VerifyError; never logs the token. The access token of a device-bound
   * browser session (DBSC) is invalid_token: only the gateway, which sees
   * its bound cookie, can tell the browser from a thief.
   */
  async verify(token: string): Promise<Claims> {
    if (typeof token !== "string" || token.length === 0 || token.length > MAX_TOKEN_BYTES) {
      throw new VerifyError("invalid_token", "empty or oversized token");
    }
    const now = this.#o.now();
    const leewayMs = this.#o.leewaySeconds * 1000;
    let c: Claims;
    let bound: boolean;
    const hit = this.#cache.get(token);
    if (hit) {
      // A purge clears the cache, but check the key too: the kill switch
      // must end every token of a retired key, whatever got cached when.
      if (this.#retired.has(hit.kid) || !this.#kids.has(hit.kid)) {
        this.#cache.delete(token);
        throw new VerifyError("invalid_token", "unknown or retired kid");
      }
      if (now >= hit.claims.expiresAt.getTime() + leewayMs) {
        this.#cache.delete(token);
        throw new VerifyError("expired", "the token has expired");
      }
      c = hit.claims;
      bound = hit.bound;
    } else {
      const generation = this.#generation;
      const checked = await this.#verifySignature(token, now);
      // A purge during the check (key_retired, a JWKS without the key):
      // the answer may stand for this call, but is not remembered.
      if (generation === this.#generation) this.#remember(token, checked);
      c = checked.claims;
      bound = checked.bound;
    }
    if (now >= c.sessionExpiresAt.getTime() + leewayMs) {
      throw new VerifyError("absolute_timeout", "the session has reached its absolute lifetime");
    }
    if (this.#isRevoked(c)) throw new VerifyError("revoked", "the session is revoked");
    if (this.#stale()) {
      if (this.#o.whenStale === "reject") throw new VerifyError("stale", "revocation state is stale");
      // Spaced on #ticks, as staleness is measured: on the wall clock, one
      // stepped back by N silenced the warning for N more.
      const tick = this.#ticks();
      if (tick - this.#lastWarn >= 60_000) {
        this.#lastWarn = tick;
        this.#o.logger.warn("sessiond verifier: revocation state is stale; accepting tokens as configured (whenStale: accept)", {
          lastSync: new Date(this.#lastSync).toISOString(),
        });
      }
      c = { ...c, stale: true };
    }
    // After staleness, as the Go verifier's ErrDPoPRequired: a bound token
    // while the state is stale may be revoked, and is answered 503.
    if (bound) throw new BoundTokenError("invalid_token", "the token is bound to a key (DPoP); this verifier does not check DPoP proofs");
    return c;
  }

  /** Express/Connect middleware: 401 without a valid token, 503 when stale; sets req.sessiond to the claims. */
  middleware(): (req: any, res: any, next: (err?: unknown) => void) => void {
    return (req, res, next) => {
      // Two Authorization headers are refused: a proxy in front and this
      // app could each read a different one. (Node keeps the first of
      // duplicates in req.headers; headersDistinct has them all.)
      const all: unknown = req.headersDistinct?.authorization;
      const h: unknown = Array.isArray(all) && all.length > 1 ? undefined : req.headers?.authorization;
      const m = typeof h === "string" ? /^bearer +([^\s]+)$/i.exec(h) : null;
      const deny = (status: number, headers: Record<string, string | string[]>, body: string) => {
        res.statusCode = status;
        for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
        res.setHeader("Content-Type", "text/plain; charset=utf-8");
        res.end(body);
      };
      // A bound token, as Bearer or with the DPoP scheme (whatever its
      // proof: none is checked here), gets the Go verifier's challenge and
      // a body that says why, not "an access token is required".
      const denyBound = () =>
        deny(401, { "WWW-Authenticate": `DPoP realm="api", error="invalid_token", ${dpopAlgs}` }, boundTokenText);
      // The DPoP scheme in the Go verifier's order: exactly one proof,
      // then the token (a stale state answers 503), and only then the
      // refusal of a proof this verifier cannot check.
      const d = typeof h === "string" ? /^dpop +([^\s]+)$/i.exec(h) : null;
      if (d) {
        const proofs: unknown = req.headersDistinct?.dpop ?? (req.headers?.dpop === undefined ? [] : [req.headers.dpop]);
        if (!Array.isArray(proofs) || proofs.length !== 1) {
          deny(401, { "WWW-Authenticate": `DPoP realm="api", error="invalid_dpop_proof", ${dpopAlgs}` }, "exactly one DPoP proof is required");
          return;
        }
      } else if (!m || !m[1]) {
        // Both schemes' challenges, as Go's (RFC 9110 §11.6.1: one header each).
        deny(401, { "WWW-Authenticate": ['Bearer realm="api"', `DPoP realm="api", ${dpopAlgs}`] }, "an access token is required");
        return;
      }
      this.verify((d ?? m)![1]!).then(
        (claims) => {
          if (d) {
            // An unbound token sent as DPoP: Go's ErrNotBound, no proof
            // looked at, so answered exactly as Go's (it is no bound token).
            deny(401, { "WWW-Authenticate": `DPoP realm="api", error="invalid_token", ${dpopAlgs}` }, "the access token is not valid");
            return;
          }
          req.sessiond = claims;
          next();
        },
        (err: unknown) => {
          if (err instanceof VerifyError && err.code === "stale") {
            deny(503, { "Retry-After": "5" }, "cannot check revocations right now");
          } else if (err instanceof BoundTokenError) {
            denyBound();
          } else if (err instanceof VerifyError) {
            const challenge = d ? `DPoP realm="api", error="invalid_token", ${dpopAlgs}` : 'Bearer realm="api", error="invalid_token"';
            deny(401, { "WWW-Authenticate": challenge }, "the access token is not valid");
          } else {
            next(err);
          }
        },
      );
    };
  }

  #stale(): boolean {
    return this.#broken || this.#ticks() - this.#syncTick > this.#o.maxStalenessMs;
  }

  #isRevoked(c: Claims): boolean {
    if (this.#revoked.has(c.sessionId)) return true;
    const auth = c.authTime.getTime();
    if (this.#all !== 0 && auth <= this.#all) return true;
    const t = this.#subjects.get(c.subject);
    return t !== undefined && auth <= t;
  }

  #remember(token: string, c: Checked): void {
    if (this.#o.cacheSize <= 0) return;
    if (this.#cache.size >= this.#o.cacheSize) {
      // Map keeps insertion order: drop the oldest eighth.
      let n = Math.max(1, Math.floor(this.#o.cacheSize / 8));
      for (const k of this.#cache.keys()) {
        if (n-- <= 0) break;
        this.#cache.delete(k);
      }
    }
    this.#cache.set(token, c);
  }

  #purge(): void {
    this.#generation++;
    this.#cache.clear();
  }

  async #verifySignature(token: string, now: number): Promise<Checked> {
    if (!canonical(token)) throw new VerifyError("invalid_token", "not a JWS in canonical base64url (three segments, no padding, whitespace or stray bits)");
    let header;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new VerifyError("invalid_token", "not a JWS");
    }
    for (const k of Object.keys(header)) {
      if (!ALLOWED_HEADERS.has(k)) throw new VerifyError("invalid_token", "header not accepted");
    }
    // Exactly as sessiond writes it: jose compares typ case-insensitively.
    if (header.typ !== "at+jwt" && header.typ !== "application/at+jwt") {
      throw new VerifyError("invalid_token", "not an access token (typ)");
    }
    const kid = header.kid;
    if (typeof kid !== "string" || kid === "" || this.#retired.has(kid)) {
      throw new VerifyError("invalid_token", "unknown or retired kid");
    }
    // A fetch under way may bring the kid, however recently it started:
    // wait for it (the Go verifier does), rather than refuse the token.
    if (!this.#kids.has(kid) && (this.#fetching !== null || this.#ticks() - this.#lastFetch >= this.#o.minRefetchIntervalMs)) {
      await this.#fetchKeys().catch((err: unknown) => this.#o.logger.warn("sessiond verifier: JWKS refetch", { err: String(err) }));
    }
    if (!this.#kids.has(kid) || !this.#keys) throw new VerifyError("invalid_token", "unknown or retired kid");
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.#keys, {
        issuer: this.#o.issuer,
        audience: this.#o.audience,
        typ: "at+jwt",
        algorithms: ["EdDSA", "ES256"],
        clockTolerance: this.#o.leewaySeconds,
        currentDate: new Date(now),
        requiredClaims: ["exp", "iat", "sub", "jti"],
      }));
    } catch (err) {
      if (err instanceof joseErrors.JWTExpired) throw new VerifyError("expired", "the token has expired");
      throw new VerifyError("invalid_token", "the token is not valid");
    }
    const p = payload as Record<string, unknown>;
    const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : null);
    const num = (v: unknown) => (typeof v === "number" && Number.isInteger(v) && v > 0 ? v : null);
    const sid = str(p.sid), sub = str(p.sub), jti = str(p.jti), sst = str(p.sst);
    const iat = num(p.iat), exp = num(p.exp), authTime = num(p.auth_time);
    const sessExp = num(p.sess_exp);
    if (!sid || !sub || !jti || !iat || !exp || exp < iat || !authTime || !sessExp ||
      p.client_id !== this.#o.audience || (sst !== "hybrid" && sst !== "jwt") ||
      (p.ext !== undefined && (typeof p.ext !== "object" || p.ext === null || Array.isArray(p.ext))) ||
      !integerClaims(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8"))) {
      throw new VerifyError("invalid_token", "a required claim is missing or wrong");
    }
    // jose checks iat only with maxTokenAge; the Go verifier refuses a token
    // issued in the future (past the leeway), and so does this one.
    if (iat > Math.floor(now / 1000) + this.#o.leewaySeconds) {
      throw new VerifyError("invalid_token", "the token is issued in the future");
    }
    // Bound to the client's DPoP key (RFC 9449): valid only with a proof,
    // which this verifier does not check. Fail closed, in verify.
    const bound = p.cnf !== undefined;
    if (deviceBound(p.ext)) {
      // The server's introspection answers it inactive: a copied cookie.
      throw new VerifyError("invalid_token",
        "the token belongs to a device-bound (DBSC) browser session: it authenticates only with its bound cookie, at the gateway, not as a bearer token");
    }
    const claims: Claims = {
      subject: sub,
      sessionId: sid,
      tokenId: jti,
      strategy: sst,
      issuedAt: new Date(iat * 1000),
      expiresAt: new Date(exp * 1000),
      authTime: new Date(authTime * 1000),
      sessionExpiresAt: new Date(sessExp * 1000),
      persistent: p.persistent === true,
      custom: (p.ext as Record<string, unknown> | undefined) ?? null,
      stale: false,
    };
    return { claims, kid, bound };
  }

  /**
   * GETs a JSON document, the JWKS or the snapshot (what names it in
   * errors). requestTimeoutMs bounds the wait for the headers, then for
   * each 4 KiB of body (Progress), not the whole transfer. The caller reads
   * body to its end, or calls done.
   */
  async #request(path: string, accept: string, auth: boolean, what: string):
    Promise<{ res: Response; body: AsyncIterable<Uint8Array>; done: () => void }> {
    const headers: Record<string, string> = { Accept: accept };
    if (auth) headers.Authorization = `Bearer ${this.#o.apiKey}`;
    const p = new Progress(this.#o.requestTimeoutMs, this.#abort.signal, what);
    let res: Response;
    try {
      res = await fetch(this.#base + path, { headers, signal: p.signal, redirect: "manual" });
    } catch (e) {
      p.stop();
      if (p.signal.aborted && p.signal.reason instanceof Error) throw p.signal.reason;
      // fetch fails with a TypeError ("fetch failed"), the class that a bad
      // option throws: a caller could not tell a sessiond not reachable
      // yet from a mistake in its configuration.
      throw new Error(`${what}: ${describe(e)}`, { cause: e });
    }
    p.started();
    const raw = (res.body ?? []) as unknown as AsyncIterable<Uint8Array>;
    return {
      res,
      body: bodyErrors(p.body(raw), what),
      done: () => {
        p.stop();
        void res.body?.cancel().catch(() => {});
      },
    };
  }

  /** Reads a body of at most limit bytes, and stops reading past it. */
  async #readLimited(body: AsyncIterable<Uint8Array>, limit: number): Promise<string> {
    const chunks: Uint8Array[] = [];
    let n = 0;
    for await (const chunk of body) {
      n += chunk.byteLength;
      if (n > limit) throw new Error(`answer over ${limit} bytes`);
      chunks.push(chunk);
    }
    return new TextDecoder("utf-8", { fatal: true }).decode(Buffer.concat(chunks));
  }

  #fetchKeys(): Promise<void> {
    this.#fetching ??= (async () => {
      try {
        this.#lastFetch = this.#ticks();
        const { res, body, done } = await this.#request("/.well-known/jwks.json", "application/json", false, "jwks");
        let text: string;
        try {
          if (res.status !== 200) throw new Error(`jwks: status ${res.status}`);
          const ct = (res.headers.get("content-type") ?? "").split(";")[0]!.trim();
          if (ct !== "application/json" && ct !== "application/jwk-set+json") throw new Error(`jwks: content type ${JSON.stringify(ct)}`);
          text = await this.#readLimited(body, 1 << 20);
        } finally {
          done();
        }
        const doc = JSON.parse(text) as unknown;
        if (typeof doc !== "object" || doc === null || !Array.isArray((doc as { keys?: unknown }).keys)) throw new Error("jwks: not a JWK set");
        const keys = ((doc as JSONWebKeySet).keys).filter(
          (k) => typeof k.kid === "string" && k.kid !== "" && !this.#retired.has(k.kid) && (k.use === undefined || k.use === "sig") &&
            (k.alg === "EdDSA" || k.alg === "ES256"),
        );
        const kids = new Set(keys.map((k) => k.kid as string));
        for (const kid of this.#kids) {
          if (!kids.has(kid)) this.#purge();
        }
        this.#keys = createLocalJWKSet({ keys });
        this.#kids = kids;
      } finally {
        this.#fetching = null;
      }
    })();
    return this.#fetching;
  }

  async #loadSnapshot(): Promise<void> {
    const { res, body, done } = await this.#request("/v1/revocations/snapshot", "application/json", true, "snapshot");
    const ct = (res.headers.get("content-type") ?? "").split(";")[0]!.trim();
    if (res.status !== 200 || ct !== "application/json") {
      done();
      throw new Error(res.status !== 200 ? `snapshot: status ${res.status}` : `snapshot: content type ${JSON.stringify(ct)}`);
    }
    // Entry by entry as the body arrives (snapshot.ts); the state changes
    // only once all of it is read and valid.
    let revoked = new Map<string, number>();
    let marks: Watermark[] = [];
    const splitter = new SnapshotSplitter(this.#o.maxSnapshotEntries, (list) => {
      if (list === "revocations") revoked = new Map();
      else marks = [];
    }, (list, v) => {
      if (list === "revocations") {
        if (!validRevoked(v)) throw new Error("snapshot: not a revocation snapshot");
        revoked.set(v.session_id, Math.max(revoked.get(v.session_id) ?? 0, parseTime(v.until)));
      } else {
        if (!validWatermark(v)) throw new Error("snapshot: not a revocation snapshot");
        marks.push(v);
      }
    });
    let snap: Snapshot;
    try {
      snap = (res.body ? await splitBody(body, splitter) : null) as Snapshot;
    } catch (e) {
      if (e instanceof SyntaxError || e instanceof TypeError) throw new Error("snapshot: not a revocation snapshot");
      throw e;
    } finally {
      done();
    }
    if (typeof snap !== "object" || snap === null || !Array.isArray(snap.revocations) || !Array.isArray(snap.watermarks) ||
      typeof snap.cursor !== "string" || !isCursor(snap.cursor)) {
      throw new Error("snapshot: not a revocation snapshot");
    }
    this.#revoked = revoked;
    this.#snapshots++;
    for (const w of marks) this.#raise(w);
    this.#cursor = snap.cursor;
    this.#markSynced();
  }

  #raise(w: Watermark): void {
    const t = parseTime(w.issued_before);
    if (w.all) {
      this.#all = Math.max(this.#all, t);
    } else if (w.subject) {
      this.#subjects.set(w.subject, Math.max(this.#subjects.get(w.subject) ?? 0, t));
    }
  }

  #markSynced(): void {
    this.#lastSync = this.#o.now();
    this.#syncTick = this.#ticks();
    this.#broken = false;
  }

  // Reconnects with backoff, doubling from 100 ms to 5 s, jittered, or
  // after the Retry-After of a 429 or 503 when that is longer. It starts
  // over only after a connection that brought a heartbeat: a stream
  // that ends before one (a reset, a proxy's empty answer) is a failure to
  // back off from, or a reset that repeats would reload the snapshot ten
  // times a second (as the Go verifier does).
  async #follow(): Promise<void> {
    let backoff = 100;
    while (!this.#abort.signal.aborted) {
      let err: unknown = null;
      const beats = this.#beats;
      try {
        await this.#connect();
      } catch (e) {
        err = e;
      }
      this.#connected = false;
      if (this.#abort.signal.aborted) return;
      if (this.#beats !== beats) backoff = 100;
      if (err instanceof ResetSignal) {
        try {
          await this.#fetchKeys();
          await this.#loadSnapshot();
        } catch (e) {
          this.#o.logger.error("sessiond verifier: snapshot after reset", { err: String(e) });
        }
      } else if (err instanceof BehindError) {
        this.#o.logger.warn("sessiond verifier: revocation stream falls behind the server's log; reconnecting", { err: err.message });
      } else if (err instanceof ProtocolError || err instanceof MalformedStreamError) {
        this.#broken = true; // fail closed: the state may miss what could not be read
        this.#o.logger.error("sessiond verifier: unreadable revocation stream; revocation state is stale until it recovers", { err: err.message });
      } else if (err) {
        this.#o.logger.warn("sessiond verifier: revocation stream interrupted", { err: describe(err) });
      }
      let delay = backoff / 2 + Math.random() * (backoff / 2);
      if (err instanceof RefusedError && err.retryAfterMs > delay) {
        // No sooner than the server asked; the jitter keeps verifiers it
        // refused together from returning at the same instant.
        delay = Math.min(err.retryAfterMs, retryCapMs(this.#o.maxStalenessMs, MAX_BACKOFF_MS)) + Math.random() * (backoff / 2);
      }
      await sleep(delay, this.#abort.signal);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
    }
  }

  async #connect(): Promise<void> {
    const conn = new AbortController();
    const onAbort = () => conn.abort();
    this.#abort.signal.addEventListener("abort", onAbort, { once: true });
    let idled = false;
    let idle = setTimeout(() => { idled = true; conn.abort(); }, this.#o.idleTimeoutMs);
    const resetIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => { idled = true; conn.abort(); }, this.#o.idleTimeoutMs);
    };
    try {
      const headers: Record<string, string> = { Accept: "text/event-stream", Authorization: `Bearer ${this.#o.apiKey}` };
      if (this.#cursor) headers["Last-Event-ID"] = this.#cursor;
      const res = await fetch(this.#base + "/v1/revocations/stream", { headers, signal: conn.signal, redirect: "manual" });
      if (res.status !== 200) {
        await res.body?.cancel();
        if (res.status === 429 || res.status === 503) {
          const ms = retryAfterMs(res.headers.get("retry-after"), this.#o.now());
          throw new RefusedError(`stream: status ${res.status}${ms > 0 ? `, retry after ${ms / 1000} s` : ""}`, ms);
        }
        throw new Error(`stream: status ${res.status}`);
      }
      const ct = (res.headers.get("content-type") ?? "").split(";")[0]!.trim();
      if (ct !== "text/event-stream") {
        await res.body?.cancel();
        throw new ProtocolError(`stream: content type ${JSON.stringify(ct)}`);
      }
      if (!res.body) throw new ProtocolError("stream: no body");
      this.#connected = true;
      const dec = new SSEDecoder();
      const text = new UTF8Stream();
      const lag = new LagMeter(); // per connection: another node has another clock
      for await (const chunk of res.body) {
        for (const b of dec.push(text.decode(chunk as Uint8Array))) {
          // Only sessiond's words (events and heartbeats carry an id) keep
          // the connection: a proxy's keep-alive comments, or bytes
          // dripping in, say nothing of the node behind it.
          if (b.id !== "") resetIdle();
          this.#apply(b, lag);
        }
      }
      dec.push(text.decode());
      dec.end();
    } catch (e) {
      if (idled) throw new Error(`stream: nothing received for ${this.#o.idleTimeoutMs} ms`);
      throw e;
    } finally {
      clearTimeout(idle);
      this.#abort.signal.removeEventListener("abort", onAbort);
    }
  }

  /** Applies one block; the cursor moves only past what was applied. */
  #apply(b: Block, lag: LagMeter): void {
    if (b.id !== "" && !isCursor(b.id)) throw new ProtocolError("id is not a cursor");
    if (b.name === "") {
      if (b.data !== null || !b.comment) throw new ProtocolError("a block with data but no event name");
      // sessiond's heartbeat follows the catch-up and carries a cursor; a
      // comment a proxy adds to keep the connection open says nothing of
      // the state.
      if (!b.id) return;
      // A heartbeat that arrives much further behind the server's log than
      // this connection's fastest proves only that the path is slow: it is
      // not taken, and the connection is dropped as a silent one would be.
      const behind = lag.behind(this.#ticks(), cursorMillis(b.id));
      if (behind > this.#o.idleTimeoutMs) {
        throw new BehindError(`stream: a heartbeat arrived ${Math.round(behind)} ms further behind the server's log than this connection's fastest (idleTimeoutMs ${this.#o.idleTimeoutMs})`);
      }
      this.#cursor = b.id;
      this.#beats++;
      this.#markSynced();
      // Heartbeats prune too (as in Go): after a mass logout and then
      // quiet, no event would ever drop the expired entries.
      this.#prune();
      return;
    }
    if (b.id === "") throw new ProtocolError(`event ${JSON.stringify(b.name.slice(0, 32))} has no id`);
    const data = (): unknown => {
      if (b.data === null || b.data === "") throw new ProtocolError("event without data");
      try {
        return JSON.parse(b.data);
      } catch {
        throw new ProtocolError("event data is not JSON");
      }
    };
    switch (b.name) {
      case "revoked": {
        const r = data();
        if (!validRevoked(r)) throw new ProtocolError("revoked: bad data");
        this.#revoked.set(r.session_id, Math.max(this.#revoked.get(r.session_id) ?? 0, parseTime(r.until)));
        break;
      }
      case "watermark": {
        const w = data();
        if (!validWatermark(w)) throw new ProtocolError("watermark: bad data");
        this.#raise(w);
        break;
      }
      case "key_retired": {
        const k = data() as { kid?: unknown } | null;
        if (typeof k !== "object" || k === null || typeof k.kid !== "string" || k.kid === "" || k.kid.length > 256) {
          throw new ProtocolError("key_retired: bad data");
        }
        this.#retired.set(k.kid, this.#o.now());
        this.#kids.delete(k.kid);
        this.#purge();
        this.#fetchKeys().catch((e: unknown) => this.#o.logger.warn("sessiond verifier: JWKS refetch", { err: String(e) }));
        break;
      }
      case "reset":
        throw new ResetSignal();
      default:
        throw new ProtocolError(`unknown event ${JSON.stringify(b.name.slice(0, 32))}`);
    }
    this.#cursor = b.id;
    this.#prune();
  }

  #pruned = 0;
  #prune(): void {
    const now = this.#o.now();
    if (now - this.#pruned < 60_000) return;
    this.#pruned = now;
    // Kept past its until by this verifier's leeway, which accepts tokens
    // that long past their expiry (sessiond's until allows only its own).
    const horizon = now - this.#o.leewaySeconds * 1000;
    for (const [id, until] of this.#revoked) if (until < horizon) this.#revoked.delete(id);
    for (const [kid, at] of this.#retired) if (at < now - 86_400_000) this.#retired.delete(kid);
  }
}

/** Creates a verifier, fetches the JWKS and the snapshot, and starts following the stream. */
export async function createVerifier(opts: VerifierOptions): Promise<Verifier> {
  const v = new Verifier(opts);
  await v.start();
  return v;
}
