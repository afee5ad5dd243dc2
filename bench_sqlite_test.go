package sessiond_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sqlitestore"
)

// sqliteStore opens a fresh SQLite store in a temp dir and returns it with
// its file path.
func sqliteStore(b *testing.B) (*sqlitestore.Store, string) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.db")
	st, err := sqlitestore.New(context.Background(), path, sqlitestore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st, path
}

func BenchmarkVerifyDatabaseSQLite(b *testing.B) {
	st, _ := sqliteStore(b)
	h := benchManager(b, sessiond.StrategyDatabase, st, nil)
	benchVerify(b, h, tokens(b, h, 1000))
}

// BenchmarkRawSQLiteSelect is the baseline of BenchmarkVerifyDatabaseSQLite:
// a primary-key SELECT of a session row through database/sql on the same
// kind of database, prepared once, scanning the columns verify needs.
func BenchmarkRawSQLiteSelect(b *testing.B) {
	st, path := sqliteStore(b)
	h := benchManager(b, sessiond.StrategyDatabase, st, nil)
	var ids []string
	for range 1000 {
		iss, err := h.m.Create(context.Background(), "bench-user", sessiond.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		ids = append(ids, string(iss.Session.ID))
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	stmt, err := db.Prepare(`SELECT id, subject, strategy, created_at, last_active_at, idle_expires_at, expires_at,
		persistent, client_ip, client_ua, claims, revoked_at, revoke_reason FROM sessions WHERE id = ?`)
	if err != nil {
		b.Fatal(err)
	}
	defer stmt.Close()
	var (
		id, subject, strategy, ip, ua, reason string
		created, last, idle, exp              int64
		persistent                            bool
		claims                                []byte
		revoked                               sql.NullInt64
	)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := stmt.QueryRow(ids[i%len(ids)]).Scan(&id, &subject, &strategy, &created, &last, &idle, &exp,
			&persistent, &ip, &ua, &claims, &revoked, &reason); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkCreateDatabaseSQLite(b *testing.B) {
	st, _ := sqliteStore(b)
	benchCreate(b, sessiond.StrategyDatabase, st)
}

func BenchmarkCreateHybridSQLite(b *testing.B) {
	st, _ := sqliteStore(b)
	benchCreate(b, sessiond.StrategyHybrid, st)
}

func BenchmarkRefreshHybridSQLite(b *testing.B) {
	st, _ := sqliteStore(b)
	benchRefresh(b, sessiond.StrategyHybrid, st)
}
