package pgstore_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
)

// createMany stores n sessions of subjects user00…, live for 8 hours from
// t0 (idle for an hour), and returns them.
func createMany(t *testing.T, st *pgstore.Store, n, subjects int) []*sessiond.Session {
	t.Helper()
	out := make([]*sessiond.Session, n)
	for i := range out {
		s := newSession(fmt.Sprintf("user%02d", i%subjects), t0.Add(time.Duration(i)*time.Microsecond))
		s.IdleExpiresAt = t0.Add(time.Hour)
		if err := st.Create(t.Context(), s); err != nil {
			t.Fatalf("Create() = %v; want nil", err)
		}
		out[i] = s
	}
	return out
}

func subjectsOf(ss []*sessiond.Session) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Subject)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestStore_RevokeMatchingBatches crosses batch boundaries: a count that is
// not a multiple of the batch, and one that is (the last batch is empty).
func TestStore_RevokeMatchingBatches(t *testing.T) {
	t.Parallel()
	const batch = 7
	at := t0.Add(time.Minute)
	for _, c := range []struct {
		name     string
		sessions int
		filter   func([]*sessiond.Session) (sessiond.RevokeFilter, []*sessiond.Session)
	}{
		{"All", 50, func(all []*sessiond.Session) (sessiond.RevokeFilter, []*sessiond.Session) {
			return sessiond.RevokeFilter{All: true}, all
		}},
		{"AllExactMultiple", 49, func(all []*sessiond.Session) (sessiond.RevokeFilter, []*sessiond.Session) {
			return sessiond.RevokeFilter{All: true}, all
		}},
		{"SubjectsIssuedBefore", 60, func(all []*sessiond.Session) (sessiond.RevokeFilter, []*sessiond.Session) {
			cutoff := all[40].CreatedAt
			var hit []*sessiond.Session
			for _, s := range all[:40] {
				if s.Subject == "user01" || s.Subject == "user02" {
					hit = append(hit, s)
				}
			}
			// An invalid subject is ignored, not an error.
			return sessiond.RevokeFilter{Subjects: []string{"user02", "user01", "\xff", "user01"}, IssuedBefore: cutoff}, hit
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			st, _ := newStore(t, pgstore.Options{})
			pgstore.SetRevokeBatch(st, batch)
			all := createMany(t, st, c.sessions, 6)
			f, hit := c.filter(all)
			n, subjects, err := st.RevokeMatching(t.Context(), f, at, sessiond.ReasonIncident)
			if err != nil || n != len(hit) || !slices.Equal(subjects, subjectsOf(hit)) {
				t.Fatalf("RevokeMatching(%+v) = %d, %q, %v; want %d, %q, nil", f, n, subjects, err, len(hit), subjectsOf(hit))
			}
			for _, s := range hit {
				got, err := st.Get(t.Context(), s.ID)
				if err != nil || !got.RevokedAt.Equal(at) || got.RevokeReason != sessiond.ReasonIncident {
					t.Fatalf("Get(%s) after RevokeMatching = %+v, %v; want revoked at %v for incident", s.ID, got, err, at)
				}
			}
			if live, _ := st.CountLive(t.Context(), at); live[sessiond.StrategyHybrid] != c.sessions-len(hit) {
				t.Errorf("after RevokeMatching, %d live; want %d", live[sessiond.StrategyHybrid], c.sessions-len(hit))
			}
			if n, _, err := st.RevokeMatching(t.Context(), f, at, sessiond.ReasonIncident); n != 0 || err != nil {
				t.Errorf("second RevokeMatching(%+v) = %d, %v; want 0, nil", f, n, err)
			}
		})
	}
	t.Run("OnlyInvalidSubjects", func(t *testing.T) {
		t.Parallel()
		st, _ := newStore(t, pgstore.Options{})
		createMany(t, st, 5, 5)
		n, subjects, err := st.RevokeMatching(t.Context(), sessiond.RevokeFilter{Subjects: []string{"\xff", "a\x00"}}, at, sessiond.ReasonIncident)
		if n != 0 || len(subjects) != 0 || err != nil {
			t.Errorf("RevokeMatching(invalid subjects only) = %d, %q, %v; want 0, none, nil (not every session)", n, subjects, err)
		}
	})
}

// TestStore_RevokeMatchingConcurrent runs a bulk revocation, in small
// batches, while other calls revoke and touch the same sessions: every
// session ends revoked exactly once, and the bulk revocation stops only
// when none is left.
func TestStore_RevokeMatchingConcurrent(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, pgstore.Options{})
	pgstore.SetRevokeBatch(st, 25)
	const sessions, subjects = 1000, 50
	all := createMany(t, st, sessions, subjects)
	ctx := t.Context()
	at := t0.Add(time.Minute)

	var wg sync.WaitGroup
	start := make(chan struct{})
	for w := range 4 {
		wg.Go(func() {
			<-start
			rng := rand.New(rand.NewPCG(uint64(w), 1))
			for i := range 30 {
				var err error
				switch i % 3 {
				case 0:
					for range 5 { // a deadlock with the bulk revocation is ErrConflict: retry
						_, err = st.RevokeSubject(ctx, fmt.Sprintf("user%02d", rng.IntN(subjects)), "", at, sessiond.ReasonAdmin)
						if !errors.Is(err, sessiond.ErrConflict) {
							break
						}
					}
				case 1:
					_, err = st.Revoke(ctx, all[rng.IntN(sessions)].ID, at, sessiond.ReasonLogout)
				case 2:
					err = st.Touch(ctx, all[rng.IntN(sessions)].ID, at, at.Add(time.Hour))
					if errors.Is(err, sessiond.ErrRevoked) {
						err = nil // revoked first: refused, nothing changed
					}
				}
				if err != nil {
					t.Errorf("concurrent call = %v; want nil", err)
					return
				}
			}
		})
	}
	close(start)
	n, _, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, at, sessiond.ReasonIncident)
	wg.Wait()
	if err != nil {
		t.Fatalf("RevokeMatching(all) = %v; want nil", err)
	}
	byReason := map[sessiond.RevokeReason]int{}
	for _, s := range all {
		got, err := st.Get(ctx, s.ID)
		if err != nil {
			t.Fatalf("Get(%s) = %v", s.ID, err)
		}
		if got.RevokedAt.IsZero() {
			t.Errorf("session %s is not revoked after RevokeMatching(all)", s.ID)
		}
		byReason[got.RevokeReason]++
	}
	if byReason[sessiond.ReasonIncident] != n {
		t.Errorf("RevokeMatching(all) returned %d; %d sessions carry reason incident (reasons: %v)", n, byReason[sessiond.ReasonIncident], byReason)
	}
	if live, err := st.CountLive(ctx, at); err != nil || len(live) != 0 {
		t.Errorf("CountLive after RevokeMatching(all) = %v, %v; want none", live, err)
	}
}

// TestStore_RevokeMatchingNoNotify: a bulk revocation sends no
// notification per session (the Manager's watermark carries it); the
// next notification a listener hears is the next single revocation.
func TestStore_RevokeMatchingNoNotify(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, pgstore.Options{})
	f := subscribe(t, t.Context(), st)
	createMany(t, st, 20, 4)
	if n, _, err := st.RevokeMatching(t.Context(), sessiond.RevokeFilter{All: true}, t0.Add(time.Second), sessiond.ReasonIncident); n != 20 || err != nil {
		t.Fatalf("RevokeMatching(all) = %d, %v; want 20, nil", n, err)
	}
	f.expect(t, revoke(t, st, "sentinel"))
	revs, err := st.Revocations(t.Context(), t0)
	if err != nil || len(revs) != 21 {
		t.Errorf("Revocations(%v) = %d, %v; want 21 (the bulk ones listed), nil", t0, len(revs), err)
	}
}

// TestStore_RevokeMatchingFailsPartWay: a RevokeMatching that fails after
// some of its batches committed returns, with the error, exactly how many
// sessions those batches revoked (the kill switch's answer carries it as
// the problem's revoked member, and its bulk event records it): never one
// of the batch that failed, which rolled back, and every one of a batch
// that committed. A trigger refuses to revoke one session; in the table
// walk, whose two workers each revoke a chunk of heap pages, another chunk
// is held in flight (on an advisory lock) until that failure has happened:
// it was canceled, and a chunk canceled after it committed went uncounted
// (18 revoked, 36 in the table). Once the trigger is gone, the same call
// revokes the rest and the two counts add up.
func TestStore_RevokeMatchingFailsPartWay(t *testing.T) {
	t.Parallel()
	const sessions, batch = 60, 7
	at := t0.Add(time.Minute)
	for _, c := range []struct {
		name   string
		filter sessiond.RevokeFilter
		walk   bool // the table walk, two chunks at a time; else the sweep, one batch at a time
	}{
		{"All", sessiond.RevokeFilter{All: true}, true},
		{"Subjects", sessiond.RevokeFilter{Subjects: []string{"user00", "user01", "user02", "user03", "user04", "user05"}}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			st, schema := newStore(t, pgstore.Options{})
			dsn := testDSN(t)
			pgstore.SetRevokeBatch(st, batch) // the walk: a chunk of one heap page
			createMany(t, st, sessions, 6)
			q := pgx.Identifier{schema}.Sanitize()
			key := rand.Int32() // this test's advisory locks: (key, 1) holds a chunk, (key, 2) its failure
			onPage := func(page int) string {
				return queryOne[string](t, dsn, fmt.Sprintf(`SELECT id FROM %s.sessions WHERE (ctid::text::point)[0] = %d ORDER BY id LIMIT 1`, q, page))
			}
			held, poisoned := onPage(0), onPage(1)
			if !c.walk {
				held = ""
			}
			for _, sql := range []string{
				fmt.Sprintf(`CREATE FUNCTION %s.hold() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock_shared(%d, 1); RETURN NEW; END $$`, q, key),
				fmt.Sprintf(`CREATE FUNCTION %s.poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock_shared(%d, 2); RAISE EXCEPTION 'poisoned'; END $$`, q, key),
				fmt.Sprintf(`CREATE TRIGGER hold BEFORE UPDATE ON %s.sessions FOR EACH ROW WHEN (OLD.id = '%s') EXECUTE FUNCTION %s.hold()`, q, held, q),
				fmt.Sprintf(`CREATE TRIGGER poison BEFORE UPDATE ON %s.sessions FOR EACH ROW WHEN (OLD.id = '%s') EXECUTE FUNCTION %s.poison()`, q, poisoned, q),
			} {
				if err := exec(t.Context(), dsn, sql); err != nil {
					t.Fatal(err)
				}
			}
			locks := connect(t, dsn)
			if _, err := locks.Exec(t.Context(), `SELECT pg_advisory_lock($1, 1), pg_advisory_lock($1, 2)`, key); err != nil {
				t.Fatal(err)
			}
			waiting := func(which int) bool { // a chunk waits on the lock (key, which)
				return queryInt(t, dsn, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::oid AND objid = $2 AND NOT granted`,
					uint32(key), which) > 0
			}
			type result struct {
				n   int
				err error
			}
			done := make(chan result, 1)
			go func() {
				n, _, err := st.RevokeMatching(t.Context(), c.filter, at, sessiond.ReasonIncident)
				done <- result{n, err}
			}()
			until := func(cond func() bool) {
				for !cond() {
					select {
					case <-t.Context().Done():
						t.Fatal("RevokeMatching never got there")
					case <-time.After(10 * time.Millisecond):
					}
				}
			}
			// Both chunks in flight (the walk), then the poisoned one fails.
			until(func() bool { return waiting(2) && (!c.walk || waiting(1)) })
			if _, err := locks.Exec(t.Context(), `SELECT pg_advisory_unlock($1, 2)`, key); err != nil {
				t.Fatal(err)
			}
			until(func() bool { return !waiting(2) })
			if _, err := locks.Exec(t.Context(), `SELECT pg_advisory_unlock($1, 1)`, key); err != nil {
				t.Fatal(err)
			}
			r := <-done
			revoked := queryInt(t, dsn, `SELECT count(*) FROM `+q+`.sessions WHERE revoked_at IS NOT NULL`)
			if r.err == nil || r.n != revoked || r.n >= sessions || c.walk && r.n == 0 {
				t.Fatalf("RevokeMatching with a poisoned session = %d, %v; want an error and %d, the sessions revoked (the held chunk's among them)", r.n, r.err, revoked)
			}
			if err := exec(t.Context(), dsn, `DROP TRIGGER poison ON `+q+`.sessions`); err != nil {
				t.Fatal(err)
			}
			rest, _, err := st.RevokeMatching(t.Context(), c.filter, at, sessiond.ReasonIncident)
			if err != nil || r.n+rest != sessions {
				t.Errorf("RevokeMatching again = %d, %v after %d; want the other %d", rest, err, r.n, sessions-r.n)
			}
		})
	}
}
