// Package redisstore is a sessiond.Store on Redis (7.0 or later, standalone
// or Cluster) through the rueidis client: Lua scripts make every
// multi-step change atomic, every session key carries a TTL so Redis
// expires dead sessions itself, revocations reach other nodes over
// pub/sub, and lookups can be served from a RESP3 client-side cache that
// Redis invalidates. It also keeps the security event log and the webhook
// outbox, each in a slot of its own. The key layout and its reasoning are
// in docs/redisstore.md.
package redisstore

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/feedwake"
)

var _ sessiond.Store = (*Store)(nil)

// Options configure a Store. The zero value is usable.
type Options struct {
	// Prefix starts every key and the revocation channel. Stores with the
	// same prefix on the same Redis share their sessions. Default "sd". It
	// must not contain '{' or '}', which would break the hash tags.
	Prefix string
	// Logger receives revocation-feed reconnects and malformed feed
	// messages. Nil discards them.
	Logger *slog.Logger
	// ClientCache, when positive, serves Lookup from a client-side cache
	// kept coherent by Redis (RESP3 CLIENT TRACKING): Redis pushes an
	// invalidation when a cached key changes, and an entry is never used
	// for longer than ClientCache, which bounds staleness if a push is
	// lost. Zero (the default) reads Redis on every Lookup.
	ClientCache time.Duration
	// ClientName is set with CLIENT SETNAME on every connection, so an
	// operator can tell this store's connections apart in CLIENT LIST.
	// Default: the URL's client_name parameter, or none.
	ClientName string
	// MaxEventAge is the safety net behind retention for the event log and
	// the webhook outbox, whose keys have no TTL: one write of events in
	// 16 (AppendEvents, or a change that carries its events) also deletes
	// up to 100 events whose Time is older than MaxEventAge by Redis's
	// clock, and one of deliveries in 16 up to 100 delivered or dead
	// deliveries last updated that long ago. Retention proper is
	// DeleteEventsBefore and DeleteDeliveriesBefore; keep MaxEventAge
	// above it. Default 400 days; negative turns the safety net off.
	MaxEventAge time.Duration
	// RevocationReplicas is how many replicas must have a revocation's
	// writes before the call that revokes returns (WAIT after each script
	// that revokes, on its connection): Redis replicates asynchronously,
	// and a revocation lost in a failover brings the session back to life
	// (docs/redisstore.md, "Revocations wait for a replica"). Zero (the
	// default) is one when the master, or any master of a Cluster, reports
	// a connected replica at New, else none; negative is none. PutMeta of
	// a document that revokes (RevokingMeta) waits too, as does
	// PutRevokingMeta; logins and refreshes never wait.
	RevocationReplicas int
	// RevocationWait bounds each wait for replicas. A wait that times out
	// (or fails) does not fail the revocation, which holds on the master:
	// it is logged as a warning and counted (UnackedRevocations). Default
	// 1s; it must not be negative.
	RevocationWait time.Duration
}

// defaultMaxEventAge is Options.MaxEventAge's default: above a year of
// retention.
const defaultMaxEventAge = 400 * 24 * time.Hour

// Store is a sessiond.Store on Redis. It also implements
// sessiond.RevocationNotifier, sessiond.Limiter, sessiond.MetaStore,
// sessiond.EventLog, sessiond.Outbox, sessiond.BulkRevoker,
// sessiond.LiveCounter and sessiond.SubjectBatchRevoker (a subject's
// sessions revoked a batch a script: subjectbatches.go). It is safe for
// concurrent use; every value it returns is a fresh copy.
type Store struct {
	client rueidis.Client
	// wake cuts short the feeds' reconnect backoff once the client sees
	// Redis answer again (closeGuard).
	wake     *feedwake.Waker
	log      *slog.Logger
	cacheTTL time.Duration
	recent   *recentWrites // nil unless cacheTTL > 0
	dec      *decoded      // nil unless cacheTTL > 0
	routes   *routes

	prefix string
	// The global indexes share the hash tag {prefix}, so one script can
	// keep them consistent.
	gcKey   string // sessions by earliest expiry, for DeleteExpired
	expKey  string // sessions by absolute expiry, to sweep the other two
	revKey  string // revoked sessions by revocation time, for Revocations
	channel string // revocation feed
	// Live sessions by strategy, for CountLive, in the same slot: the set
	// of strategies seen and the base of each strategy's live index.
	stratKey string
	liveBase string
	// crossSlot: one script may touch keys of any slot (not a Cluster),
	// so bulk work is batched by size rather than by slot.
	crossSlot bool

	// The event log and the webhook outbox, each under a hash tag of its
	// own: <prefix>:{<prefix>:ev}: and <prefix>:{<prefix>:ob}:.
	evBase      string
	obBase      string
	maxEventAge string // whole seconds, "0": no safety-net sweep
	// recKeys are the six record keys (recordKeys), built once.
	recKeys []string
	// written counts the sessions and records this store has written;
	// the sweeps run when it crosses a multiple of sweepEvery (sweepDue).
	written atomic.Uint64

	// pendingTags names the pending hash of each slot on a Cluster (nil
	// otherwise); holdPending (tests only) leaves a change's records
	// pending, as a node killed before it moved them would.
	pendingTags []string
	holdPending bool
	// killAfterRevoke (tests only) makes every change that revokes return
	// errKilled as soon as its script answers, sending nothing more, as a
	// node killed at that moment would (killedAfterRevoke).
	killAfterRevoke bool
	// observeBatch (tests only), when set, is told how many sessions each
	// script of a subject's walk revoked (revokeSubjectBatch, and the kill
	// switch's revokeSubjectsScript).
	observeBatch func(revoked int)
	// walkDepthFixed (tests only), when not zero, is how many scripts the
	// kill switch's walk keeps in flight instead of walkDepth's choice:
	// benchmarks compare the two on one host.
	walkDepthFixed int
	// failRecordAt (tests only): the record step of a subject batch on a
	// Cluster (revokeSubjectBatch) that brings it to zero fails, as one
	// whose Redis node is cut off after the batch's script would.
	failRecordAt atomic.Int32
	// cursorKey signs the cursors RevokeSubjectBatch returns (random, the
	// store's own: a cursor is for the walk of the store that returned it).
	cursorKey [32]byte
	// unrecorded holds the revocations of subject batches committed whose
	// record step failed (on a Cluster, the revocation index and the feed
	// are in another slot than the batch): the next batch, or the pending
	// sweep, records them (recordUnrecorded).
	unrecorded struct {
		mu   sync.Mutex
		revs []sessiond.Revocation
	}
	// moved queues the pending fields whose records have moved, for
	// deleteMovedLoop to delete (Cluster only).
	moved chan pending

	// ackReplicas is how many replicas a revocation waits for (0: none),
	// ackWait how long at most (execAcked); unacked counts the waits that
	// fell short.
	ackReplicas int64
	ackWait     time.Duration
	unacked     atomic.Uint64
	// oomRefused counts the calls Redis refused for want of memory;
	// oomLogged (unix ns) and oomReported space and number the log lines
	// that say so (noteOOM).
	oomRefused  atomic.Uint64
	oomReported atomic.Uint64
	oomLogged   atomic.Int64

	// ctx is canceled by Close; it ends the revocation feeds.
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New connects to the Redis at url (redis://[user:password@]host:port/db or
// rediss:// for TLS, as rueidis.ParseURL reads it) and checks that it
// answers. An unreachable server is ErrStoreUnavailable; a bad URL or
// option is ErrInvalidArgument.
func New(ctx context.Context, url string, opts Options) (*Store, error) {
	if opts.Prefix == "" {
		opts.Prefix = "sd"
	}
	if strings.ContainsAny(opts.Prefix, "{}") {
		return nil, fmt.Errorf("redisstore: %w", &sessiond.ArgumentError{Field: "prefix", Msg: "must not contain '{' or '}'"})
	}
	if opts.ClientCache < 0 {
		return nil, fmt.Errorf("redisstore: %w", &sessiond.ArgumentError{Field: "client_cache", Msg: fmt.Sprintf("must not be negative, got %s", opts.ClientCache)})
	}
	if err := checkRevocationWait(opts.RevocationWait); err != nil {
		return nil, err
	}
	if opts.RevocationWait == 0 {
		opts.RevocationWait = defaultRevocationWait
	}
	co, err := rueidis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", &sessiond.ArgumentError{Field: "url", Msg: urlErrorText(err)})
	}
	co.DisableCache = opts.ClientCache == 0
	if opts.ClientName != "" {
		co.ClientName = opts.ClientName
	}
	// Reads are retried twice on a broken connection, then the error goes
	// to the caller: rueidis would otherwise retry until ctx ends, and a
	// caller without a deadline would hang while Redis is down.
	co.RetryDelay = func(attempts int, _ rueidis.Completed, _ error) time.Duration {
		if attempts > 2 {
			return -1
		}
		return time.Duration(attempts) * 5 * time.Millisecond
	}
	var dec *decoded
	if opts.ClientCache > 0 {
		dec = newDecoded(opts.ClientCache)
		co.OnInvalidations = dec.onInvalidations
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// The URL's hosts before connecting, so that a store that cannot be
	// reached yet is reported too; then every host the client dials (a
	// Cluster's announced nodes).
	watch := newTransportWatch(log)
	watch.checkURL(co)
	wake := new(feedwake.Waker)
	guard := &closeGuard{wake: wake}
	co.DialCtxFn = watch.dialer(guard.dialer(co.DialCtxFn))
	client, err := connect(ctx, co)
	if err != nil {
		return nil, fmt.Errorf("redisstore: connect: %w: %s", sessiond.ErrStoreUnavailable, err)
	}
	guard.Client = client
	switch {
	case opts.MaxEventAge == 0:
		opts.MaxEventAge = defaultMaxEventAge
	case opts.MaxEventAge < 0:
		opts.MaxEventAge = 0
	}
	maxAge := int64(opts.MaxEventAge / time.Second)
	if opts.MaxEventAge > 0 && maxAge == 0 {
		maxAge = 1
	}
	s := &Store{
		client:   guard,
		wake:     wake,
		log:      log,
		cacheTTL: opts.ClientCache,
		prefix:   opts.Prefix,
		gcKey:    opts.Prefix + ":{" + opts.Prefix + "}:gc",
		expKey:   opts.Prefix + ":{" + opts.Prefix + "}:exp",
		revKey:   opts.Prefix + ":{" + opts.Prefix + "}:rev",
		channel:  opts.Prefix + ":revocations",
		routes:   newRoutes(routeCacheSize),

		stratKey:    opts.Prefix + ":{" + opts.Prefix + "}:strategies",
		liveBase:    opts.Prefix + ":{" + opts.Prefix + "}:live:",
		crossSlot:   client.Mode() != rueidis.ClientModeCluster,
		evBase:      opts.Prefix + ":{" + opts.Prefix + ":ev}:",
		obBase:      opts.Prefix + ":{" + opts.Prefix + ":ob}:",
		maxEventAge: itoa(maxAge),
		ackWait:     opts.RevocationWait,
	}
	rand.Read(s.cursorKey[:])
	s.recKeys = []string{s.evIDs(), s.evTime(), s.evOdd(), s.obDue(), s.obState(sessiond.DeliveryPending), s.obDone()}
	if s.cacheTTL > 0 {
		s.recent = newRecentWrites(time.Second)
		s.dec = dec
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if s.ackReplicas, err = s.revocationReplicas(ctx, opts.RevocationReplicas); err != nil {
		s.Close()
		return nil, err
	}
	// Said once at start: auto decides here, and a replica added later
	// counts only after a restart.
	s.log.Info("redisstore: revocations wait for replicas", "replicas", s.ackReplicas, "wait", s.ackWait.String())
	if !s.crossSlot {
		s.pendingTags = pendingTags()
		s.moved = make(chan pending, 4*movedBatch)
		s.wg.Add(2)
		go s.sweepPendingLoop()
		go s.deleteMovedLoop()
	}
	return s, nil
}

// loadingWait bounds how long New waits for Redis to finish loading a
// dataset when ctx has no earlier deadline.
const loadingWait = 30 * time.Second

// connect makes the client, trying again while Redis answers LOADING: a
// cluster client asks the first node that answers for the cluster's
// layout, and a replica in a full sync (or a server reading its file after
// a restart) refuses with LOADING although the cluster serves.
func connect(ctx context.Context, co rueidis.ClientOption) (rueidis.Client, error) {
	ctx, cancel := context.WithTimeout(ctx, loadingWait)
	defer cancel()
	for wait := 20 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		client, err := rueidis.NewClient(co)
		if re, ok := rueidis.IsRedisErr(err); err == nil || !ok || !re.IsLoading() {
			return client, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(wait):
		}
	}
}

// sweepEvery is how many written sessions and records one sweep of dead
// sessions (index_session) and of aged events and deliveries (aged) comes
// with, instead of every write doing one: those sweeps were a tenth of
// Redis's work per login and refresh while finding nothing almost every
// time. Each sweep removes up to 100, so they still remove garbage more
// than six times as fast as writes can add it, and no index grows without
// bound.
const sweepEvery = 16

// sweepDue counts n more sessions and records written (n ≥ 1) and reports
// whether the write that carries them is to sweep: whether the count
// crossed a multiple of sweepEvery. A write of sweepEvery or more always
// sweeps.
func (s *Store) sweepDue(n int) bool {
	u := uint64(max(n, 1))
	c := s.written.Add(u)
	return c/sweepEvery != (c-u)/sweepEvery
}

// urlErrorText describes a URL parse error without echoing the URL, which
// may hold a password: net/url's own messages quote the part it refused
// ("invalid port \":<password>\" after host" for a password with a '?').
func urlErrorText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return "invalid redis URL: it does not parse (percent-encode reserved characters such as '@', '?', '#', '/' or '%' in the password)"
	}
	return "invalid redis URL: " + err.Error()
}

// Ping asks the node that holds the store's own keys whether it answers.
// ErrStoreUnavailable if it does not, or answers LOADING. It is EXISTS on
// the revoked set, not PING: a cluster client sends a keyless command to
// any node, replicas too, and a replica in a full sync answers LOADING,
// which made startup and /readyz fail while the masters served.
func (s *Store) Ping(ctx context.Context) error {
	if s.ctx.Err() != nil {
		// A cluster client may still answer once closed.
		return wrap("ping", errClosed)
	}
	if err := s.client.Do(ctx, s.client.B().Exists().Key(s.revKey).Build()).Error(); err != nil {
		return s.fail("ping", err)
	}
	return nil
}

// Close ends the revocation feeds and closes the connections. Later calls
// fail with ErrStoreUnavailable. Closing twice is harmless.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.cancel()
		s.wg.Wait()
		s.client.Close()
	})
	return nil
}

// errClosed is what a method started after Close fails with, when rueidis
// would not say so itself.
var errClosed = fmt.Errorf("closed: %w", sessiond.ErrStoreUnavailable)

// fail translates an error from rueidis into the sessiond vocabulary, so no
// rueidis type escapes: nil reply → ErrNotFound; the caller's deadline,
// connection errors, a closed client and server error replies →
// ErrStoreUnavailable (nothing was decided); a canceled context stays
// context.Canceled.
func (s *Store) fail(op string, err error) error {
	switch {
	case rueidis.IsRedisNil(err):
		return fmt.Errorf("redisstore: %s: %w", op, sessiond.ErrNotFound)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("redisstore: %s: %w", op, context.Canceled)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("redisstore: %s: %w: %w", op, sessiond.ErrStoreUnavailable, context.DeadlineExceeded)
	}
	if isOOM(err) {
		s.noteOOM(op)
	}
	return fmt.Errorf("redisstore: %s: %w: %s", op, sessiond.ErrStoreUnavailable, err.Error())
}

// detached returns a context for the steps that must finish once a change
// is made (rollback, recording a revocation) even if the caller's context
// ends, bounded so a dead server cannot hold them forever.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
}

// ctxErr returns, named for op, ctx's error or else the first error of
// the argument checks, so a method does nothing once either fails.
func ctxErr(ctx context.Context, op string, checks ...error) error {
	if err := ctx.Err(); err != nil {
		return wrap(op, err)
	}
	for _, err := range checks {
		if err != nil {
			return wrap(op, err)
		}
	}
	return nil
}

// errKilled is what a change returns, right after its script, in a test
// that makes it stop there (killAfterRevoke).
var errKilled = errors.New("redisstore: stopped after the revocation's script (test)")

// killedAfterRevoke returns errKilled when a test makes changes stop right
// after their script (killAfterRevoke), nil otherwise.
func (s *Store) killedAfterRevoke() error {
	if s.killAfterRevoke {
		return errKilled
	}
	return nil
}

// wrap names the store and the operation in err.
func wrap(op string, err error) error { return fmt.Errorf("redisstore: %s: %w", op, err) }
