// Package pgstore is a sessiond.Store on PostgreSQL (jackc/pgx/v5 with a
// pool), for several sessiond nodes sharing one database. Migrations are
// embedded and applied by New; revocations reach every node through
// LISTEN/NOTIFY. docs/pgstore.md describes the schema and the statements.
package pgstore

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/feedwake"
)

var _ sessiond.Store = (*Store)(nil)

// Options configures a Store. The zero value is ready to use.
type Options struct {
	// Schema holds the store's tables and its migration record, and names
	// its notification channel, so several stores can share a database.
	// It is created if missing. Default "public".
	Schema string
	// Logger receives migration notices and listener reconnects. Nil
	// discards them.
	Logger *slog.Logger
	// MaxConns bounds the pool. Zero keeps the DSN's pool_max_conns, or
	// else the greater of 16 and four per CPU: a login or refresh spends
	// most of its time waiting for its commit to reach the disk, not on a
	// CPU, and concurrent commits share one WAL flush (docs/pgstore.md).
	MaxConns int32
	// WriteGroups bounds the group commits in flight at once. Fewer
	// groups carry more writes each, so PostgreSQL spends less CPU per
	// write (one statement and one commit serve more of them) but runs
	// fewer of its backends at once. Zero: one per two CPUs this process
	// may use, from 1 to 4, and never more than half the pool. Grouped
	// Lookups in flight follow it, up to 2 (docs/pgstore.md, "Group
	// commit" and "Grouped reads").
	WriteGroups int
	// MustExist makes New refuse a schema that holds no sessiond tables
	// (no schema_migrations table) with an error matching
	// sessiond.ErrNotFound, instead of creating it, for tools that must
	// never create a store by accident (a mistyped namespace). Migrations
	// still bring an existing schema up to date, unless NoMigrate.
	MustExist bool
	// NoMigrate makes New check that the schema has every migration of
	// this build instead of applying them: one that lacks some is refused
	// with an error matching sessiond.ErrSchemaOutdated. For tools that
	// must not change the schema under servers of an older build (the CLI's
	// keys and apikey commands); `sessiond migrate` and serve migrate.
	NoMigrate bool
	// MigrationLockTimeout bounds how long one attempt at the pending
	// migrations waits for a table lock. A migration's ALTER or DROP waits
	// behind any open transaction that read the table, and every query of
	// the nodes still serving queues behind that wait: unbounded, one long
	// report stalls the whole service during a rolling upgrade. Past it the
	// attempt is rolled back (the queue behind it drains) and retried
	// after a pause, migrationAttempts times in all, then New fails with
	// ErrMigrationLocked. Zero means 2 s; PostgreSQL counts whole
	// milliseconds, and less than one is one (its 0 means no timeout).
	MigrationLockTimeout time.Duration
}

// ErrMigrationLocked is New's and Migrate's error when every attempt at
// the pending migrations timed out waiting for a table lock another
// session held (see Options.MigrationLockTimeout) or deadlocked with
// another session.
var ErrMigrationLocked = errors.New("pgstore: migration could not take its table locks: another session holds them")

// Migrations retry a lock timeout or a deadlock this many times in all; the pause
// between attempts grows from one lock timeout to eight.
const (
	migrationAttempts           = 8
	defaultMigrationLockTimeout = 2 * time.Second
)

// defaultMaxConns is the pool size when neither Options nor the DSN sets
// one. pgxpool's own (the greater of 4 and the CPUs) lets only that many
// commits wait for the disk at once, so on a small machine most requests
// queued for a connection while PostgreSQL's CPU sat idle.
func defaultMaxConns() int32 { return int32(max(16, 4*runtime.NumCPU())) }

// defaultConnectTimeout bounds a connection attempt when the DSN sets no
// connect_timeout, so an unreachable server fails a call instead of
// hanging it.
const defaultConnectTimeout = 5 * time.Second

// Store is a sessiond.Store on PostgreSQL. It is safe for concurrent use.
// Times come back in UTC with microsecond precision.
type Store struct {
	pool   *pgxpool.Pool
	listen *pgx.ConnConfig // for SubscribeRevocations' own connections
	// wake cuts short a listener's reconnect backoff once the server is
	// seen answering (a new pooled connection, a Ping).
	wake    *feedwake.Waker
	log     *slog.Logger
	schema  string
	channel string
	q       queries
	groups  *groupQueue // writes waiting for a group commit
	reads   *readQueue  // Lookups waiting for a grouped read
	// groupedWrites counts the writes committed in a group of two or more.
	groupedWrites atomic.Int64
	// writes counts the calls of group once they return, so that
	// keepPlansCurrent checks only after the store wrote, and after the
	// rows are in.
	writes atomic.Int64
	// swapSets counts the swap-set statements sent (swapset.go).
	swapSets atomic.Int64
	// groupedReads counts the Lookups answered in a group of two or more.
	groupedReads atomic.Int64
	// pingEvery: a listener quiet for this long pings its connection.
	pingEvery time.Duration
	// revokeBatch: sessions per statement of RevokeMatching; 0 means
	// defaultRevokeBatch. Tests lower it to cross batch boundaries.
	revokeBatch int
	// incrCalls counts Incr calls: one in counterSweepEvery sweeps.
	incrCalls atomic.Int64
	// migrationLock bounds one migration attempt's wait for a table lock.
	migrationLock time.Duration

	mu        sync.Mutex // orders SubscribeRevocations' wg.Add before Close's wg.Wait
	closed    atomic.Bool
	onceCalls atomic.Uint64 // RememberOnce calls, for its sweep
	closeOnce sync.Once
	bg        context.Context // canceled by Close; ends listeners
	stop      context.CancelFunc
	wg        sync.WaitGroup
}

// New connects to the PostgreSQL server at dsn (a postgres:// URL or a
// key=value string), applies pending migrations in opts.Schema, and
// returns the Store. It fails fast, with an error matching
// sessiond.ErrStoreUnavailable, when the server cannot be reached: a store
// that cannot migrate cannot serve. Close it when done.
func New(ctx context.Context, dsn string, opts Options) (*Store, error) {
	schema := opts.Schema
	if schema == "" {
		schema = "public"
	}
	if len(schema) > 63 || !validText(schema) {
		return nil, fmt.Errorf("pgstore: open: %w", &sessiond.ArgumentError{
			Field: "schema", Msg: "must be valid UTF-8 without NUL, at most 63 bytes"})
	}
	if opts.MaxConns < 0 {
		return nil, fmt.Errorf("pgstore: open: %w", &sessiond.ArgumentError{
			Field: "max_conns", Msg: fmt.Sprintf("must not be negative, got %d", opts.MaxConns)})
	}
	if opts.WriteGroups < 0 {
		return nil, fmt.Errorf("pgstore: open: %w", &sessiond.ArgumentError{
			Field: "write_groups", Msg: fmt.Sprintf("must not be negative, got %d", opts.WriteGroups)})
	}
	if opts.MigrationLockTimeout < 0 {
		return nil, fmt.Errorf("pgstore: open: %w", &sessiond.ArgumentError{
			Field: "migration_lock_timeout", Msg: fmt.Sprintf("must not be negative, got %s", opts.MigrationLockTimeout)})
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// pgconn's parse errors quote the DSN and mask the password only
		// as far as it parsed it (a space in an unquoted keyword password
		// shows the rest): say what is wrong without quoting anything.
		return nil, fmt.Errorf("pgstore: open: %w", &sessiond.ArgumentError{Field: "dsn",
			Msg: "does not parse as a PostgreSQL URL or keyword/value string (quote keyword values with spaces; percent-encode reserved characters in a URL's password)"})
	}
	for _, h := range append([]string{cfg.ConnConfig.Host}, fallbackHosts(cfg)...) {
		if strings.Contains(h, "@") {
			// An unencoded '@' in a URL's password: the rest of the
			// password became the host name, which a connect error would
			// print.
			return nil, fmt.Errorf("pgstore: open: %w", &sessiond.ArgumentError{Field: "dsn",
				Msg: "its host holds '@': percent-encode '@' in the password as %40"})
		}
	}
	switch {
	case opts.MaxConns > 0:
		cfg.MaxConns = opts.MaxConns
	case !strings.Contains(dsn, "pool_max_conns"):
		cfg.MaxConns = defaultMaxConns()
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = defaultConnectTimeout
	}
	if _, ok := cfg.ConnConfig.RuntimeParams["application_name"]; !ok {
		cfg.ConnConfig.RuntimeParams["application_name"] = "sessiond"
	}
	// pgxpool pings only a connection idle for over a second, and hands
	// out one the driver already knows is closed (it failed, or was closed
	// while idle): its first statement then fails with "conn closed". Such
	// a connection is destroyed instead and another taken; a status read,
	// no round trip.
	cfg.PrepareConn = func(_ context.Context, c *pgx.Conn) (bool, error) { return !c.IsClosed(), nil }
	listen := cfg.ConnConfig.Copy()
	listen.RuntimeParams["application_name"] = listenerAppName(schema)
	// A new pooled connection means the server answers again: a listener
	// waiting out its backoff reconnects now (feedwake). Only new
	// connections signal, so the hot path pays nothing.
	wake := new(feedwake.Waker)
	cfg.AfterConnect = func(context.Context, *pgx.Conn) error {
		wake.Answered()
		return nil
	}

	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	// Said before connecting, so that a store that cannot be reached yet
	// is reported too. Never the DSN: it may hold the password.
	if host, risk := transportRisk(cfg.ConnConfig); risk != "" {
		log.Warn("pgstore: the connection to PostgreSQL is not protected by verified TLS: anyone on the network path can read and alter sessions, token hashes, API key hashes and the signing keys; set sslmode=verify-full (with sslrootcert) in the DSN",
			"host", host, "risk", risk)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, translate("open", err)
	}
	bg, stop := context.WithCancel(context.Background())
	groups := newGroupQueue(cfg.MaxConns, opts.WriteGroups)
	s := &Store{
		pool:    pool,
		listen:  listen,
		wake:    wake,
		log:     log,
		schema:  schema,
		channel: channelName(schema),
		q:       newQueries(pgx.Identifier{schema}.Sanitize()),

		groups:    groups,
		reads:     newReadQueue(cfg.MaxConns, cap(groups.slots)),
		pingEvery: listenPingInterval,
		bg:        bg,
		stop:      stop,

		migrationLock: cmp.Or(opts.MigrationLockTimeout, defaultMigrationLockTimeout),
	}
	if opts.MustExist {
		if err := s.mustExist(ctx); err != nil {
			s.Close()
			return nil, err
		}
	}
	migrate := s.Migrate
	if opts.NoMigrate {
		migrate = s.checkCurrent
	}
	if err := migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	s.wg.Add(1)
	go s.keepPlansCurrent()
	return s, nil
}

// listenerAppName is the application_name of the connections
// SubscribeRevocations holds open, so an operator can find them in
// pg_stat_activity (docs/pgstore.md). PostgreSQL keeps its first 63 bytes.
func listenerAppName(schema string) string { return "sessiond-listener " + schema }

// channelName is the NOTIFY channel of schema: readable when it fits in a
// PostgreSQL identifier (63 bytes), hashed otherwise.
func channelName(schema string) string {
	const prefix = "sessiond_revocations:"
	if len(prefix)+len(schema) <= 63 {
		return prefix + schema
	}
	sum := sha256.Sum256([]byte(schema))
	return prefix + hex.EncodeToString(sum[:8])
}

// validText reports whether s can be stored in a text column: PostgreSQL
// rejects NUL bytes and invalid UTF-8.
func validText(s string) bool {
	return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0
}

// begin returns errClosed once the store is closed, or else the first error
// of the argument checks, named for op: a method does nothing when it
// fails.
func (s *Store) begin(op string, checks ...error) error {
	if s.closed.Load() {
		return errClosed
	}
	for _, err := range checks {
		if err != nil {
			return wrap(op, err)
		}
	}
	return nil
}

// deleteBefore runs query, one of the retention deletes, on before and
// limit and returns how many rows it deleted; ErrInvalidArgument if limit
// is not positive.
func (s *Store) deleteBefore(ctx context.Context, op, query string, before time.Time, limit int) (int, error) {
	if err := s.begin(op, sessiond.CheckLimit(limit)); err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, query, before, limit)
	if err != nil {
		return 0, s.translate(op, err)
	}
	return int(tag.RowsAffected()), nil
}

// textError is the error for a field validText refuses.
func textError(field string) error {
	return &sessiond.ArgumentError{Field: field, Msg: "must be valid UTF-8 without NUL"}
}

// Ping reports whether the server answers, through the pool.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	if err := s.pool.Ping(ctx); err != nil {
		return s.translate("ping", err)
	}
	// A pooled connection that outlived the outage answers without a new
	// one: /readyz passing must wake the listener too.
	s.wake.Answered()
	return nil
}

// Close stops every revocation subscription and closes the pool, waiting
// for connections in use to be returned. Later calls fail with
// ErrStoreUnavailable. Closing twice is harmless.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed.Store(true)
		s.mu.Unlock()
		s.stop()
		s.wg.Wait()
		s.pool.Close()
	})
	return nil
}

// cleanText makes s storable in a text column: invalid UTF-8 and NUL bytes
// become U+FFFD. The event log records what it is given rather than lose
// an event (a relayed User-Agent may be Latin-1); filters go through it
// too, so they find what was stored.
func cleanText(s string) string {
	if validText(s) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// fallbackHosts are the hosts of cfg's fallbacks (a multi-host DSN).
func fallbackHosts(cfg *pgxpool.Config) []string {
	var out []string
	for _, f := range cfg.ConnConfig.Fallbacks {
		out = append(out, f.Host)
	}
	return out
}
