package sqlitestore_test

import (
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sqlitestore"
)

var t0 = time.Date(2030, time.March, 4, 5, 6, 7, 891234000, time.UTC)

func session(subject string) *sessiond.Session {
	return &sessiond.Session{
		ID: sessiond.NewSessionID(), Subject: subject, Strategy: sessiond.StrategyHybrid,
		CreatedAt: t0, LastActiveAt: t0, IdleExpiresAt: t0.Add(30 * time.Minute), ExpiresAt: t0.Add(8 * time.Hour),
		Persistent: true, Client: sessiond.Client{IP: "203.0.113.7", UserAgent: "test"}, Claims: []byte(`{"a":1}`),
	}
}

func token(kind sessiond.TokenKind, sid sessiond.SessionID, secret string) sessiond.Token {
	return sessiond.Token{Hash: sessiond.HashToken(sessiond.Secret(secret)), Kind: kind, SessionID: sid, IssuedAt: t0, ExpiresAt: t0.Add(time.Hour)}
}

func TestNew_Reopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "sessions.db")
	st, err := sqlitestore.New(ctx, path, sqlitestore.Options{})
	if err != nil {
		t.Fatalf("New() = %v; want nil", err)
	}
	live, revoked := session("alice"), session("alice")
	access, refresh := token(sessiond.KindAccess, live.ID, "access"), token(sessiond.KindRefresh, live.ID, "refresh")
	next := token(sessiond.KindRefresh, live.ID, "next")
	for _, c := range []struct {
		s    *sessiond.Session
		toks []sessiond.Token
	}{{live, []sessiond.Token{access, refresh}}, {revoked, nil}} {
		if err := st.Create(ctx, c.s, c.toks...); err != nil {
			t.Fatalf("Create() = %v; want nil", err)
		}
	}
	swapAt := t0.Add(time.Minute)
	if err := st.SwapRefresh(ctx, sessiond.RefreshSwap{Old: refresh.Hash, Next: next, Now: swapAt, GraceSince: swapAt,
		LastActiveAt: swapAt, IdleExpiresAt: swapAt.Add(30 * time.Minute)}); err != nil {
		t.Fatalf("SwapRefresh() = %v; want nil", err)
	}
	if _, err := st.Revoke(ctx, revoked.ID, swapAt, sessiond.ReasonLogout); err != nil {
		t.Fatalf("Revoke() = %v; want nil", err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close() = %v; want nil", err)
	}

	st = open(t, path)
	got, err := st.Get(ctx, live.ID)
	if err != nil {
		t.Fatalf("Get(%s) after reopen = %v; want nil", live.ID, err)
	}
	if !got.LastActiveAt.Equal(swapAt) || got.Subject != "alice" || string(got.Claims) != `{"a":1}` || !got.Persistent {
		t.Errorf("Get(%s) after reopen = %+v; want the session with activity at %v", live.ID, got, swapAt)
	}
	for _, c := range []struct {
		tok     sessiond.Token
		retired time.Time
	}{{access, time.Time{}}, {refresh, swapAt}, {next, time.Time{}}} {
		tok, _, err := st.Lookup(ctx, c.tok.Hash)
		if err != nil || tok.Kind != c.tok.Kind || !tok.RetiredAt.Equal(c.retired) {
			t.Errorf("Lookup(%s token) after reopen = %+v, %v; want kind %s, retired %v", c.tok.Kind, tok, err, c.tok.Kind, c.retired)
		}
	}
	revs, err := st.Revocations(ctx, t0)
	if err != nil || len(revs) != 1 || revs[0].SessionID != revoked.ID || revs[0].Reason != sessiond.ReasonLogout || !revs[0].RevokedAt.Equal(swapAt) {
		t.Errorf("Revocations() after reopen = %+v, %v; want %s revoked at %v (logout)", revs, err, revoked.ID, swapAt)
	}
}

func migrationCount(t *testing.T, st *sqlitestore.Store) (n, max int) {
	t.Helper()
	if err := st.DB().QueryRowContext(t.Context(), "SELECT count(*), max(version) FROM schema_migrations").Scan(&n, &max); err != nil {
		t.Fatalf("count migrations: %v", err)
	}
	return n, max
}

func TestMigrate_Idempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	files, err := filepath.Glob("migrations/*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("Glob(migrations/*.sql) = %v, %v; want the migration files", files, err)
	}
	first := open(t, path)
	n, max := migrationCount(t, first)
	if n != len(files) || max != len(files) {
		t.Fatalf("after New: %d migrations recorded, latest %d; want %d and %d", n, max, len(files), len(files))
	}
	if err := first.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate() again = %v; want nil", err)
	}
	second := open(t, path) // a second handle, as a second process would
	if n2, max2 := migrationCount(t, second); n2 != n || max2 != max {
		t.Errorf("after reopening: %d migrations, latest %d; want unchanged %d, %d", n2, max2, n, max)
	}
}

func TestMigrate_NewerDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	st := open(t, path)
	if _, err := st.DB().ExecContext(t.Context(), "INSERT INTO schema_migrations (version) VALUES (9999)"); err != nil {
		t.Fatal(err)
	}
	if err := st.Migrate(t.Context()); err == nil {
		t.Error("Migrate() on a database of schema version 9999 = nil; want an error")
	}
}

func TestNew_CreatesFileAndDirectory(t *testing.T) {
	// Nested missing directories and characters a file: URI must escape.
	path := filepath.Join(t.TempDir(), "a b", "c%20d", "x?y#z.db")
	open(t, path)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("Stat(%q) after New = %v; want the database file", path, err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		t.Errorf("database file mode = %v; want no group or other access", perm)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if e.Name() != "x?y#z.db" && e.Name() != "x?y#z.db-wal" && e.Name() != "x?y#z.db-shm" {
			t.Errorf("unexpected file %q beside the database", e.Name())
		}
	}
}

func TestNew_EmptyPath(t *testing.T) {
	if _, err := sqlitestore.New(t.Context(), "", sqlitestore.Options{}); !errors.Is(err, sessiond.ErrInvalidArgument) {
		t.Errorf(`New("") = %v; want ErrInvalidArgument`, err)
	}
}

// TestNew_URLPath: a DSN of another store (store.driver left at sqlite,
// store.dsn set to a PostgreSQL or Redis URL) is refused as an invalid
// argument, creating nothing, instead of becoming a SQLite file at the
// relative path "postgres:/…"; file paths that merely hold "://" later
// or start otherwise still open.
func TestNew_URLPath(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, path := range []string{"postgres://u:secret@db:5432/app", "postgresql://db/app", "redis://127.0.0.1:6379/0", "rediss://cache:6380"} {
		_, err := sqlitestore.New(t.Context(), path, sqlitestore.Options{})
		if !errors.Is(err, sessiond.ErrInvalidArgument) || strings.Contains(err.Error(), "secret") {
			t.Errorf("New(%q) = %v; want ErrInvalidArgument, without the password", path, err)
		}
	}
	if entries, _ := os.ReadDir("."); len(entries) != 0 {
		t.Errorf("New with URLs left %d entries in the working directory; want none", len(entries))
	}
	for _, path := range []string{"./a://b.db", filepath.Join("dir", "x://y.db"), "1a://b.db"} {
		st, err := sqlitestore.New(t.Context(), path, sqlitestore.Options{})
		if err != nil {
			t.Errorf("New(%q) = %v; want a file path opened", path, err)
			continue
		}
		st.Close()
	}
}

// TestNew_KeywordDSNPath: PostgreSQL's keyword/value DSN (host=… user=…
// password=…, which pgx reads as well as a URL) given to the SQLite store
// is refused as another store's DSN, creating nothing and naming none of
// it, as a postgres:// URL is (TestNew_URLPath), instead of becoming a
// SQLite file whose name holds the password. Paths that only hold "=" or
// spaces still open.
func TestNew_KeywordDSNPath(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, path := range []string{
		"host=db user=app password=secret dbname=app",
		"host=db port=5432 dbname=app sslmode=verify-full",
		"user=app password='a secret' host=db",
		"dbname=app",
		`host=db user=app password=a\ secret`, // pgx and libpq: backslash escapes outside quotes
		`host=db password=o'secret user=app`,  // a quote inside an unquoted value
	} {
		_, err := sqlitestore.New(t.Context(), path, sqlitestore.Options{})
		if !errors.Is(err, sessiond.ErrInvalidArgument) || strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), "db") {
			t.Errorf("New(%q) = %v; want ErrInvalidArgument, naming none of the DSN", path, err)
		}
	}
	if entries, _ := os.ReadDir("."); len(entries) != 0 {
		t.Errorf("New with keyword DSNs left %d entries in the working directory; want none", len(entries))
	}
	for _, path := range []string{"a=b.db", "my sessions.db", "run=1 copy.db", filepath.Join("dir", "host=db.db")} {
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		st, err := sqlitestore.New(t.Context(), path, sqlitestore.Options{})
		if err != nil {
			t.Errorf("New(%q) = %v; want a file path opened", path, err)
			continue
		}
		st.Close()
	}
}

func TestNew_Pragmas(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "sessions.db"))
	db := st.DB()
	for _, c := range []struct {
		pragma, want string
	}{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"synchronous", "1"},
		{"busy_timeout", "5000"},
		{"temp_store", "2"},         // memory: a savepoint's journal is no file
		{"wal_autocheckpoint", "0"}, // checkpoints run beside the writes
	} {
		var got string
		if err := db.QueryRowContext(t.Context(), "PRAGMA "+c.pragma).Scan(&got); err != nil || got != c.want {
			t.Errorf("PRAGMA %s = %q, %v; want %q", c.pragma, got, err, c.want)
		}
	}
}

// TestNew_Synchronous: every connection, the writer's and the readers',
// runs with the synchronous mode Options ask for: NORMAL (1) by default,
// FULL (2) with FullSync, where a commit waits for the -wal to reach the
// disk and a power cut loses no acknowledged logout.
func TestNew_Synchronous(t *testing.T) {
	for _, c := range []struct {
		name string
		opts sqlitestore.Options
		want string
	}{
		{"default", sqlitestore.Options{}, "1"},
		{"full", sqlitestore.Options{FullSync: true}, "2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			st, err := sqlitestore.New(t.Context(), filepath.Join(t.TempDir(), "sessions.db"), c.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if got, err := st.WriterPragma(t.Context(), "synchronous"); err != nil || got != c.want {
				t.Errorf("writer: PRAGMA synchronous = %q, %v; want %q", got, err, c.want)
			}
			// Several readers at once, so each is a connection of its own.
			const readers = 3
			var conns []*sql.Conn
			for range readers {
				conn, err := st.DB().Conn(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				conns = append(conns, conn)
			}
			for i, conn := range conns {
				var got string
				if err := conn.QueryRowContext(t.Context(), "PRAGMA synchronous").Scan(&got); err != nil || got != c.want {
					t.Errorf("reader %d: PRAGMA synchronous = %q, %v; want %q", i, got, err, c.want)
				}
			}
		})
	}
}

// TestSwapRefresh_TwoHandles races swaps of one refresh token through two
// Stores on the same file, as two processes would: the write slot of one
// Store does not cover the other, so SQLite's own locking must make exactly
// one swap win.
func TestSwapRefresh_TwoHandles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	a, b := open(t, path), open(t, path)
	s := session("alice")
	old := token(sessiond.KindRefresh, s.ID, "old")
	if err := a.Create(t.Context(), s, old); err != nil {
		t.Fatalf("Create() = %v; want nil", err)
	}
	now := t0.Add(time.Minute)
	const n = 40
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		st := a
		if i%2 == 1 {
			st = b
		}
		wg.Go(func() {
			errs[i] = st.SwapRefresh(t.Context(), sessiond.RefreshSwap{
				Old: old.Hash, Next: token(sessiond.KindRefresh, s.ID, "next"+string(rune('A'+i))),
				Now: now, GraceSince: now, LastActiveAt: now, IdleExpiresAt: now.Add(time.Hour),
			})
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, sessiond.ErrRefreshReused):
			t.Errorf("SwapRefresh #%d = %v; want nil or ErrRefreshReused", i, err)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d swaps through two handles succeeded; want 1", won, n)
	}
}

// TestCheckpoint: the connections do not checkpoint by themselves, so the
// store's own checkpoints must copy the log back into the database file
// once writes stop: the file then holds every page a reader sees.
func TestCheckpoint(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sessions.db")
	st := open(t, path)
	for i := range 300 {
		s := session("alice")
		if err := st.Create(t.Context(), s, token(sessiond.KindRefresh, s.ID, "r"+string(s.ID)+string(rune(i)))); err != nil {
			t.Fatalf("Create() = %v; want nil", err)
		}
	}
	var pages, size int64
	if err := st.DB().QueryRowContext(t.Context(), "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	// The checkpoint runs in the background: wait for it, generously.
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if size = fi.Size(); size >= pages {
			return
		}
	}
	t.Errorf("database file holds %d bytes of the %d a reader sees: the log was not checkpointed", size, pages)
}
