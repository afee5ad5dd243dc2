package sqlitestore

import (
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/migration"
)

// TestMigrate_0007_0008 upgrades a database of schema version 6 holding events
// and sessions: every row comes back with the same columns, events is
// keyed by id WITHOUT ROWID with the same four indexes, and the sessions'
// subject index no longer holds last_active_at.
func TestMigrate_0007_0008(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "old.db")
	old, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	all, err := migration.Load(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.ExecContext(ctx, `CREATE TABLE schema_migrations (
		version INTEGER NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL DEFAULT (unixepoch())) STRICT`); err != nil {
		t.Fatal(err)
	}
	for _, m := range all {
		if m.Version > 6 {
			break
		}
		if _, err := old.ExecContext(ctx, m.SQL); err != nil {
			t.Fatalf("%s: %v", m.Name, err)
		}
		if _, err := old.ExecContext(ctx, "INSERT INTO schema_migrations (version) VALUES (?)", m.Version); err != nil {
			t.Fatal(err)
		}
	}
	// IDs in and out of time order, with and without details, defaults.
	for i, e := range []struct {
		id      string
		time    int64
		details any
	}{
		{"evt_0001", 100, nil}, {"evt_0003", 50, []byte(`{"n":1}`)}, {"e2", 300, nil}, {"evt_0002", 100, []byte(`{}`)},
	} {
		if _, err := old.ExecContext(ctx, `INSERT INTO events (id, time, type, subject, session_id, client_ip, client_ua, details)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, e.id, e.time, fmt.Sprintf("type%d", i%2), fmt.Sprintf("sub%d", i%3),
			fmt.Sprintf("ses%d", i), "203.0.113.7", "ua", e.details); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := old.ExecContext(ctx, `INSERT INTO events (id, time, type) VALUES ('evt_0000', 1, 'bare')`); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := old.ExecContext(ctx, `INSERT INTO sessions (id, subject, strategy, created_at, last_active_at,
			idle_expires_at, expires_at) VALUES (?, 'alice', 'hybrid', 1, ?, 10, 20)`, fmt.Sprintf("s%d", i), 5-i); err != nil {
			t.Fatal(err)
		}
	}
	const (
		eventRows   = `SELECT id, time, type, subject, session_id, client_ip, client_ua, details FROM events ORDER BY id`
		sessionRows = `SELECT * FROM sessions ORDER BY id`
	)
	wantEvents, wantSessions := dump(t, old, eventRows), dump(t, old, sessionRows)
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := New(ctx, path, Options{})
	if err != nil {
		t.Fatalf("New on a version 6 database = %v; want nil", err)
	}
	defer s.Close()
	if got := dump(t, s.db, eventRows); !reflect.DeepEqual(got, wantEvents) {
		t.Errorf("events after 0007 and 0008 = %v; want %v", got, wantEvents)
	}
	if got := dump(t, s.db, sessionRows); !reflect.DeepEqual(got, wantSessions) {
		t.Errorf("sessions after 0007 and 0008 = %v; want %v", got, wantSessions)
	}
	var withoutRowid bool
	if err := s.db.QueryRowContext(ctx, `SELECT wr FROM pragma_table_list WHERE name = 'events'`).Scan(&withoutRowid); err != nil || !withoutRowid {
		t.Errorf("events WITHOUT ROWID = %v, %v; want true", withoutRowid, err)
	}
	for table, want := range map[string][]string{
		"events":   {"events_irregular", "events_no_subject", "events_session_id", "events_subject", "events_time", "events_type"},
		"sessions": {"sessions_expires_at", "sessions_idle_expires_at", "sessions_revoked_at", "sessions_subject", "sessions_subject_live"},
	} {
		var got []string
		for _, r := range dump(t, s.db, `SELECT name FROM pragma_index_list(?) WHERE origin = 'c' ORDER BY name`, table) {
			got = append(got, r[0].(string))
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("indexes on %s = %v; want %v", table, got, want)
		}
	}
	// The limit's eviction still picks the least recently active: s2.
	var id string
	if err := s.db.QueryRowContext(ctx, `SELECT id FROM sessions WHERE subject = 'alice'
		ORDER BY last_active_at, id LIMIT 1`).Scan(&id); err != nil || id != "s2" {
		t.Errorf("least recently active = %q, %v; want s2", id, err)
	}
}

// dump returns every row query returns, each as its column values.
func dump(t *testing.T, db interface {
	Query(string, ...any) (*sql.Rows, error)
}, query string, args ...any) [][]any {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]any
	for rows.Next() {
		r := make([]any, len(cols))
		p := make([]any, len(cols))
		for i := range r {
			p[i] = &r[i]
		}
		if err := rows.Scan(p...); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestNew_NoMigrate: with NoMigrate, New opens a database that has every
// migration, and refuses one that lacks some (a file an older build
// migrated, or one no sessiond has opened) without changing it.
func TestNew_NoMigrate(t *testing.T) {
	ctx := t.Context()
	all, err := migration.Load(migrationFS, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	last := all[len(all)-1]
	dir := t.TempDir()
	path := filepath.Join(dir, "s.db")
	st, err := New(ctx, path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	count := func() int {
		t.Helper()
		db, err := sql.Open("sqlite", dsn(path, false))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}

	st, err = New(ctx, path, Options{NoMigrate: true})
	if err != nil {
		t.Fatalf("New(NoMigrate) on a migrated file = %v; want nil", err)
	}
	if err := st.Ping(ctx); err != nil {
		t.Errorf("Ping() = %v; want nil", err)
	}
	st.Close()

	// As if an older build had migrated it: its last migration not recorded.
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "DELETE FROM schema_migrations WHERE version = ?", last.Version); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := New(ctx, path, Options{NoMigrate: true}); !errors.Is(err, sessiond.ErrSchemaOutdated) || !strings.Contains(err.Error(), last.Name) {
		t.Errorf("New(NoMigrate) without migration %s = %v; want ErrSchemaOutdated naming it", last.Name, err)
	}
	if got := count(); got != len(all)-1 {
		t.Errorf("schema_migrations has %d rows after a refused open; want %d (unchanged)", got, len(all)-1)
	}

	// A file that is not there is not created, and an empty one (made by
	// hand, or by an earlier sqlite3 command) gains no table.
	missing := filepath.Join(dir, "missing", "s.db")
	if _, err := New(ctx, missing, Options{NoMigrate: true}); !errors.Is(err, sessiond.ErrSchemaOutdated) {
		t.Errorf("New(NoMigrate) on a missing file = %v; want ErrSchemaOutdated", err)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("New(NoMigrate) on a missing file made its directory (%v); want nothing created", err)
	}
	empty := filepath.Join(dir, "empty.db")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := New(ctx, empty, Options{NoMigrate: true}); !errors.Is(err, sessiond.ErrSchemaOutdated) {
		t.Errorf("New(NoMigrate) on an empty file = %v; want ErrSchemaOutdated", err)
	}
	db, err = sql.Open("sqlite", dsn(empty, false))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var tables int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM sqlite_schema").Scan(&tables); err != nil || tables != 0 {
		t.Errorf("the empty file holds %d schema entries (%v) after a refused open; want 0", tables, err)
	}
}
