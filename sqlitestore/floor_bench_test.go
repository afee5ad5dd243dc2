package sqlitestore_test

// The floor of a write on SQLite, for issue 11's target 2 (a SQLite store
// at 0.65 × the memory store over HTTP): what modernc.org/sqlite costs for
// the least a login or a refresh could write, in WAL mode with
// synchronous=NORMAL as the store runs it, none of the store's checks; the
// tables' kinds are the store's (sessions a rowid table, tokens and events
// WITHOUT ROWID):
//
//	go test -run '^$' -bench Floor -count 3 ./sqlitestore/
//
// keys has primary keys only; indexed adds the store's secondary indexes.
// login inserts a session, its refresh token and its event; refresh
// inserts the successor token, retires the old one, writes the session's
// activity and inserts the event. 1,024 sessions are refreshed in turn, so
// their pages lie apart as with many users. login8 and refresh8 commit
// eight at a time, as group commit does. SQLite runs in this process:
// client-µs/op is all of its CPU time.

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "modernc.org/sqlite"

	"github.com/sessiond/sessiond/internal/testenv"
)

const floorSchema = `
CREATE TABLE sessions (id TEXT PRIMARY KEY, subject TEXT NOT NULL, created_at INTEGER NOT NULL,
	last_active_at INTEGER NOT NULL, idle_expires_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, client TEXT);
CREATE TABLE tokens (hash BLOB PRIMARY KEY, session_id TEXT NOT NULL, expires_at INTEGER NOT NULL, retired_at INTEGER) WITHOUT ROWID;
CREATE TABLE events (id TEXT PRIMARY KEY, time INTEGER NOT NULL, type TEXT NOT NULL, subject TEXT NOT NULL,
	session_id TEXT NOT NULL, body TEXT NOT NULL) WITHOUT ROWID;`

// floorIndexes are the secondary indexes the store keeps on those tables
// (migrations 0001–0008) for listing a user's sessions, revoking a
// session's tokens, collecting expired sessions and querying events.
const floorIndexes = `
CREATE INDEX sessions_subject ON sessions (subject);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
CREATE INDEX sessions_idle_expires_at ON sessions (idle_expires_at);
CREATE INDEX tokens_session_current ON tokens (session_id, retired_at);
CREATE INDEX events_subject ON events (subject, id);
CREATE INDEX events_session_id ON events (session_id, id);
CREATE INDEX events_type ON events (type, id);
CREATE INDEX events_time ON events (time);`

// floorEventBody is about the size of a stored session.refreshed event.
const floorEventBody = `{"type":"session.refreshed","subject":"bench-12","session_id":"s_0197a3c2e1f04b6a8c1d2e3f4a","client":{"ip":"203.0.113.7","user_agent":"sessiond-bench"},"details":{"api_key_id":"key_bench"}}`

// floorDB opens a fresh database with the store's pragmas, SQLite's own
// checkpoints (every 1,000 pages) in place of the store's, and one
// connection, which a single writer needs anyway; with the store's
// secondary indexes when indexed.
func floorDB(b *testing.B, indexed bool) *sql.DB {
	b.Helper()
	q := url.Values{"_pragma": {"busy_timeout(5000)", "journal_mode(WAL)", "synchronous(NORMAL)"}, "_txlock": {"immediate"}}
	path := filepath.ToSlash(filepath.Join(b.TempDir(), "floor.db"))
	if !strings.HasPrefix(path, "/") {
		path = "/" + path // Windows: C:/x → /C:/x, as the store's dsn does
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	db, err := sql.Open("sqlite", u.String())
	if err != nil {
		b.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	b.Cleanup(func() { db.Close() })
	schema := floorSchema
	if indexed {
		schema += floorIndexes
	}
	if _, err := db.Exec(schema); err != nil {
		b.Fatal(err)
	}
	return db
}

func randomBytes(n int) []byte {
	p := make([]byte, n)
	_, _ = rand.Read(p)
	return p
}

func BenchmarkFloor(b *testing.B) {
	ctx := context.Background()
	for _, c := range []struct {
		name    string
		per     int // operations per transaction
		login   bool
		indexed bool
	}{
		{"keys/login", 1, true, false}, {"keys/login8", 8, true, false},
		{"keys/refresh", 1, false, false}, {"keys/refresh8", 8, false, false},
		{"indexed/login8", 8, true, true}, {"indexed/refresh8", 8, false, true},
	} {
		b.Run(c.name, func(b *testing.B) {
			db := floorDB(b, c.indexed)
			login, err := db.PrepareContext(ctx, `INSERT INTO sessions VALUES (?1, ?2, ?3, ?3, ?4, ?4, '{"ip":"203.0.113.7","user_agent":"sessiond-bench"}')`)
			if err != nil {
				b.Fatal(err)
			}
			stmts := map[string]string{
				"token":  `INSERT INTO tokens VALUES (?, ?, ?, NULL)`,
				"retire": `UPDATE tokens SET retired_at = ? WHERE hash = ?`,
				"touch":  `UPDATE sessions SET last_active_at = ?, idle_expires_at = ? WHERE id = ?`,
				"event":  `INSERT INTO events VALUES (?, ?, 'session.refreshed', 'bench', ?, ?)`,
			}
			prep := map[string]*sql.Stmt{}
			for k, q := range stmts {
				if prep[k], err = db.PrepareContext(ctx, q); err != nil {
					b.Fatal(err)
				}
			}
			var seq int64
			eventID := func() string { seq++; return fmt.Sprintf("%020d", seq) }
			newChain := func(tx *sql.Tx, now int64) (sid string, tok []byte, err error) {
				sid, tok = fmt.Sprintf("s_%x", randomBytes(16)), randomBytes(32)
				if _, err = tx.Stmt(login).ExecContext(ctx, sid, "bench", now, now+3600); err == nil {
					if _, err = tx.Stmt(prep["token"]).ExecContext(ctx, tok, sid, now+3600); err == nil {
						_, err = tx.Stmt(prep["event"]).ExecContext(ctx, eventID(), now, sid, floorEventBody)
					}
				}
				return sid, tok, err
			}
			type chain struct {
				sid string
				cur []byte
			}
			chains := make([]chain, 1024)
			if !c.login {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				for i := range chains {
					if chains[i].sid, chains[i].cur, err = newChain(tx, time.Now().Unix()); err != nil {
						b.Fatal(err)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
			refresh := func(tx *sql.Tx, ch *chain, now int64) error {
				next := randomBytes(32)
				for _, w := range []struct {
					k    string
					args []any
				}{
					{"token", []any{next, ch.sid, now + 3600}},
					{"retire", []any{now, ch.cur}},
					{"touch", []any{now, now + 1800, ch.sid}},
					{"event", []any{eventID(), now, ch.sid, floorEventBody}},
				} {
					if _, err := tx.Stmt(prep[w.k]).ExecContext(ctx, w.args...); err != nil {
						return err
					}
				}
				ch.cur = next
				return nil
			}
			b.ResetTimer()
			defer testenv.ReportClientCPU(b)()
			i := 0
			for n := 0; n < b.N; {
				tx, err := db.BeginTx(ctx, nil)
				if err != nil {
					b.Fatal(err)
				}
				for k := 0; k < c.per && n < b.N; k, n = k+1, n+1 {
					now := time.Now().Unix()
					if c.login {
						_, _, err = newChain(tx, now)
					} else {
						err = refresh(tx, &chains[i%len(chains)], now)
						i++
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				if err := tx.Commit(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
