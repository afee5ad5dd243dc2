package sessiond

import (
	"context"
	"log/slog"
	"time"
)

// Options configure a Manager. Zero values take the documented defaults.
type Options struct {
	// Strategy: database, jwt or hybrid. Default hybrid.
	Strategy Strategy
	// Store is required for database and hybrid (the default). The jwt strategy keeps
	// no sessions; given a Store that is a MetaStore it reads and writes
	// only the incident watermarks there.
	Store Store
	// Signed issues and checks JWTs; required for jwt and hybrid. If it
	// reports its longest token (MaxTokenLifetime() time.Duration, as
	// jwttoken.Codec does), New checks it covers the longest token the
	// strategy signs: Lifetimes.Access in hybrid, Lifetimes.Refresh in jwt.
	Signed SignedTokens
	// Opaque makes and parses opaque tokens (database and hybrid). Default
	// OpaqueCodec{} (the same as opaquetoken.Codec{}).
	Opaque OpaqueTokens
	// Lifetimes; the zero value means Preset("b2c").
	Lifetimes Lifetimes
	// TouchInterval: a database-strategy session is written back at most
	// this often on verify. Default 1 minute; negative writes it back on
	// every verify. A write-back the store fails as unavailable (it reads
	// but cannot write: a full disk) does not fail the verify; the
	// session keeps its stored idle expiry.
	TouchInterval time.Duration
	// ReuseInterval: a retired refresh token presented again within this
	// window (two tabs refreshing at once) still succeeds, in the same
	// family. Default 5 seconds; negative disables it. It is judged by the
	// clock of the Manager serving the second use against the retirement
	// time another Manager's clock stamped, so with several Managers on
	// one store it must exceed the skew between their clocks.
	ReuseInterval time.Duration
	// NoRotation keeps a hybrid refresh token for the session's life
	// instead of replacing it on every refresh. Weaker: a stolen refresh
	// token then works until the session ends. The validator flags it.
	NoRotation bool
	// NoReuseDetection makes a retired refresh token presented again merely
	// invalid, instead of revoking its whole session. The validator flags it.
	NoReuseDetection bool
	// VerifyCacheSize bounds the cache of verified JWTs. Default 65536;
	// negative disables the cache.
	VerifyCacheSize int
	// RefreshCacheSize bounds the hybrid grant cache: refresh tokens this
	// node stored, with their session, so presenting one here skips the
	// store's Lookup (the swap still decides). Default 65536; negative
	// disables it. Entries live at most the access-token lifetime.
	RefreshCacheSize int
	// GCInterval: how often expired sessions are deleted in the background.
	// Default 1 minute; negative disables the collector (the in-process
	// revoked set still forgets what is past as it grows).
	GCInterval time.Duration
	// GCBatch: sessions deleted per store call. Default 1000.
	GCBatch int
	// MaxSessions limits the live sessions of one subject; 0 means no
	// limit. The store must implement Limiter.
	MaxSessions int
	// LimitPolicy says what a login over MaxSessions does: LimitEvictOldest
	// (default) revokes the least recently active session, LimitReject
	// fails with ErrLimitReached, LimitSingle revokes every other session
	// of the subject whatever MaxSessions says. A login evicts at most
	// MaxLimitEvictions: a subject far over the limit (lowered, or set
	// where there was none) comes down that many a login.
	LimitPolicy LimitPolicy
	// WatermarkPoll: how often a node reads incident watermarks set by
	// other nodes (stores implementing MetaStore). Default 1s; negative
	// disables polling. On a store that is a MetaNotifier (pgstore,
	// redisstore) the feed tells every node of a kill switch at once, and
	// the poll is only the fallback for a lost notice.
	WatermarkPoll time.Duration
	// NoRevocationFeed: by default a hybrid Manager on a store that is a
	// RevocationNotifier (pgstore, redisstore) subscribes to it in New, so
	// a session revoked on another node stops verifying here at once, and
	// reloads recent revocations when the feed reconnects; on a store that
	// is also a MetaNotifier, a Manager of any strategy subscribes, and
	// publishes and hears the incident watermarks on it. Close ends the
	// subscription. Set it to wire the feed yourself (NoteRevoked, Resync),
	// or to run a single node. Without the feed, another node's revocation
	// reaches this node's access tokens only when they expire, and another
	// node's kill switch only at the next WatermarkPoll.
	NoRevocationFeed bool
	// RefreshFailures limits failed refreshes per subject: once a subject's
	// refreshes have failed Max times in a window of length Window, each
	// further failed refresh of that subject in the window returns a
	// *RateLimitError (ErrRateLimited, with when the window ends) in place
	// of its own error. The windows are counted in the store when it is a
	// WindowCounter (pgstore, redisstore: every node shares them), else in
	// this process. Only a failure of a genuine token counts (its session
	// is known: revoked, expired, reused, a failed proof or check); a
	// malformed or unknown token names no subject, and a challenge
	// (ErrChallenge) or a proof by the session's key refused for its time
	// alone (ErrClockSkew) is the client's to meet, not a guess; nor is a
	// store's failure (ErrStoreUnavailable, ErrConflict) counted. The
	// ErrClockSkew refusals are counted per session instead, under the
	// same limit: past it that session's are ErrRateLimited, the
	// subject's other sessions untouched (a stolen refresh token with an
	// old proof of the key, refused the same way, is bounded). A refresh
	// that succeeds is never refused, so a client looping on a dead token
	// cannot lock its user out. The zero value limits nothing.
	RefreshFailures FailureLimit
	// EventIPPrefixes: how many leading bits of a client's address the
	// events keep (their client and details.issued_to, in the EventSink
	// and in the log line of each); the zero value keeps whole addresses.
	// Sessions keep theirs whole while they live: the anomaly rules and
	// a subject's list of devices compare with it.
	EventIPPrefixes IPPrefixes
	// Clock; default SystemClock.
	Clock Clock
	// Events receives lifecycle and security events; nil records nothing
	// beyond the log.
	Events EventSink
	// Anomalies, if set, evaluates the client of every verify and refresh
	// that carries one (see docs/anomaly.md for which rules can run in
	// which strategy).
	Anomalies AnomalyChecker
	// VerifyObserver, if set, is called after every Verify with its error
	// (nil on success) and duration: the hook for metrics.
	VerifyObserver func(err error, elapsed time.Duration)
	// DeviceProofRefusedObserver, if set, is called for every
	// EventDeviceProofRefused handed to Record, with its details.stage,
	// whether or not the bound on those events lets it through: the hook
	// for metrics, which count every refusal while the events (a log line
	// and a webhook delivery each) are bounded. It runs on the caller's
	// goroutine, so it must be safe for concurrent use and return promptly.
	DeviceProofRefusedObserver func(stage string)
	// StoreErrorObserver, if set, is called for every store call the
	// Manager makes, its background loops' included, that fails with an
	// error matching ErrStoreUnavailable, or ErrConflict (the store gave
	// up on concurrent changes, or found a duplicate; tell the two apart
	// with errors.Is): op is the Store method in
	// snake_case (create, create_limited, get, lookup, touch,
	// swap_refresh, revoke, revoke_subject, revoke_matching, list,
	// revocations, delete_expired, get_meta, put_meta, publish_meta,
	// incr; a ChangeRecorder or TouchRecorder method reports the method it
	// stands for: create, create_limited, revoke, revoke_subject, touch).
	// A call the caller's deadline cut counts as one: the Manager returns
	// it as ErrStoreUnavailable (still matching context.DeadlineExceeded)
	// whatever the store said. It is the hook for metrics. A conflict the
	// Manager settles itself (a lost compare-and-swap of a shared document,
	// or a keyed login's duplicate when a concurrent login with its
	// Idempotency-Key took the same turn, tried again) is not reported;
	// one it gives up on after its tries (the
	// incident watermarks, put_meta) is, once. Other errors (ErrNotFound, ErrRevoked…)
	// are the store's answers, not failures of it, and are not reported.
	// It runs on the caller's goroutine, so it must be safe for concurrent
	// use and return promptly.
	StoreErrorObserver func(op string, err error)
	// Logger; nil discards.
	Logger *slog.Logger
	// Background loops the Manager starts at the end of New and joins in
	// Close: each runs until its context ends and must then return. Package
	// setup passes the shared key ring's poll loop here, so one Close stops
	// everything the Manager depends on.
	Background []func(ctx context.Context)

	// watermarkCallTimeout bounds each store call of the watermark loop;
	// zero means defaultWatermarkCallTimeout (tests set it shorter).
	watermarkCallTimeout time.Duration
}

// LimitPolicy is what happens when a subject reaches MaxSessions.
type LimitPolicy string

// Limit policies.
const (
	LimitEvictOldest LimitPolicy = "evict_oldest"
	LimitReject      LimitPolicy = "reject"
	LimitSingle      LimitPolicy = "single"
)

// Defaults of Options.
const (
	defaultTouchInterval    = time.Minute
	defaultReuseInterval    = 5 * time.Second
	defaultVerifyCacheSize  = 65536
	defaultRefreshCacheSize = 65536
	defaultGCInterval       = time.Minute
	defaultGCBatch          = 1000
	defaultWatermarkPoll    = time.Second
)

// withDefaults returns o with its zero values replaced by the documented
// defaults, and checks what can be checked without knowing the strategy's
// flow. Disabled durations (negative) stay negative, except ReuseInterval,
// which becomes 0 (no grace). The order of the checks decides which error a
// doubly wrong Options reports, and is kept stable.
func (o Options) withDefaults() (Options, error) {
	if o.Strategy == "" {
		o.Strategy = StrategyHybrid
	}
	if !o.Strategy.Valid() {
		return o, argError("strategy", "must be database, jwt or hybrid, got %q", string(o.Strategy))
	}
	if o.Lifetimes == (Lifetimes{}) {
		o.Lifetimes, _ = Preset(PresetB2C)
	}
	if err := o.Lifetimes.validate(); err != nil {
		return o, err
	}
	switch {
	case o.TouchInterval == 0:
		o.TouchInterval = defaultTouchInterval
	case o.TouchInterval < 0:
		o.TouchInterval = 0
	}
	switch {
	case o.ReuseInterval == 0:
		o.ReuseInterval = defaultReuseInterval
	case o.ReuseInterval < 0:
		o.ReuseInterval = 0
	}
	if o.Opaque == nil {
		o.Opaque = OpaqueCodec{}
	}
	if o.Clock == nil {
		o.Clock = SystemClock{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.VerifyCacheSize == 0 {
		o.VerifyCacheSize = defaultVerifyCacheSize
	}
	if o.RefreshCacheSize == 0 {
		o.RefreshCacheSize = defaultRefreshCacheSize
	}
	if o.GCInterval == 0 {
		o.GCInterval = defaultGCInterval
	}
	if o.GCBatch <= 0 {
		o.GCBatch = defaultGCBatch
	}
	if o.WatermarkPoll == 0 {
		o.WatermarkPoll = defaultWatermarkPoll
	}
	if err := o.RefreshFailures.validate("refresh_failures"); err != nil {
		return o, err
	}
	if err := o.EventIPPrefixes.validate(); err != nil {
		return o, err
	}
	for _, run := range o.Background {
		if run == nil {
			return o, argError("background", "must not hold a nil loop")
		}
	}
	return o, nil
}

// sessionLimit is MaxSessions and LimitPolicy resolved: at most max live
// sessions per subject (0: no limit); over it, evict the least recently
// active one (evict) or refuse the login.
type sessionLimit struct {
	max   int
	evict bool
}

// limit resolves MaxSessions and LimitPolicy.
func (o Options) limit() (sessionLimit, error) {
	var l sessionLimit
	switch o.LimitPolicy {
	case "", LimitEvictOldest:
		l = sessionLimit{max: o.MaxSessions, evict: true}
	case LimitReject:
		l = sessionLimit{max: o.MaxSessions}
	case LimitSingle:
		l = sessionLimit{max: 1, evict: true}
	default:
		return l, argError("limits.policy", "must be evict_oldest, reject or single, got %q", string(o.LimitPolicy))
	}
	if l.max < 0 {
		return l, argError("limits.max_sessions", "must not be negative")
	}
	return l, nil
}
