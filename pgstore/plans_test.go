package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"

	"github.com/sessiond/sessiond/internal/testenv"
)

// reltuples is PostgreSQL's row estimate of schema.table: -1 until the
// table is first analyzed or vacuumed.
func reltuples(tb testing.TB, dsn, schema, table string) float64 {
	tb.Helper()
	return queryOne[float64](tb, dsn, "SELECT reltuples FROM pg_class WHERE oid = $1::regclass", pgx.Identifier{schema, table}.Sanitize())
}

// fillTokens stores one session and n tokens of it with plain SQL, not
// through the store (so the store's own check is not woken).
func fillTokens(tb testing.TB, dsn, schema string, n int) {
	tb.Helper()
	q := pgx.Identifier{schema}.Sanitize()
	sql := `WITH s AS (INSERT INTO ` + q + `.sessions (id, subject, strategy, created_at, last_active_at, idle_expires_at, expires_at)
		VALUES ('s_plans', 'plans', 'database', now(), now(), now() + interval '1 hour', now() + interval '1 hour') RETURNING id)
		INSERT INTO ` + q + `.tokens (hash, session_id, kind, issued_at, expires_at)
		SELECT sha256(i::text::bytea), (SELECT id FROM s), 2, now(), now() + interval '1 hour' FROM generate_series(1, $1) i`
	if err := exec(tb.Context(), dsn, sql, n); err != nil {
		tb.Fatalf("fill tokens: %v", err)
	}
}

// The check analyzes a table once it outgrows its statistics, and only
// then: not while it is small, and not again until it grows further.
func TestPlanCheck_AnalyzesTablesThatOutgrewTheirStatistics(t *testing.T) {
	dsn := testDSN(t)
	st, schema := newStore(t, pgstore.Options{})
	check := pgstore.PlanChecker(st)
	tokens := schema + ".tokens" // as PostgreSQL prints it

	analyzed, unanalyzed, err := check(t.Context())
	if err != nil || len(analyzed) != 0 || !unanalyzed {
		t.Fatalf("check on a new schema = %v, %v, %v; want nothing analyzed, unanalyzed tables, nil", analyzed, unanalyzed, err)
	}

	// About 140 pages of tokens: past the threshold (64).
	fillTokens(t, dsn, schema, 10_000)
	analyzed, unanalyzed, err = check(t.Context())
	if err != nil || !slices.Equal(analyzed, []string{tokens}) || !unanalyzed {
		t.Fatalf("check after 10,000 tokens = %v, %v, %v; want [%s], sessions still unanalyzed, nil", analyzed, unanalyzed, err, tokens)
	}
	if n := reltuples(t, dsn, schema, "tokens"); n < 9_000 || n > 11_000 {
		t.Errorf("tokens' reltuples after the check = %v; want about 10,000", n)
	}
	if n := reltuples(t, dsn, schema, "sessions"); n >= 0 {
		t.Errorf("sessions' reltuples = %v; want -1 (one row is no reason to analyze)", n)
	}

	analyzed, _, err = check(t.Context())
	if err != nil || len(analyzed) != 0 {
		t.Errorf("check again, no growth = %v, %v; want nothing analyzed", analyzed, err)
	}
}

// A table the store's role does not own: PostgreSQL skips the ANALYZE with
// a warning, and the check does not try again at every round.
func TestPlanCheck_TableOwnedByAnotherRole(t *testing.T) {
	dsn := testDSN(t)
	_, schema := newStore(t, pgstore.Options{})
	var b [6]byte
	_, _ = rand.Read(b[:])
	role := "sessiond_plans_" + hex.EncodeToString(b[:])
	ctx := t.Context()
	q := pgx.Identifier{schema}.Sanitize()
	for _, sql := range []string{
		"CREATE ROLE " + role + " LOGIN",
		// The store needs CREATE on its schema even when it is
		// migrated: only the tables belong to another role.
		"GRANT USAGE, CREATE ON SCHEMA " + q + " TO " + role,
		"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA " + q + " TO " + role,
	} {
		if err := exec(ctx, dsn, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, sql := range []string{"DROP OWNED BY " + role, "DROP ROLE " + role} {
			if err := exec(ctx, dsn, sql); err != nil {
				t.Errorf("%s: %v", sql, err)
			}
		}
	})
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	asRole := fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable", role, cfg.Host, cfg.Port, cfg.Database)
	st, err := pgstore.New(ctx, asRole, pgstore.Options{Schema: schema})
	if err != nil {
		t.Fatalf("pgstore.New as %s = %v", role, err)
	}
	defer st.Close()

	fillTokens(t, dsn, schema, 10_000)
	check := pgstore.PlanChecker(st)
	tokens := schema + ".tokens" // as PostgreSQL prints it
	analyzed, _, err := check(ctx)
	if err != nil || !slices.Equal(analyzed, []string{tokens}) {
		t.Fatalf("check = %v, %v; want [%s] tried, nil", analyzed, err, tokens)
	}
	if n := reltuples(t, dsn, schema, "tokens"); n >= 0 {
		t.Errorf("tokens' reltuples = %v; want -1 (the role cannot analyze it)", n)
	}
	analyzed, _, err = check(ctx)
	if err != nil || len(analyzed) != 0 {
		t.Errorf("check again = %v, %v; want nothing tried before the table grows %d times", analyzed, err, 4)
	}
}

// New starts the check: writes through the store that grow a table past
// the threshold get it analyzed by the store itself (its log says so;
// autovacuum might analyze it too, but would not log it there).
func TestPlanCheck_RunsInTheBackground(t *testing.T) {
	var logs testenv.SyncBuffer
	st, schema := newStore(t, pgstore.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Microsecond)
	sess := newSession("plans", now)
	toks := make([]sessiond.Token, 8_000)
	for i := range toks {
		toks[i] = newToken(sessiond.KindRefresh, sess.ID, now)
	}
	if err := st.Create(ctx, sess, toks...); err != nil {
		t.Fatalf("Create = %v", err)
	}
	want := "table=" + schema + ".tokens"
	// The check runs every second while a table has no statistics; the
	// wait is bounded by the test binary's deadline, not by a guess at how
	// slow a loaded machine is.
	wait, cancel := testenv.BeforeDeadline(t)
	defer cancel()
	for !strings.Contains(logs.String(), want) {
		select {
		case <-wait.Done():
			t.Fatalf("no log of tokens analyzed after 8,000 tokens were written through the store (%v); log:\n%s", wait.Err(), logs.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if n := reltuples(t, testDSN(t), schema, "tokens"); n < 0 {
		t.Errorf("tokens' reltuples = %v after the store analyzed it; want the row estimate", n)
	}
}

// The plan check runs only when the write count moved since its last
// round, so a write is counted once it has finished: counted while it
// waited (or ran), a check in between would have seen the count move but
// not the rows, and with no later write the table would never be checked
// again. Under load an 8,000-token Create outlasts the one-second round,
// and TestPlanCheck_RunsInTheBackground failed that way.
func TestPlanCheck_CountsFinishedWrites(t *testing.T) {
	st, _ := newStore(t, pgstore.Options{})
	ctx := t.Context()
	before := pgstore.WritesOf(st)
	release := pgstore.HoldGroupSlots(st)
	done := make(chan error, 1)
	go func() { done <- st.Create(ctx, newSession("plans", time.Now().UTC())) }()
	for pgstore.QueuedWrites(st) < 1 {
		if ctx.Err() != nil {
			release()
			t.Fatal("the Create never queued")
		}
		time.Sleep(time.Millisecond)
	}
	if got := pgstore.WritesOf(st); got != before {
		t.Errorf("write count with a Create queued = %d; want %d (not finished)", got, before)
	}
	release()
	if err := <-done; err != nil {
		t.Fatalf("Create = %v", err)
	}
	if got := pgstore.WritesOf(st); got != before+1 {
		t.Errorf("write count after the Create = %d; want %d", got, before+1)
	}
}
