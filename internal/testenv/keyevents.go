package testenv

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
)

// KeyEventRefusal is a SQLite node's event log made to refuse api_key.*
// events by a trigger, as a full disk refuses a write: the test of a key
// change that must not be kept without its event. The test binary must
// have the "sqlite" driver registered (importing sqlitestore does).
type KeyEventRefusal struct {
	db     *sql.DB
	Before int // api_key events stored before the refusal began
}

// RefuseKeyEvents opens the SQLite database in dataDir and adds the
// trigger; the connection closes when the test ends.
func RefuseKeyEvents(t testing.TB, dataDir string) *KeyEventRefusal {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dataDir, "sessiond.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	r := &KeyEventRefusal{db: db}
	r.Before = r.Count(t)
	if _, err := db.ExecContext(context.Background(), `CREATE TRIGGER zz_refuse_api_key_events BEFORE INSERT ON events
		WHEN NEW.type LIKE 'api_key.%' BEGIN SELECT RAISE(ABORT, 'event refused'); END`); err != nil {
		t.Fatal(err)
	}
	return r
}

// Count is the number of api_key events stored.
func (r *KeyEventRefusal) Count(t testing.TB) int {
	t.Helper()
	var n int
	if err := r.db.QueryRowContext(context.Background(), `SELECT count(*) FROM events WHERE type LIKE 'api_key.%'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Lift drops the trigger: the store takes events again.
func (r *KeyEventRefusal) Lift(t testing.TB) {
	t.Helper()
	if _, err := r.db.ExecContext(context.Background(), `DROP TRIGGER zz_refuse_api_key_events`); err != nil {
		t.Fatal(err)
	}
}

// Types returns, in order, the types of the stored events about key id
// whose details say it was changed by (cli, api); with acting, only those
// naming the acting API key too.
func (r *KeyEventRefusal) Types(t testing.TB, id, by string, acting bool) []string {
	t.Helper()
	q := `SELECT type FROM events WHERE details ->> '$.key_id' = ? AND details ->> '$.by' = ?`
	if acting {
		q += ` AND details ->> '$.api_key_id' != ''`
	}
	rows, err := r.db.QueryContext(context.Background(), q+` ORDER BY id`, id, by)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var typ string
		if err := rows.Scan(&typ); err != nil {
			t.Fatal(err)
		}
		got = append(got, typ)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return got
}
