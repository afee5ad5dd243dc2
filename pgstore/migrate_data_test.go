package pgstore_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
)

// migrateUpTo applies the migration files up to version last to a new
// schema, as a build of that version would have, and records them.
func migrateUpTo(t *testing.T, dsn, schema string, last int) {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	id := pgx.Identifier{schema}.Sanitize()
	for _, sql := range []string{
		"CREATE SCHEMA " + id,
		"CREATE TABLE " + id + ".schema_migrations (version integer NOT NULL PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())",
	} {
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatal(err)
		}
	}
	names, err := filepath.Glob("migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range names {
		name := filepath.Base(path)
		v, err := strconv.Atoi(name[:strings.IndexByte(name, '_')])
		if err != nil || v > last {
			continue
		}
		sql, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "SET search_path TO "+id+"; "+string(sql)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := conn.Exec(ctx, "INSERT INTO "+id+".schema_migrations (version, name) VALUES ($1, $2)", v, name); err != nil {
			t.Fatal(err)
		}
	}
}

// TestStore_MigrateHOTRevoke applies migration 0007 (revocation as a
// heap-only update) to a schema at version 6 that holds live, revoked and
// expired sessions, and checks that every read finds them as before and
// that revocations work on the migrated table.
func TestStore_MigrateHOTRevoke(t *testing.T) {
	dsn := testDSN(t)
	t.Parallel()
	schema := testSchema(t, dsn)
	migrateUpTo(t, dsn, schema, 6)

	at := t0.Add(10 * time.Minute)
	live1, live2, bob := newSession("alice", t0), newSession("alice", t0.Add(time.Minute)), newSession("bob", t0)
	revoked := newSession("alice", t0.Add(2*time.Minute))
	revoked.RevokedAt, revoked.RevokeReason = t0.Add(3*time.Minute), sessiond.ReasonLogout
	expired := newSession("alice", t0.Add(-9*time.Hour))
	sessions := pgx.Identifier{schema, "sessions"}.Sanitize()
	for _, s := range []*sessiond.Session{live1, live2, bob, revoked, expired} {
		var revokedAt *time.Time
		if !s.RevokedAt.IsZero() {
			revokedAt = &s.RevokedAt
		}
		if err := exec(t.Context(), dsn, "INSERT INTO "+sessions+` (id, subject, strategy, created_at, last_active_at,
			idle_expires_at, expires_at, persistent, client_ip, client_ua, claims, revoked_at, revoke_reason)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
			string(s.ID), s.Subject, string(s.Strategy), s.CreatedAt, s.LastActiveAt, s.IdleExpiresAt, s.ExpiresAt,
			s.Persistent, s.Client.IP, s.Client.UserAgent, s.Claims, revokedAt, string(s.RevokeReason)); err != nil {
			t.Fatal(err)
		}
	}

	st, _ := newStore(t, pgstore.Options{Schema: schema})
	if got, want := migrationCount(t, dsn, schema), migrationFiles(t); got != want {
		t.Fatalf("schema_migrations has %d rows after New on version 6; want %d", got, want)
	}
	if ff := queryInt(t, dsn, `SELECT count(*) FROM pg_class WHERE oid = $1::regclass AND 'fillfactor=50' = ANY (reloptions)`,
		schema+".sessions"); ff != 1 {
		t.Errorf("sessions has no fillfactor 50 after migration 0007")
	}

	ctx := t.Context()
	got, err := st.Get(ctx, revoked.ID)
	if err != nil || !got.RevokedAt.Equal(revoked.RevokedAt) || got.RevokeReason != sessiond.ReasonLogout {
		t.Errorf("Get(revoked) = %+v, %v; want revoked at %v for logout", got, err, revoked.RevokedAt)
	}
	list, err := st.List(ctx, "alice", at)
	if err != nil || len(list) != 2 || list[0].ID != live1.ID || list[1].ID != live2.ID {
		t.Errorf("List(alice) = %d sessions, %v; want her two live ones, oldest first", len(list), err)
	}
	revs, err := st.Revocations(ctx, t0)
	if err != nil || len(revs) != 1 || revs[0].SessionID != revoked.ID {
		t.Errorf("Revocations(t0) = %+v, %v; want the one revoked session", revs, err)
	}
	if revs, err := st.RevokeSubject(ctx, "alice", live1.ID, at, sessiond.ReasonAdmin); err != nil || len(revs) != 1 || revs[0].SessionID != live2.ID {
		t.Errorf("RevokeSubject(alice except %s) = %+v, %v; want %s", live1.ID, revs, err, live2.ID)
	}
	n, subjects, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, at, sessiond.ReasonIncident)
	if err != nil || n != 2 || !slices.Equal(subjects, []string{"alice", "bob"}) {
		t.Errorf("RevokeMatching(all) = %d, %q, %v; want 2, [alice bob], nil", n, subjects, err)
	}
	revs, err = st.Revocations(ctx, at)
	if err != nil || len(revs) != 3 {
		t.Errorf("Revocations(%v) = %d, %v; want 3 (RevokeSubject's and RevokeMatching's)", at, len(revs), err)
	}
	if list, err := st.List(ctx, "alice", at); err != nil || len(list) != 0 {
		t.Errorf("List(alice) after RevokeMatching = %d sessions, %v; want none", len(list), err)
	}
}
