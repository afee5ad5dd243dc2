// Package sqlitestore is a sessiond.Store on an embedded SQLite database
// (modernc.org/sqlite, pure Go): the default backend, one file on disk, no
// server. Its schema migrations are embedded and applied by New.
package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/groupcommit"
)

var _ sessiond.Store = (*Store)(nil)

// Options configures a Store. The zero value is ready to use.
type Options struct {
	// Logger receives migration and startup notices. Nil discards them.
	Logger *slog.Logger
	// NoMigrate makes New check that the database has every migration of
	// this build instead of applying them: one that lacks some is refused
	// with an error matching sessiond.ErrSchemaOutdated. For tools that
	// must not change the schema under servers of an older build (the CLI's
	// keys and apikey commands); `sessiond migrate` and serve migrate.
	NoMigrate bool
	// MustExist makes New refuse, with an error matching
	// sessiond.ErrNotFound, a file that does not exist or holds no
	// sessiond tables (no schema_migrations table: another application's
	// database, an empty file), instead of migrating it: for tools that
	// must never create a store by accident (a mistyped path). Such a file
	// is left as it was. Migrations still bring a sessiond database up to
	// date, unless NoMigrate.
	MustExist bool
	// FullSync makes every commit wait until the -wal file is on disk
	// (PRAGMA synchronous=FULL): a power cut or kernel crash then loses no
	// commit the store acknowledged, logouts and revocations included.
	// The default (synchronous=NORMAL) loses nothing when the process
	// crashes, but a power cut can take the last commits, which are in the
	// operating system's page cache until the next checkpoint syncs them.
	// FULL costs an fsync per write transaction (a group commit shares one).
	FullSync bool
}

// maxConns bounds the pool: the writer's own connection (see wconn), the
// checkpoints' own (checkpoint.go) and four readers. WAL lets readers run
// beside the one writer; more connections than this only add memory.
const maxConns = 6

// busyTimeoutMS is how long a statement waits for another process's write
// lock before failing with ErrStoreUnavailable.
const busyTimeoutMS = 5000

// Store is a sessiond.Store on a SQLite file. It is safe for concurrent use.
// Times are stored as unix microseconds, so they come back in UTC with
// microsecond precision.
type Store struct {
	db   *sql.DB
	log  *slog.Logger
	path string // the database file, absolute

	// wsem serialises this process's writes before they reach SQLite, so
	// they queue in Go (honouring ctx) instead of polling SQLite's lock in
	// the busy handler. busy_timeout still covers other processes.
	wsem      chan struct{}
	closed    atomic.Bool
	onceCalls atomic.Uint64 // RememberOnce calls, for its sweep
	incrCalls atomic.Int64  // Incr calls: one in counterSweepEvery sweeps
	// queue holds the writes waiting for the next group commit (see
	// write, groupcommit.go).
	queue groupcommit.Queue[*writeReq]
	// wconn is the one connection every write transaction runs on, used
	// by whoever holds the write slot. In WAL mode a connection drops its
	// whole page cache when another connection has written since its last
	// transaction; with writes spread over the pool every write began on a
	// cold cache and read its pages back (three reads a login). On its own
	// connection the writer's cache stays warm.
	wconn *sql.Conn

	// ckpt kicks the checkpoint goroutine (checkpoint.go), which stop
	// ends and bg joins.
	ckpt    chan struct{}
	ckptCfg checkpointing
	// erased: rows were deleted since the log was last truncated, so the
	// next checkpoint truncates it (checkpoint.go, erasing).
	erased atomic.Bool
	// eraseSkip: how many checkpoints still skip the truncation after one
	// a reader outlasted; eraseBackoff: how many the last one skipped.
	eraseSkip, eraseBackoff atomic.Int32
	stop                    context.CancelFunc
	bg                      sync.WaitGroup

	lookupStmt *sql.Stmt
	getStmt    *sql.Stmt
	// writes: the statements of the refresh path, prepared once; a
	// transaction borrows them with tx.StmtContext, which reuses the
	// compiled statement of its connection instead of compiling the SQL
	// on every call.
	writes map[string]*sql.Stmt

	// onDeleteExpired, set by tests, is told how many sessions each of
	// DeleteExpired's transactions deleted.
	onDeleteExpired func(n int)
}

// New opens (creating if missing, with its directory, unless MustExist or
// NoMigrate) the SQLite database at path, applies pending migrations and
// returns the Store. It takes group and other access away from the file
// and its -wal and -shm, logging a warning for each it changes. Close it
// when done. A path written as a URL (postgres://…, redis://…) or as
// PostgreSQL's keyword/value DSN (host=… user=… password=…) is refused
// with sessiond.ErrInvalidArgument: it is another store's DSN, and would
// otherwise become a SQLite file at the relative path "postgres:/…", or
// one named after the password.
func New(ctx context.Context, path string, opts Options) (*Store, error) {
	return newStore(ctx, path, opts, checkpointing{every: checkpointEvery, restartFrames: restartFrames})
}

// newStore is New with the checkpoints' timing, which tests set.
func newStore(ctx context.Context, path string, opts Options, ckpt checkpointing) (*Store, error) {
	if err := CheckPath(path); err != nil {
		return nil, fmt.Errorf("sqlitestore: open: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open: %w", err)
	}
	if opts.MustExist {
		// Checked before anything is opened with this store's pragmas,
		// which would switch another application's database to WAL.
		if err := mustExist(ctx, abs); err != nil {
			return nil, err
		}
	}
	if opts.NoMigrate {
		// Nothing may be created: a file that is not there has every
		// migration pending.
		if _, err := os.Stat(abs); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("sqlitestore: open: %s does not exist: %w", abs, sessiond.ErrSchemaOutdated)
		}
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, fmt.Errorf("sqlitestore: open: %w", err)
	}
	// Create the file ourselves so it (and the -wal and -shm files SQLite
	// derives from it) is readable by the owner only: it holds token hashes,
	// and signing private keys when no KEK seals them.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlitestore: open: %w", err)
	}
	// A file that was already there keeps its mode, and SQLite gives it to
	// the -wal and -shm it creates.
	tightenModes(abs, log)

	db, err := sql.Open("sqlite", dsn(abs, opts.FullSync))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open: %w", err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns) // reopening a connection reruns the pragmas

	s := &Store{db: db, log: log, path: abs, wsem: make(chan struct{}, 1), ckpt: make(chan struct{}, 1), ckptCfg: ckpt}
	if err := s.init(ctx, abs, opts.NoMigrate); err != nil {
		if s.wconn != nil {
			_ = s.wconn.Close()
		}
		_ = db.Close()
		return nil, err
	}
	bg, stop := context.WithCancel(context.Background())
	s.stop = stop
	s.bg.Go(func() { s.checkpoints(bg) })
	return s, nil
}

// dsn returns the modernc.org/sqlite data source name for the file at abs:
// a file: URI (so any character in the path is escaped) with the pragmas
// every connection runs, and BEGIN IMMEDIATE for every write transaction so
// a transaction never has to upgrade a read lock (which could deadlock).
// fullSync: synchronous FULL instead of NORMAL (Options.FullSync).
func dsn(abs string, fullSync bool) string {
	synchronous := "synchronous(NORMAL)"
	if fullSync {
		synchronous = "synchronous(FULL)"
	}
	return fileURI(abs, url.Values{
		"_pragma": {
			fmt.Sprintf("busy_timeout(%d)", busyTimeoutMS),
			"journal_mode(WAL)",
			synchronous,
			"foreign_keys(ON)",
			// A savepoint's journal (group commit) in memory, not a file.
			"temp_store(MEMORY)",
			// Checkpoints run beside the writes (checkpoint.go).
			"wal_autocheckpoint(0)",
			// What is deleted is overwritten with zeros, free pages
			// included, rather than left readable in the file
			// (checkpoint.go, erasing).
			"secure_delete(ON)",
		},
		"_txlock": {"immediate"},
	})
}

// fileURI returns the file: URI of the file at abs with the query q.
func fileURI(abs string, q url.Values) string {
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows: C:/x → /C:/x
	}
	return (&url.URL{Scheme: "file", Path: p, RawQuery: q.Encode()}).String()
}

func (s *Store) init(ctx context.Context, abs string, noMigrate bool) error {
	var mode string
	if err := s.db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		return s.fail("open", err)
	}
	var err error
	if s.wconn, err = writer(ctx, s.db); err != nil {
		return s.fail("open", err)
	}
	if !strings.EqualFold(mode, "wal") {
		s.log.Warn("sqlitestore: WAL journal mode unavailable; readers will wait for writers", "path", abs, "journal_mode", mode)
	}
	migrate := s.Migrate
	if noMigrate {
		migrate = s.checkCurrent
	}
	if err := migrate(ctx); err != nil {
		return err
	}
	if s.lookupStmt, err = s.db.PrepareContext(ctx, lookupQuery); err != nil {
		return s.fail("prepare lookup", err)
	}
	if s.getStmt, err = s.db.PrepareContext(ctx, getQuery); err != nil {
		return s.fail("prepare get", err)
	}
	s.writes = make(map[string]*sql.Stmt, len(writeQueries))
	for _, q := range writeQueries {
		st, err := s.db.PrepareContext(ctx, q)
		if err != nil {
			return s.fail("prepare write", err)
		}
		s.writes[q] = st
	}
	return nil
}

// writerCacheKiB is the page cache of the writer's connection (SQLite's
// default is 2,000 KiB). Every write reads the pages it changes; with the
// default cache, a database of a few tens of thousands of sessions already
// no longer fits, and a refresh read about four pages back from the file
// (pread, a system call each) that it then rewrote. The cache fills only
// as pages are read, so a small database costs no more than before.
const writerCacheKiB = 64 << 10

// writer takes the connection every write runs on from db and gives it its
// larger page cache. Readers keep the default: in WAL mode a connection's
// cache is emptied whenever another has written since, so a reader's
// would rarely be warm.
func writer(ctx context.Context, db *sql.DB) (*sql.Conn, error) {
	c, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	if _, err := c.ExecContext(ctx, fmt.Sprintf("PRAGMA cache_size = -%d", writerCacheKiB)); err != nil {
		_ = c.Close()
		return nil, err
	}
	return c, nil
}

// exec runs query, one of writeQueries, in tx with its prepared statement.
func (s *Store) exec(ctx context.Context, tx *sql.Tx, query string, args ...any) (sql.Result, error) {
	return tx.StmtContext(ctx, s.writes[query]).ExecContext(ctx, args...)
}

// queryRow is exec for a statement that returns a row.
func (s *Store) queryRow(ctx context.Context, tx *sql.Tx, query string, args ...any) *sql.Row {
	return tx.StmtContext(ctx, s.writes[query]).QueryRowContext(ctx, args...)
}

// Ping reports whether the database answers: it reads the schema version,
// so a file that became unreadable fails too.
func (s *Store) Ping(ctx context.Context) error {
	var v sql.NullInt64
	if err := s.db.QueryRowContext(ctx, "SELECT max(version) FROM schema_migrations").Scan(&v); err != nil {
		return s.fail("ping", err)
	}
	return nil
}

// Close closes the database. Later calls fail with ErrStoreUnavailable.
// Closing twice is harmless.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	if s.stop != nil {
		s.stop()
		s.bg.Wait()
	}
	var errs []error
	for _, st := range []*sql.Stmt{s.lookupStmt, s.getStmt} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	for _, st := range s.writes {
		errs = append(errs, st.Close())
	}
	if s.wconn != nil {
		errs = append(errs, s.wconn.Close())
	}
	errs = append(errs, s.db.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlitestore: close: %w", err)
	}
	return nil
}

// lockWrite takes this process's write slot, or gives up when ctx ends.
func (s *Store) lockWrite(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("sqlitestore: %s: %w", op, err)
	}
	select {
	case s.wsem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("sqlitestore: %s: %w", op, ctx.Err())
	}
}

func (s *Store) unlockWrite() { <-s.wsem }

// fail translates err, from the operation op, into the errors callers test
// for: sql.ErrNoRows → ErrNotFound, a PRIMARY KEY or UNIQUE violation →
// ErrConflict, a locked, full, unreadable or closed database →
// ErrStoreUnavailable, with the file system's free space or read-only
// state when the disk is at fault. Errors already carrying a sessiond
// sentinel (or a context error) are only prefixed.
func (s *Store) fail(op string, err error) error {
	prefix := "sqlitestore: " + op
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("%s: %w", prefix, sessiond.ErrNotFound)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, sessiond.ErrNotFound), errors.Is(err, sessiond.ErrConflict),
		errors.Is(err, sessiond.ErrRefreshReused), errors.Is(err, sessiond.ErrInvalidArgument),
		errors.Is(err, sessiond.ErrLimitReached), errors.Is(err, sessiond.ErrRevoked):
		return fmt.Errorf("%s: %w", prefix, err)
	case s.closed.Load(), errors.Is(err, sql.ErrConnDone):
		return fmt.Errorf("%s: %w", prefix, sessiond.ErrStoreUnavailable)
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch code := se.Code(); code {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return fmt.Errorf("%s: %w", prefix, sessiond.ErrConflict)
		default:
			switch code & 0xff {
			case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_CANTOPEN:
				// The disk's errors name the file system's state, which
				// SQLite's own message may not (see diskHint); a file it
				// cannot open may be one descriptor too many instead.
				if code&0xff == sqlite3.SQLITE_CANTOPEN {
					if hint := fileLimitHint(); hint != "" {
						return fmt.Errorf("%s: %w (%s; %s)", prefix, sessiond.ErrStoreUnavailable, se.Error(), hint)
					}
				}
				if hint := s.diskHint(); hint != "" {
					return fmt.Errorf("%s: %w (%s; %s)", prefix, sessiond.ErrStoreUnavailable, se.Error(), hint)
				}
				return fmt.Errorf("%s: %w (%s)", prefix, sessiond.ErrStoreUnavailable, se.Error())
			case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_PROTOCOL,
				sqlite3.SQLITE_NOTADB:
				return fmt.Errorf("%s: %w (%s)", prefix, sessiond.ErrStoreUnavailable, se.Error())
			}
		}
	}
	return fmt.Errorf("%s: %w", prefix, err)
}

// wrap names the store and the operation in err.
func wrap(op string, err error) error { return fmt.Errorf("sqlitestore: %s: %w", op, err) }

// deleteLimited runs the DELETE query, whose last parameter is limit, in a
// write transaction and returns how many rows it deleted; when it deleted
// any, the next checkpoint truncates the log (checkpoint.go, erasing).
// ErrInvalidArgument if limit is not positive.
func (s *Store) deleteLimited(ctx context.Context, op string, limit int, query string, args ...any) (int, error) {
	if err := sessiond.CheckLimit(limit); err != nil {
		return 0, wrap(op, err)
	}
	var n int64
	err := s.write(ctx, op, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, append(args, limit)...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, err
	}
	if n > 0 {
		// After the commit: one that truncated the log before it cannot
		// clear this (it holds the write slot from its truncation to
		// clearing the flag). The commit's own kick may already have
		// been taken by a checkpoint that read the flag unset, and on a
		// quiet store no other write may follow, so kick again.
		s.erased.Store(true)
		s.kickCheckpoint()
	}
	return int(n), nil
}

// CheckPath returns the sessiond.ErrInvalidArgument that New gives for
// path before it creates anything (an empty path; another store's DSN,
// written as a URL or as PostgreSQL's keyword/value form), naming none of
// the DSN, or nil. What takes a lock or checks a file beside the database
// before opening it asks first, so as not to make a file named after a
// DSN and its password.
func CheckPath(path string) error {
	if path == "" {
		return &sessiond.ArgumentError{Field: "path", Msg: "must not be empty"}
	}
	if scheme, ok := urlScheme(path); ok {
		// Only the scheme is named: the rest may hold a password.
		return &sessiond.ArgumentError{Field: "path",
			Msg: "is a " + scheme + ":// URL, not a file path: another store's DSN given to the SQLite store"}
	}
	if keywordDSN(path) {
		// Nothing of it is named: it may hold a password.
		return &sessiond.ArgumentError{Field: "path",
			Msg: "is a PostgreSQL keyword/value DSN (key=value …), not a file path: another store's DSN given to the SQLite store"}
	}
	return nil
}

// keywordDSNForm is PostgreSQL's keyword/value connection string (libpq,
// and pgx alike): key=value settings apart by spaces, a value in single
// quotes when it holds spaces. An unquoted value may hold a quote after
// its first character and backslash escapes ("password=it's",
// "password=a\ b"), which pgx and libpq read as one value.
var keywordDSNForm = regexp.MustCompile(`^\s*(?:[A-Za-z_]+\s*=\s*(?:'(?:[^'\\]|\\.)*'|(?:[^\s'\\]|\\.)(?:[^\s\\]|\\.)*)\s*)+$`)

// keywordDSNKey is a keyword/value setting that names a PostgreSQL server,
// database or role.
var keywordDSNKey = regexp.MustCompile(`(?i)(?:^|\s)(?:host|hostaddr|port|dbname|user|password)\s*=`)

// keywordDSN reports whether path is written as a PostgreSQL keyword/value
// DSN ("host=db user=app password=…"): nothing but key=value settings, one
// of them naming the server, database or role.
func keywordDSN(path string) bool {
	return keywordDSNForm.MatchString(path) && keywordDSNKey.MatchString(path)
}

// urlScheme returns the scheme of path when it is written as a URL
// (RFC 3986: a letter, then letters, digits, "+", "-" or ".", then "://").
func urlScheme(path string) (string, bool) {
	scheme, _, ok := strings.Cut(path, "://")
	if !ok || scheme == "" {
		return "", false
	}
	for i, c := range scheme {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return "", false
		}
	}
	return scheme, true
}
