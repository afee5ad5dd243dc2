package sessiond

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"time"
)

// TokenKind tells access tokens from refresh tokens.
type TokenKind uint8

// Token kinds.
const (
	KindAccess  TokenKind = 1 // an access token (opaque session token in the database strategy)
	KindRefresh TokenKind = 2
	KindAPIKey  TokenKind = 3 // a server API key (never stored as a Token)
	// KindLoginKey is a login's idempotency key, hashed, stored with the
	// session it made (LoginRetry); never presented, never a credential.
	KindLoginKey TokenKind = 4
)

func (k TokenKind) String() string {
	switch k {
	case KindAccess:
		return "access"
	case KindRefresh:
		return "refresh"
	case KindAPIKey:
		return "api key"
	case KindLoginKey:
		return "login key"
	}
	return "unknown"
}

// TokenHash is the SHA-256 of a token's full text. Stores keep only this.
type TokenHash [sha256.Size]byte

// HashToken returns the storage hash of a token.
func HashToken(s Secret) TokenHash {
	var buf [512]byte // hashing from a stack copy keeps the verify path allocation-free
	if len(s) <= len(buf) {
		n := copy(buf[:], s)
		return sha256.Sum256(buf[:n])
	}
	return sha256.Sum256([]byte(s))
}

// Equal compares two hashes in constant time.
func (h TokenHash) Equal(o TokenHash) bool { return subtle.ConstantTimeCompare(h[:], o[:]) == 1 }

// Token is a stored opaque token: its hash and its state, never its value.
type Token struct {
	Hash      TokenHash
	Kind      TokenKind
	SessionID SessionID
	IssuedAt  time.Time
	ExpiresAt time.Time
	// RetiredAt is when a refresh token was swapped for its successor;
	// zero while it is current. Retired tokens are kept until their session
	// is deleted, so presenting one again is recognised as reuse.
	RetiredAt time.Time
}

// RefreshSwap is one refresh-token rotation, applied atomically by
// Store.SwapRefresh.
type RefreshSwap struct {
	Old  TokenHash // the token presented
	Next Token     // its successor (Kind refresh, same session)
	Now  time.Time // when Old is retired
	// GraceSince: an Old already retired at or after this time still swaps
	// (the benign race of two tabs refreshing at once); one retired earlier
	// makes the swap fail with ErrRefreshReused.
	GraceSince time.Time
	// Activity written to the session in the same step.
	LastActiveAt  time.Time
	IdleExpiresAt time.Time
	// Events and Deliveries are the durable records of this change (its
	// session.refreshed event, that event's webhook outbox entries). A
	// store that implements ChangeEventWriter writes them in the swap's own
	// transaction, or not at all when the swap fails; other stores ignore
	// them and the Manager records the event after the swap, as before.
	Events     []Event
	Deliveries []Delivery
}

// Revocation is a revoked session as the revoked-session set needs it.
type Revocation struct {
	SessionID SessionID
	Subject   string
	RevokedAt time.Time
	ExpiresAt time.Time // the session's absolute expiry
	Reason    RevokeReason
}

// Store keeps sessions and the hashes of their opaque tokens. Implementations
// must be safe for concurrent use, return copies (callers may keep what they
// get), translate driver errors at their boundary (ErrNotFound, ErrConflict,
// ErrStoreUnavailable) and pass sessiondtest.TestStore. They check their
// arguments with the shared checks (CheckNewSession, RefreshSwap.Validate,
// CheckLimit…), so every store refuses the same input the same way.
//
// Every method, and every method of the optional interfaces, also keeps
// these rules (TestStore checks them on the twelve methods, the
// extensions' suites where they apply):
//
//   - Errors match the root sentinels with errors.Is, wrapped with context
//     as the store likes; a failure of the store itself (a lost
//     connection, a driver error) is ErrStoreUnavailable, which the
//     Manager counts and the server answers 503. A method that fails
//     changes nothing, unless its doc comment says otherwise.
//   - A call whose context is canceled or past its deadline fails with
//     that context's error (context.Canceled, context.DeadlineExceeded)
//     or ErrStoreUnavailable, and changes nothing. Never with an answer
//     such as ErrNotFound: the Manager would report an unknown token, and
//     a client drops a session that is fine.
//   - After Close, every method fails with ErrStoreUnavailable.
//   - Times come in UTC, truncated to the microsecond, and go back
//     unchanged (time.Equal), never rounded to the millisecond: the
//     Manager tells whether its Revoke revoked a session by comparing
//     RevokedAt with its own time, and the refresh grace and the
//     expiries are compared to the microsecond.
//   - A session's Claims are stored as the bytes given (never
//     re-encoded), and its other fields as given.
//   - A subject (List, RevokeSubject, and the extensions' subject
//     arguments) matches the exact string stored, byte for byte: no case
//     folding, Unicode normalisation or trimming (no _ci collation), and
//     no character is a wildcard or a pattern (SQL LIKE's % and _, Redis
//     glob characters and {hash tags}). Subjects are the application's
//     user IDs: "Alice" and "alice" may be two users, and a logout of
//     every session of one must not end the other's.
//   - A session is live at now when it is not revoked and now is before
//     both its IdleExpiresAt and its ExpiresAt, as Session.Live says: an
//     expiry equal to now is over. What reads or revokes "live" sessions
//     (List, RevokeSubject, SubjectClients, CountLive…) uses exactly this.
//   - A session ID the store does not hold, whatever its form (empty,
//     too long, not of NewSessionID's alphabet, in another case), is
//     ErrNotFound, never ErrInvalidArgument or a driver error.
//
// These twelve methods are all a store needs for the Manager to create,
// verify, refresh, list and revoke sessions. A store may offer more through
// optional interfaces, found by type assertion (as database/sql/driver
// does). Each has its own conformance suite in sessiondtest, which
// TestStore runs when the store implements it. Without one:
//
//   - Limiter (atomic per-subject limits): sessiond.New fails with
//     ErrUnsupported if Options.MaxSessions is set.
//   - MetaStore (shared documents): the incident watermarks stay on this
//     node and are not polled; the server refuses to start (it keeps the
//     signing keys and API keys there).
//   - BulkRevoker (the incident kill switch): Manager.RevokeMatching fails
//     with ErrUnsupported in the database and hybrid strategies, before
//     it raises any watermark: nothing is revoked or refused.
//   - EventLog (the durable security event log): events still reach
//     Options.Events, but nothing keeps them; the server's GET /v1/events
//     answers 404 and retention skips the log.
//   - Outbox (durable webhook deliveries): the server refuses to start with
//     webhooks configured.
//   - OutboxFencer (outbox.go, an outcome written only while its claim
//     holds the delivery): the webhook dispatcher records outcomes with
//     FinishDelivery, so a node that stalls past its lease overwrites the
//     outcome of the node that claimed the delivery after it (a delivered
//     delivery shown dead, or put back pending and sent again).
//   - LiveCounter (the active-sessions gauge): the server exports no
//     sessiond_sessions_active metric.
//   - RevocationNotifier (the cross-node revocation feed, which a hybrid
//     Manager subscribes to in New unless Options.NoRevocationFeed): a
//     hybrid node learns of revocations made on other nodes only when it
//     calls Manager.Resync, so until then their access tokens keep
//     verifying there (up to the access-token lifetime).
//   - MetaNotifier (the same feed carrying "this shared document changed"):
//     a node learns of incident watermarks raised on another node only at
//     its next poll (Options.WatermarkPoll, default 1s).
//   - WindowCounter (counters shared by every node): failed refreshes are
//     counted in this process's memory only (Options.RefreshFailures).
//   - ReplayGuard (one-time keys shared by every node): DPoP proof IDs,
//     DBSC challenges and Shared Signals SET IDs are remembered in each
//     node's memory only, so a replay to another node is not refused.
//   - AckedReplayGuard (replayacked.go, a one-time key that waits for
//     replicas): DBSC challenges and Shared Signals SET IDs are recorded
//     with RememberOnce, so a failover to a lagging replica can forget the
//     last of them and let each be used once more.
//   - MetaDeleter (metadelete.go, deleting a shared document): nothing is
//     deleted; the Shared Signals transmitter keeps the empty poll queue
//     of every deleted stream.
//   - SubjectClientLister (the clients of a subject's sessions, read
//     without the rest of them): Manager.RevokeSubject reads them with
//     List, every session in full (claims included) at once, so a subject
//     with very many sessions costs that much memory.
//   - SubjectPager (subjectpage.go, a subject's sessions a bounded page at
//     a time): the concurrent-login check after every login, a login the
//     session limit refuses under an incident watermark, and a replayed
//     refresh token of a rotated session read the subject's sessions with
//     List, all of them in full, so their cost grows with the subject's
//     sessions.
//   - RevocationPager (revocationpage.go, what Revocations returns read a
//     bounded page at a time): the revocation stream's snapshot reads
//     Revocations whole, every revocation since the access lifetime
//     held in memory while the document is written (after a mass logout
//     of 1,000,000 sessions, 330–590 MB per snapshot answered).
//   - SubjectBatchRevoker (subjectbatches.go, a subject's sessions revoked
//     a batch at a time, each with its records): Manager.RevokeSubject
//     revokes them in one call (RevokeSubject, or RevokeSubjectRecorded),
//     after reading their clients.
//   - ChangeEventWriter and its recorders (ChangeRecorder,
//     SubjectChangeRecorder, TouchRecorder in event.go; MetaChangeRecorder
//     in metarecorded.go, for the API key set): a change's events and
//     webhook deliveries are recorded after the change, not in its
//     transaction, so a crash or a full disk between the two can lose
//     them.
//
// Every store sessiond ships implements all of them, except that memstore
// and sqlitestore, which serve one process, have no feed (RevocationNotifier,
// MetaNotifier), that only redisstore, whose replicas lag, is an
// AckedReplayGuard, and that only redisstore, which runs one script at a
// time, is a SubjectBatchRevoker.
type Store interface {
	// Create stores a new session with its tokens, all or nothing.
	// ErrConflict if the session ID or a token hash already exists, or a
	// hash is repeated within the call; ErrInvalidArgument if a token's
	// SessionID is not s.ID (CheckNewSession). A session given already
	// revoked (RevokedAt set: an import, a migration) is stored revoked
	// and is a revocation like any other: Revocations returns it.
	Create(ctx context.Context, s *Session, tokens ...Token) error
	// Get returns the session, revoked or expired ones included: the
	// Manager answers ErrRevoked or a timeout from what it reads, where
	// ErrNotFound would be an unknown session. ErrNotFound. A store may
	// forget a session once its absolute expiry has passed by the wall
	// clock (redisstore's keys expire then), before DeleteExpired; the
	// Manager then treats it as unknown (a token of it is
	// session.unknown_id, not session.expired).
	Get(ctx context.Context, id SessionID) (*Session, error)
	// Lookup returns the token with hash h, as stored (its Kind and
	// RetiredAt included), and its session in one step. ErrNotFound when
	// no such token exists. It returns a retired token, one past its own
	// expiry and one whose session is revoked or expired (Get's wall-clock
	// caveat aside) like any other: the Manager decides from them, and a
	// retired refresh token presented again is reuse (a theft) only if
	// Lookup still finds it. Tokens, retired ones included, stay until
	// DeleteExpired deletes their session.
	Lookup(ctx context.Context, h TokenHash) (Token, *Session, error)
	// Touch records activity on a session that is not revoked.
	// ErrNotFound if it does not exist; ErrRevoked if it is revoked,
	// decided atomically with the write (nothing is written), so that a
	// revocation landing between the caller's check and the touch still
	// wins. Activity never moves back: LastActiveAt and IdleExpiresAt
	// each keep the later of the stored and the given time, decided in
	// the same atomic step, so a node whose clock is behind cannot
	// shorten a session that a node ahead has just extended. It writes
	// those two fields only: a store that reads the session and writes
	// the whole record back (a get and an unconditional put) undoes a
	// revocation landing between the two, and the Manager then accepts
	// a session its user logged out of.
	Touch(ctx context.Context, id SessionID, lastActive, idleExpires time.Time) error
	// SwapRefresh atomically retires sw.Old (if current) and stores
	// sw.Next as the session's only current refresh token: any other
	// current refresh token of the session (a sibling issued by an earlier
	// swap within the grace window) is retired at sw.Now too, so one token
	// never forks into several live chains. It also writes the session's
	// activity, never moving it back and writing nothing else of the
	// session (as Touch: a Revoke landing while swaps run holds once they
	// are done). It fails, and then nothing changes (no token retired or
	// stored, no activity, none of sw.Events or sw.Deliveries written),
	// with the first of these that applies:
	//   - ErrInvalidArgument: sw fails RefreshSwap.Validate (Next is not
	//     a refresh token, say);
	//   - ErrNotFound: Old is not a stored refresh token (an access
	//     token's hash is ErrNotFound too);
	//   - ErrInvalidArgument: sw.Next is not a token of Old's session
	//     (RefreshSwap.CheckSession): stored, it would refresh into
	//     another session;
	//   - ErrRevoked: Old's session is revoked. The store decides this in
	//     the swap's own atomic step, so a revocation that lands after the
	//     caller checked the session but before the swap still refuses it;
	//   - ErrRefreshReused: Old was retired and not within the grace
	//     (RefreshSwap.InGrace): retired before sw.GraceSince, or at any
	//     time when GraceSince is not before Now (no grace at all, so an
	//     Old retired at that very instant is reuse).
	// A swap within grace leaves Old's first RetiredAt as it is (the
	// grace is measured from it). An Old retired and past its own expiry
	// is still ErrRefreshReused, not ErrNotFound: a thief replaying it
	// late must be caught (the Manager checks expiries before it swaps).
	// It fails with ErrConflict if sw.Next's hash
	// exists; a store may find that before or after ErrRevoked and
	// ErrRefreshReused (a successor's hash is fresh and random, so only a
	// caller's mistake repeats one). Under any number of concurrent calls
	// with the same Old and a zero grace, exactly one succeeds; with a
	// grace, all may succeed but exactly one Next is left current.
	SwapRefresh(ctx context.Context, sw RefreshSwap) error
	// Revoke marks the session revoked (RevokedAt at, RevokeReason
	// reason) and returns it. It revokes a session past either expiry
	// too: a hybrid session's access tokens verify without the store
	// until they end, whatever its idle expiry, so a logout after the
	// idle timeout must still reach the revoked set (and Revocations).
	// Revoking a revoked session changes nothing and returns it as it is,
	// with its first time and reason: the Manager compares those with its
	// own to tell whether its call revoked it, and records the
	// session.revoked event only then. ErrNotFound.
	Revoke(ctx context.Context, id SessionID, at time.Time, reason RevokeReason) (*Session, error)
	// RevokeSubject revokes every session of subject live at `at` (see
	// Store: not revoked, before both expiries), except the one with ID
	// except (may be empty), with RevokedAt at and RevokeReason reason,
	// and returns a Revocation for each session it revoked, none for one
	// revoked before. A store may revoke them in
	// batches (redisstore does, so that no script holds Redis for long),
	// so the call need not be one step: a session live for the whole call
	// is revoked, one created or revoked during the call may or may not
	// be, and on an error part way the batches before it stay revoked.
	RevokeSubject(ctx context.Context, subject string, except SessionID, at time.Time, reason RevokeReason) ([]Revocation, error)
	// List returns the subject's live sessions at now (not revoked, before
	// both expiries), in full (claims and client included), oldest
	// (CreatedAt) first, as a non-nil slice (empty when there are none).
	// A store may read them in
	// batches (redisstore does, so that no script holds Redis for long),
	// so the result need not be one snapshot: a session live for the
	// whole call is in it, one created, revoked or expired during the
	// call may or may not be.
	List(ctx context.Context, subject string, now time.Time) ([]*Session, error)
	// Revocations returns sessions revoked at or after since whose absolute
	// expiry is after since: what a node needs to rebuild its revoked set,
	// and what the revocation stream's snapshot sends to verifiers. It
	// returns a revocation whichever way the store made it: Revoke,
	// RevokeSubject, Create of a revoked session, and the extensions'
	// ways (a Limiter's evictions, the recorders, a SubjectBatchRevoker's
	// batches, the kill switch); so does a RevocationPager's
	// PageRevocations. One left out is a logout other nodes and
	// verifiers never hear of after a restart or a reconnect.
	Revocations(ctx context.Context, since time.Time) ([]Revocation, error)
	// DeleteExpired deletes up to limit sessions (with all their tokens,
	// retired ones included, whose hashes a later Create may then store
	// again) whose absolute or idle expiry is before `before` (an expiry
	// equal to it is kept), revoked or not, and returns how many. It
	// returns limit while as many or more are left to delete: the
	// Manager calls it again until it returns fewer. ErrInvalidArgument
	// if limit is not positive (CheckLimit).
	DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error)
	// Ping reports whether the store answers: nil, or an error matching
	// ErrStoreUnavailable or the context's.
	Ping(ctx context.Context) error
	// Close releases the store's resources. Closing twice is harmless;
	// after Close every method fails with ErrStoreUnavailable.
	Close() error
}

// RevocationNotifier is implemented by stores that can tell every node of a
// revocation made on any node (PostgreSQL LISTEN/NOTIFY, Redis pub/sub).
type RevocationNotifier interface {
	// SubscribeRevocations calls fn for every revocation until ctx ends.
	// After a reconnect it calls resync, so the caller can catch up with
	// Store.Revocations. It returns once the subscription is established.
	SubscribeRevocations(ctx context.Context, fn func(Revocation), resync func()) error
}

// MetaNotifier is implemented by RevocationNotifier stores whose feed also
// carries notices that a MetaStore document changed, so every node reloads
// it at once instead of at its next poll. The Manager publishes one each
// time it raises the incident watermarks (the kill switch) and reloads them
// when it hears one; its poll stays as the fallback.
//
// Notices are best effort: one may be lost while a subscription reconnects
// (the subscription then calls Feed.Resync, after which a subscriber
// reloads everything it follows) or delivered twice, so reloading must be
// idempotent. A notice names the document, never its content: subscribers
// read the document itself with GetMeta.
type MetaNotifier interface {
	RevocationNotifier
	// PublishMeta tells every subscription made with SubscribeFeed on the
	// store's data, on every node (this one included), that the document
	// name changed. The name must pass CheckMetaName. It returns once the
	// notice is handed to the store (it does not wait for subscribers).
	PublishMeta(ctx context.Context, name string) error
	// SubscribeFeed is SubscribeRevocations with a callback for meta
	// notices too: f.Revoked for every revocation, f.Resync after a
	// reconnect, f.MetaChanged for every notice published by PublishMeta.
	// A nil callback ignores what it would be told. A subscription made
	// with SubscribeRevocations is never told of meta notices.
	SubscribeFeed(ctx context.Context, f Feed) error
}

// Feed is what one subscription to a store's cross-node feed is told (see
// MetaNotifier). The callbacks run on the store's goroutines and must
// return promptly.
type Feed struct {
	Revoked     func(Revocation) // a session was revoked on some node
	Resync      func()           // the feed reconnected: notices may have been lost
	MetaChanged func(name string)
}

// WindowCounter is an optional Store extension: fixed-window counters shared
// by every node on the store. The Manager counts failed refreshes per
// subject in it, and per session those refused for the client's clock
// (Options.RefreshFailures), so a limit holds however the
// attempts are spread over the nodes.
type WindowCounter interface {
	// Incr adds one to key's count and returns the count and when its
	// window ends. When key has no window, or its window ended at or
	// before now, a new one starts: count 1, ending at now+window.
	// Concurrent calls for one key, from any node, each return a
	// different count. key must pass CheckCounter (as must window). A
	// store may forget a window once it has ended.
	Incr(ctx context.Context, key string, now time.Time, window time.Duration) (count int64, resetAt time.Time, err error)
}

// TokenClaims are what a signed (JWT) token says about its session.
type TokenClaims struct {
	ID               string // jti, unique per token
	SessionID        SessionID
	Subject          string
	Strategy         Strategy
	IssuedAt         time.Time
	ExpiresAt        time.Time
	AuthTime         time.Time // when the session was created
	SessionExpiresAt time.Time // the session's absolute expiry
	Persistent       bool
	Claims           json.RawMessage // custom claims, a JSON object or nil
	// KeyThumbprint is the cnf.jkt of a key-bound access token (RFC 9449
	// section 6.1), "" when unbound. Verify need not return it: the binding
	// also travels in Claims.
	KeyThumbprint string
	// StepUp: the anomaly rules asked for a new sign-in when the token was
	// issued (a refresh from another browser); every verify of it reports
	// Verification.StepUp.
	StepUp bool
}

// SignedTokens issues and checks self-contained tokens (implemented by
// jwttoken). Verify must check signature, type, issuer, audience and time
// against now, and return an error matching ErrInvalidToken or ErrExpired;
// with ErrExpired (and only then) it returns the token's claims as well, so
// an expired token can still name its session for revocation.
type SignedTokens interface {
	Sign(kind TokenKind, c TokenClaims) (Secret, error)
	Verify(kind TokenKind, tok Secret, now time.Time) (TokenClaims, error)
	// Leeway is the clock-skew allowance Verify grants past ExpiresAt.
	Leeway() time.Duration
}

// OpaqueTokens makes and parses opaque tokens (implemented by opaquetoken).
type OpaqueTokens interface {
	// New returns a fresh token of kind and its storage hash.
	New(kind TokenKind) (Secret, TokenHash, error)
	// Parse checks tok's format, kind and checksum without any I/O and
	// returns its storage hash, or an error matching ErrInvalidToken.
	Parse(kind TokenKind, tok Secret) (TokenHash, error)
}

// Limiter is implemented by stores that enforce a per-subject limit on live
// sessions atomically, so concurrent logins cannot overshoot it.
type Limiter interface {
	// CreateLimited stores s and its tokens like Create, after making room:
	// when the subject already has max or more live sessions at s.CreatedAt,
	// with evict it revokes (reason ReasonLimit, at s.CreatedAt) the least
	// recently active ones until max-1 remain (at most MaxLimitEvictions,
	// below) and returns them, each as Revocations reports it (the evicted
	// session's own subject and absolute expiry: the Manager keeps it in
	// its revoked set until then); without evict it stores nothing,
	// revokes nothing and fails with ErrLimitReached. On any other error
	// it changes nothing either. With max 1 and evict, a login revokes every
	// other session ("single" mode), that many at most. Under any
	// number of concurrent calls for one subject the limit holds.
	//
	// One call evicts at most MaxLimitEvictions sessions: a subject far
	// over max (the limit was lowered, or set where there was none) comes
	// down by that many per login, and a login never leaves it with more
	// live sessions than it found. While the subject has more than
	// LimitRead(max) live sessions a store may choose the evicted among
	// LimitRead(max) of them rather than among all (redisstore: those that
	// end first; sqlitestore: those stored first; pgstore: those created
	// first; memstore: any), so that such a login does not read them all
	// (docs/PERFORMANCE.md, "Session limits").
	CreateLimited(ctx context.Context, s *Session, max int, evict bool, tokens ...Token) ([]Revocation, error)
}

// MaxLimitEvictions bounds the sessions one Limiter.CreateLimited evicts,
// so that a login of a subject far over its limit is not one script or
// transaction revoking (and recording) all of them, which on Redis holds
// every client meanwhile. 128 is the batch RevokeSubject revokes a script.
const MaxLimitEvictions = 128

// LimitRead is how many of a subject's live sessions a limited login
// with limit lim needs to read at most: enough to see the limit reached
// and to evict a full batch, and 1,024 at least. A store without an index
// by activity, which would read all of a subject far over a lowered limit
// to find its least recently active, reads this many in an order of its
// own and evicts the least recently active of those (see Limiter).
func LimitRead(lim int) int { return max(1024, lim-1+MaxLimitEvictions) }

// ReplayGuard is an optional Store extension: one-time keys with an expiry,
// shared by every node on the store. The dpop package keeps DPoP proof
// identifiers (jti) in it so that a proof replayed to another node is
// refused too. RememberOnce records key until until and reports false when
// key is already recorded and not expired at now; concurrent calls for one
// key return true at most once. A store that expires records by its own
// clock (redisstore) keeps each at least until-now from the call, so a
// caller whose clock is behind the store's does not lose it early. A call that reports false changes nothing:
// the replay's until, earlier or later, never replaces the record's. Keys are short printable strings (the
// caller hashes what it remembers); an empty key is ErrInvalidArgument and
// records nothing (CheckReplayKey). Implemented by every store sessiond
// ships: memstore, redisstore, pgstore and sqlitestore; and in one
// process's memory by ReplayMemory.
type ReplayGuard interface {
	RememberOnce(ctx context.Context, key string, now, until time.Time) (fresh bool, err error)
}

// MetaStore keeps small named documents every node of a cluster must share:
// the signing key ring and the API keys. Versions make updates a
// compare-and-swap, so two nodes rotating keys at once cannot both win.
type MetaStore interface {
	// GetMeta returns the document and its version. ErrNotFound.
	GetMeta(ctx context.Context, name string) (value []byte, version int64, err error)
	// PutMeta stores value if the document's version is still version (0:
	// it must not exist yet) and returns the new version; otherwise it
	// changes nothing and fails with ErrConflict.
	PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error)
}

// SubjectClientLister is an optional Store extension: the client of each
// of a subject's live sessions, read without the rest of the session.
// Manager.RevokeSubject reads them before it revokes (unless the store is
// a SubjectBatchRevoker, whose batches name their clients), so that the
// session.revoked event of each session names the client it was issued
// to. Without it the Manager reads them with List: every session in full,
// claims included, at once (for 100,000 sessions with 4 KB of claims, a
// heap peak of about 600 MB).
//
// Every store sessiond ships implements it.
// sessiondtest.TestSubjectClientLister is its conformance suite, which
// TestStore runs when a store implements it.
type SubjectClientLister interface {
	// SubjectClients returns the ID and client of every session of
	// subject live at now, the sessions List returns (not revoked, before
	// both expiries), as a new map: empty, not nil, when there are none.
	// It holds IDs and clients only, never whole sessions. A store may
	// read them in batches (redisstore does, so that no script holds
	// Redis for long), so the result need not be one snapshot: a session
	// live for the whole call is in it, one created, revoked or expired
	// during the call may or may not be.
	SubjectClients(ctx context.Context, subject string, now time.Time) (map[SessionID]Client, error)
}

// LiveCounter is implemented by stores that can count live sessions
// cheaply enough for a metrics scrape (the active-sessions gauge).
type LiveCounter interface {
	// CountLive returns how many sessions are neither revoked nor expired
	// at now, by strategy.
	CountLive(ctx context.Context, now time.Time) (map[Strategy]int, error)
}
