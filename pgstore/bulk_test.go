package pgstore_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

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
