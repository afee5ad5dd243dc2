package pgstore_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
func migrateUpTo(t testing.TB, dsn, schema string, last int) {
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
		// Two statements: a file that runs outside a transaction (CREATE
		// INDEX CONCURRENTLY) must be sent alone.
		if _, err := conn.Exec(ctx, "SET search_path TO "+id); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, string(sql)); err != nil {
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
	for _, s := range []*sessiond.Session{live1, live2, bob, revoked, expired} {
		insertAsOldNode(t, dsn, schema, s)
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

// TestStore_MigrateGCAt applies migrations 0008 (gc_at) and 0009 (one
// token index by session) to a schema at version 7 holding live, revoked
// and expired sessions with access, live and retired refresh tokens, and
// checks that every session and token reads as before, that 0008 set
// every gc_at, that the collector deletes exactly the expired sessions,
// and that a refresh still retires the session's live refresh tokens.
func TestStore_MigrateGCAt(t *testing.T) {
	dsn := testDSN(t)
	t.Parallel()
	schema := testSchema(t, dsn)
	migrateUpTo(t, dsn, schema, 7)

	at := t0.Add(10 * time.Minute)
	live, bob := newSession("alice", t0), newSession("bob", t0)
	revoked := newSession("alice", t0.Add(time.Minute))
	revoked.RevokedAt, revoked.RevokeReason = t0.Add(2*time.Minute), sessiond.ReasonLogout
	idle := newSession("alice", t0.Add(-time.Hour)) // idle expiry t0-30m
	expired := newSession("alice", t0.Add(-9*time.Hour))
	type stored struct {
		s      *sessiond.Session
		tokens []sessiond.Token
	}
	var all []stored
	for _, s := range []*sessiond.Session{live, bob, revoked, idle, expired} {
		retired := newToken(sessiond.KindRefresh, s.ID, s.CreatedAt)
		retired.RetiredAt = s.CreatedAt.Add(time.Second)
		all = append(all, stored{s, []sessiond.Token{
			newToken(sessiond.KindAccess, s.ID, s.CreatedAt), retired,
			newToken(sessiond.KindRefresh, s.ID, s.CreatedAt.Add(time.Second)),
		}})
	}
	sessions, tokens := pgx.Identifier{schema, "sessions"}.Sanitize(), pgx.Identifier{schema, "tokens"}.Sanitize()
	for _, st := range all {
		insertAsOldNode(t, dsn, schema, st.s)
		for _, tok := range st.tokens {
			var retiredAt *time.Time
			if !tok.RetiredAt.IsZero() {
				retiredAt = &tok.RetiredAt
			}
			if err := exec(t.Context(), dsn, "INSERT INTO "+tokens+` (hash, session_id, kind, issued_at, expires_at, retired_at)
				VALUES ($1, $2, $3, $4, $5, $6)`, tok.Hash[:], string(tok.SessionID), int16(tok.Kind), tok.IssuedAt, tok.ExpiresAt,
				retiredAt); err != nil {
				t.Fatal(err)
			}
		}
	}

	st, _ := newStore(t, pgstore.Options{Schema: schema})
	if got, want := migrationCount(t, dsn, schema), migrationFiles(t); got != want {
		t.Fatalf("schema_migrations has %d rows after New on version 7; want %d", got, want)
	}
	if n := queryInt(t, dsn, "SELECT count(*) FROM "+sessions+" WHERE gc_at = least(expires_at, idle_expires_at)"); n != len(all) {
		t.Errorf("%d sessions with gc_at at their earlier expiry after migration 0008; want all %d", n, len(all))
	}
	ctx := t.Context()
	for _, stored := range all {
		got, err := st.Get(ctx, stored.s.ID)
		if err != nil || got.Subject != stored.s.Subject || !got.IdleExpiresAt.Equal(stored.s.IdleExpiresAt) ||
			!got.RevokedAt.Equal(stored.s.RevokedAt) {
			t.Errorf("Get(%s) = %+v, %v; want the session as stored", stored.s.ID, got, err)
		}
		for _, tok := range stored.tokens {
			if got, _, err := st.Lookup(ctx, tok.Hash); err != nil || got.Kind != tok.Kind || !got.RetiredAt.Equal(tok.RetiredAt) {
				t.Errorf("Lookup(token of %s) = %+v, %v; want it as stored", stored.s.ID, got, err)
			}
		}
	}

	if n, err := st.DeleteExpired(ctx, at, 100); err != nil || n != 2 {
		t.Errorf("DeleteExpired(%v) = %d, %v; want 2 (the idle and the expired session), nil", at, n, err)
	}
	for _, s := range []*sessiond.Session{idle, expired} {
		if _, err := st.Get(ctx, s.ID); !errors.Is(err, sessiond.ErrNotFound) {
			t.Errorf("Get(%s) after collection = %v; want ErrNotFound", s.ID, err)
		}
	}
	if n := queryInt(t, dsn, "SELECT count(*) FROM "+tokens+" WHERE session_id = ANY ($1)",
		[]string{string(idle.ID), string(expired.ID)}); n != 0 {
		t.Errorf("%d tokens of collected sessions left; want none (ON DELETE CASCADE)", n)
	}
	if n := queryInt(t, dsn, "SELECT count(*) FROM "+sessions+" WHERE gc_at = '-infinity'"); n != 0 {
		t.Errorf("%d sessions with gc_at -infinity after a collection; want none", n)
	}

	// live's two refresh tokens: the retired one, and the current one,
	// which the swap retires.
	cur := all[0].tokens[2]
	next := newToken(sessiond.KindRefresh, live.ID, at)
	if err := st.SwapRefresh(ctx, sessiond.RefreshSwap{Old: cur.Hash, Next: next, Now: at, GraceSince: at,
		LastActiveAt: at, IdleExpiresAt: at.Add(30 * time.Minute)}); err != nil {
		t.Fatalf("SwapRefresh on a migrated session = %v; want nil", err)
	}
	if got, _, err := st.Lookup(ctx, cur.Hash); err != nil || !got.RetiredAt.Equal(at) {
		t.Errorf("Lookup(swapped token) = %+v, %v; want retired at %v", got, err, at)
	}
	if n := queryInt(t, dsn, "SELECT count(*) FROM "+tokens+" WHERE session_id = $1 AND kind = 2 AND retired_at IS NULL",
		string(live.ID)); n != 1 {
		t.Errorf("%d live refresh tokens of the refreshed session; want 1 (its new one)", n)
	}
	var indexes []string
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, _ := conn.Query(ctx, "SELECT indexname FROM pg_indexes WHERE schemaname = $1 AND tablename IN ('sessions', 'tokens') ORDER BY 1", schema)
	if indexes, err = pgx.CollectRows(rows, pgx.RowTo[string]); err != nil {
		t.Fatal(err)
	}
	if want := []string{"sessions_gc_at", "sessions_pkey", "sessions_subject", "tokens_pkey", "tokens_session"}; !slices.Equal(indexes, want) {
		t.Errorf("indexes of sessions and tokens = %q; want %q", indexes, want)
	}
}

// revokeAsOldNode revokes a session as a node of a build before migration
// 0011 does (its revoke statement, word for word): the log's row without
// the session's columns, as during a rolling upgrade.
func revokeAsOldNode(t *testing.T, dsn, schema string, id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason) {
	t.Helper()
	q := pgx.Identifier{schema}.Sanitize()
	if err := exec(t.Context(), dsn, `WITH s AS (
			UPDATE `+q+`.sessions s SET revoked_at = $2, revoke_reason = $3
			WHERE s.id = $1 AND s.revoked_at IS NULL
			RETURNING s.id, s.revoked_at
		), logged AS (
			INSERT INTO `+q+`.revocation_log (session_id, revoked_at) SELECT id, revoked_at FROM s
			ON CONFLICT (session_id) DO UPDATE SET revoked_at = EXCLUDED.revoked_at
		)
		SELECT id FROM s`, string(id), at, string(reason)); err != nil {
		t.Fatal(err)
	}
}

// revocationSnapshot is what a snapshot since since leaving out except
// holds, read from the sessions table alone (the whole read of every
// version, which no migration changed), JSON-encoded.
func revocationSnapshot(t *testing.T, dsn, schema string, since time.Time, except sessiond.RevokeReason) []byte {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	rows, err := conn.Query(t.Context(), `SELECT id, subject, revoked_at, expires_at, revoke_reason FROM `+pgx.Identifier{schema}.Sanitize()+`.sessions
		WHERE revoked_at >= $1 AND expires_at > $1 AND revoke_reason <> $2 ORDER BY revoked_at, id`, since, string(except))
	if err != nil {
		t.Fatal(err)
	}
	revs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (sessiond.Revocation, error) {
		var r sessiond.Revocation
		err := row.Scan((*string)(&r.SessionID), &r.Subject, &r.RevokedAt, &r.ExpiresAt, (*string)(&r.Reason))
		r.RevokedAt, r.ExpiresAt = r.RevokedAt.UTC(), r.ExpiresAt.UTC()
		return r, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return mustJSON(t, revs)
}

// pagedSnapshot walks st's revocations a page of limit at a time
// (PageRevocations), JSON-encoded.
func pagedSnapshot(t *testing.T, st *pgstore.Store, since time.Time, except sessiond.RevokeReason, limit int) []byte {
	t.Helper()
	q := sessiond.RevocationQuery{Since: since, Except: except, Limit: limit}
	revs := []sessiond.Revocation{}
	for {
		page, err := st.PageRevocations(t.Context(), q)
		if err != nil {
			t.Fatalf("PageRevocations(after %v) = %v", q.After, err)
		}
		revs = append(revs, page.Revocations...)
		if page.Done {
			return mustJSON(t, revs)
		}
		q.After = page.Next
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestStore_MigrateRevocationLogRows applies migration 0011 (the log's
// rows carry what a snapshot page reads) to a schema at version 10 whose
// log a build of that version filled, and checks that the snapshot read a
// page at a time is byte for byte the one before, over ties of one
// instant, pages and a bulk revocation; then that revocations an old node
// logs after the migration (no columns copied), beside the new node's in
// the same instants, are all in the snapshot, as they are in the table.
func TestStore_MigrateRevocationLogRows(t *testing.T) {
	dsn := testDSN(t)
	t.Parallel()
	schema := testSchema(t, dsn)
	migrateUpTo(t, dsn, schema, 10)
	q := pgx.Identifier{schema}.Sanitize()

	since := t0.Add(-5 * time.Minute)
	reasons := []sessiond.RevokeReason{sessiond.ReasonLogout, sessiond.ReasonAdmin, sessiond.ReasonIncident}
	var live []*sessiond.Session
	for i := range 40 {
		s := newSession(fmt.Sprintf("user%02d", i%7), t0.Add(-time.Hour))
		switch i {
		case 0: // over before since: not sent
			s.ExpiresAt = since
		case 1: // an incident's session revoked by RevokeMatching: not logged
			s.RevokedAt, s.RevokeReason = t0.Add(-time.Minute), sessiond.ReasonAdmin
		}
		insertAsOldNode(t, dsn, schema, s)
		live = append(live, s)
	}
	if err := exec(t.Context(), dsn, "INSERT INTO "+q+".bulk_revocations (at) VALUES ($1)", t0.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	for i, s := range live[2:30] {
		at := t0.Add(-time.Duration(i%9) * time.Minute) // ties, one before since, one in the bulk instant
		revokeAsOldNode(t, dsn, schema, s.ID, at, reasons[i%len(reasons)])
	}
	revokeAsOldNode(t, dsn, schema, live[0].ID, t0, sessiond.ReasonLogout)
	before := revocationSnapshot(t, dsn, schema, since, sessiond.ReasonIncident)

	st, _ := newStore(t, pgstore.Options{Schema: schema})
	if got, want := migrationCount(t, dsn, schema), migrationFiles(t); got != want {
		t.Fatalf("schema_migrations has %d rows after New on version 10; want %d", got, want)
	}
	if n := queryInt(t, dsn, "SELECT count(*) FROM "+q+".revocation_log WHERE subject IS NULL"); n != 29 {
		t.Errorf("%d log rows without their session's columns after migration 0011; want all 29 (no backfill)", n)
	}
	for _, limit := range []int{1, 4, 1000} {
		if got := pagedSnapshot(t, st, since, sessiond.ReasonIncident, limit); !bytes.Equal(got, before) {
			t.Errorf("snapshot a page of %d at a time after migration 0011:\n%s\nwant, as before:\n%s", limit, got, before)
		}
	}

	// A rolling upgrade: an old node and the new one revoke in the same
	// instants.
	for i, s := range live[30:] {
		at := t0.Add(-time.Duration(i%3) * time.Minute)
		if i%2 == 0 {
			revokeAsOldNode(t, dsn, schema, s.ID, at, reasons[i%len(reasons)])
		} else if _, err := st.Revoke(t.Context(), s.ID, at, reasons[i%len(reasons)]); err != nil {
			t.Fatal(err)
		}
	}
	if n := queryInt(t, dsn, "SELECT count(*) FROM "+q+".revocation_log WHERE subject IS NULL"); n != 29+5 {
		t.Errorf("%d log rows without their session's columns; want %d (the old node's)", n, 29+5)
	}
	if bad := logCopyMismatches(t, schema); len(bad) != 29+5 {
		t.Errorf("%d log rows not copies of their sessions; want only the old node's %d", len(bad), 29+5)
	}
	want := revocationSnapshot(t, dsn, schema, since, sessiond.ReasonIncident)
	if bytes.Equal(want, before) {
		t.Fatal("the rolling upgrade's revocations changed no snapshot")
	}
	for _, limit := range []int{1, 4, 1000} {
		if got := pagedSnapshot(t, st, since, sessiond.ReasonIncident, limit); !bytes.Equal(got, want) {
			t.Errorf("snapshot a page of %d at a time with an old node's revocations:\n%s\nwant:\n%s", limit, got, want)
		}
	}
	if got := pagedSnapshot(t, st, since, "", 3); !bytes.Equal(got, revocationSnapshot(t, dsn, schema, since, "")) {
		t.Errorf("snapshot leaving nothing out differs from the table's:\n%s", got)
	}
}
