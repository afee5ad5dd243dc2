export { SSEDecoder, MalformedStreamError, isCursor } from "./sse.js";
export type { Block } from "./sse.js";
/** Why Verify refused a token. */
export type VerifyErrorCode = "invalid_token" | "expired" | "revoked" | "absolute_timeout" | "stale";
export declare class VerifyError extends Error {
    readonly code: VerifyErrorCode;
    name: string;
    constructor(code: VerifyErrorCode, message: string);
}
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
    /** Clock-skew allowance in seconds (default 5, at most 60). */
    leewaySeconds?: number;
    /** Milliseconds without word from the stream before whenStale applies (default 30000). */
    maxStalenessMs?: number;
    /** What to do past maxStaleness: "reject" (default) or "accept" with a warning. */
    whenStale?: StalePolicy;
    /** Drop a stream connection silent for this long, in ms (default 30000). */
    idleTimeoutMs?: number;
    /** Minimum ms between JWKS fetches on an unknown kid (default 1000). */
    minRefetchIntervalMs?: number;
    /** Verified tokens kept to skip the signature check (default 10000, 0 disables). */
    cacheSize?: number;
    /** Timeout of JWKS and snapshot requests in ms (default 10000). */
    requestTimeoutMs?: number;
    /** Where connection trouble and stale warnings go (default: console). */
    logger?: Logger;
    /** The clock, in ms since the epoch (default Date.now). */
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
    sessionExpiresAt: Date | null;
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
}
/** Verifies sessiond access tokens locally. Create it with createVerifier. */
export declare class Verifier {
    #private;
    constructor(opts: VerifierOptions);
    /** Fetches the JWKS and the snapshot, then follows the stream until close(). */
    start(): Promise<void>;
    /** Stops following the stream. verify() keeps working on the state it has. */
    close(): Promise<void>;
    status(): Status;
    /**
     * Verifies an access token: signature (JWKS), claims (typ at+jwt, iss,
     * aud, exp, iat, session expiry), then revoked sessions and watermarks,
     * then staleness. Rejects with a VerifyError; never logs the token.
     */
    verify(token: string): Promise<Claims>;
    /** Express/Connect middleware: 401 without a valid token, 503 when stale; sets req.sessiond to the claims. */
    middleware(): (req: any, res: any, next: (err?: unknown) => void) => void;
}
/** Creates a verifier, fetches the JWKS and the snapshot, and starts following the stream. */
export declare function createVerifier(opts: VerifierOptions): Promise<Verifier>;
