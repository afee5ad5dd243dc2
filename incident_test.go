package sessiond_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
)

// TestManager_KillSwitchSameSecond (issue 14, defect 4): JWTs carry their
// session's creation time in whole seconds, the watermark microseconds. A
// login right after the kill switch, in the same wall-clock second, must
// work (it never did in jwt and hybrid: its access tokens were rejected as
// revoked forever), and a session created before the incident, in that same
// second, must still be revoked.
func TestManager_KillSwitchSameSecond(t *testing.T) {
	ctx := context.Background()
	filters := []struct {
		name   string
		filter sessiond.RevokeFilter
	}{
		{"all", sessiond.RevokeFilter{All: true}},
		{"subject", sessiond.RevokeFilter{Subjects: []string{"alice"}}},
	}
	for _, st := range strategies {
		for _, fl := range filters {
			t.Run(string(st)+"/"+fl.name, func(t *testing.T) {
				h := newHarness(t, st, nil)
				at := func(ms int) { h.clock.Set(t0.Add(time.Duration(ms) * time.Millisecond)) }
				refreshes := st != sessiond.StrategyDatabase

				at(100)
				before := h.create(t, "alice", sessiond.CreateOptions{})
				at(300)
				if _, err := h.m.RevokeMatching(ctx, fl.filter, sessiond.ReasonIncident, false); err != nil {
					t.Fatal(err)
				}
				at(700)
				after := h.create(t, "alice", sessiond.CreateOptions{})

				if _, err := h.m.Verify(ctx, before.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
					t.Errorf("session from before the incident: Verify = %v; want ErrRevoked", err)
				}
				if refreshes {
					if _, err := h.m.Refresh(ctx, before.RefreshToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
						t.Errorf("session from before the incident: Refresh = %v; want ErrRevoked", err)
					}
				}
				if _, err := h.m.Verify(ctx, after.AccessToken, sessiond.Client{}); err != nil {
					t.Errorf("login after the incident, same second: Verify = %v; want it valid", err)
				}
				if refreshes {
					next, err := h.m.Refresh(ctx, after.RefreshToken, sessiond.Client{})
					if err != nil {
						t.Fatalf("login after the incident, same second: Refresh = %v; want it valid", err)
					}
					if _, err := h.m.Verify(ctx, next.AccessToken, sessiond.Client{}); err != nil {
						t.Errorf("its refreshed access token: Verify = %v; want it valid", err)
					}
				}
				// Well after the incident, both answers hold.
				at(5000)
				if _, err := h.m.Verify(ctx, after.AccessToken, sessiond.Client{}); err != nil {
					t.Errorf("4 s later: Verify = %v; want it valid", err)
				}
				if _, err := h.m.Verify(ctx, before.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
					t.Errorf("4 s later, session from before: Verify = %v; want ErrRevoked", err)
				}
			})
		}
	}

	// A second incident in the same second must reach the logins made
	// between the two, although they were dated to the next second.
	t.Run("two incidents in one second", func(t *testing.T) {
		for _, st := range strategies {
			h := newHarness(t, st, nil)
			at := func(ms int) { h.clock.Set(t0.Add(time.Duration(ms) * time.Millisecond)) }
			all := sessiond.RevokeFilter{All: true}
			at(300)
			if _, err := h.m.RevokeMatching(ctx, all, sessiond.ReasonIncident, false); err != nil {
				t.Fatal(err)
			}
			at(500)
			between := h.create(t, "bob", sessiond.CreateOptions{})
			at(800)
			if _, err := h.m.RevokeMatching(ctx, all, sessiond.ReasonIncident, false); err != nil {
				t.Fatal(err)
			}
			at(900)
			last := h.create(t, "bob", sessiond.CreateOptions{})
			if _, err := h.m.Verify(ctx, between.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
				t.Errorf("%s: login between the incidents: Verify = %v; want ErrRevoked", st, err)
			}
			if _, err := h.m.Verify(ctx, last.AccessToken, sessiond.Client{}); err != nil {
				t.Errorf("%s: login after both: Verify = %v; want it valid", st, err)
			}
			if st == sessiond.StrategyJWT {
				continue // stores no session
			}
			// The store's record agrees with the tokens.
			for _, c := range []struct {
				name    string
				iss     *sessiond.Issued
				revoked bool
			}{{"login between the incidents", between, true}, {"login after both", last, false}} {
				s, err := h.store.Get(ctx, c.iss.Session.ID)
				if err != nil {
					t.Fatalf("%s: %s: Get: %v", st, c.name, err)
				}
				if got := !s.RevokedAt.IsZero(); got != c.revoked {
					t.Errorf("%s: %s: stored as revoked %v; want %v", st, c.name, got, c.revoked)
				}
			}
		}
	})
}

// filterSpy is a store that records the filters RevokeMatching gets.
type filterSpy struct {
	*memstore.Store
	filters []sessiond.RevokeFilter
}

func (s *filterSpy) RevokeMatching(ctx context.Context, f sessiond.RevokeFilter, at time.Time, reason sessiond.RevokeReason) (int, []string, error) {
	s.filters = append(s.filters, f)
	return s.Store.RevokeMatching(ctx, f, at, reason)
}

// TestManager_RevokeMatchingNoSubjects: the store is told it need not
// collect the subjects exactly when nobody is notified of them, and the
// notified get one event per subject.
func TestManager_RevokeMatchingNoSubjects(t *testing.T) {
	for _, c := range []struct {
		name       string
		notify     bool
		noSubjects bool
		events     int
	}{
		{"notify", true, false, 2},
		{"quiet", false, true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var spy *filterSpy
			h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) {
				spy = &filterSpy{Store: o.Store.(*memstore.Store)}
				o.Store = spy
			})
			for _, sub := range []string{"alice", "bob", "alice"} {
				h.create(t, sub, sessiond.CreateOptions{})
			}
			n, err := h.m.RevokeMatching(context.Background(), sessiond.RevokeFilter{All: true}, sessiond.ReasonIncident, c.notify)
			if err != nil || n != 3 {
				t.Fatalf("RevokeMatching(notify %t) = %d, %v; want 3, nil", c.notify, n, err)
			}
			if len(spy.filters) != 1 || spy.filters[0].NoSubjects != c.noSubjects {
				t.Errorf("the store got filters %+v; want one with NoSubjects %t", spy.filters, c.noSubjects)
			}
			if got := h.events.Count(sessiond.EventRevokedByIncident); got != c.events {
				t.Errorf("%d revoked_by_incident events; want %d", got, c.events)
			}
		})
	}
}

// TestManager_RevokeMatchingAllWithSubjects: scopes combine with AND, so
// all with subjects revokes the subjects' sessions only, in the store as
// in the watermark (raiseDoc follows the subjects whatever all says; a
// store that read all as everyone would end sessions whose tokens still
// verify).
func TestManager_RevokeMatchingAllWithSubjects(t *testing.T) {
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	alice := h.create(t, "alice", sessiond.CreateOptions{})
	bob := h.create(t, "bob", sessiond.CreateOptions{})
	n, err := h.m.RevokeMatching(context.Background(), sessiond.RevokeFilter{All: true, Subjects: []string{"alice"}}, sessiond.ReasonIncident, false)
	if err != nil || n != 1 {
		t.Fatalf("RevokeMatching(all, subjects alice) = %d, %v; want 1, nil", n, err)
	}
	if _, err := h.m.Verify(context.Background(), alice.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
		t.Errorf("alice's token after the incident: %v; want ErrRevoked", err)
	}
	if _, err := h.m.Verify(context.Background(), bob.AccessToken, sessiond.Client{}); err != nil {
		t.Errorf("bob's token after an incident naming alice: %v; want valid", err)
	}
	live, err := h.m.List(context.Background(), "bob")
	if err != nil || len(live) != 1 {
		t.Errorf("bob's stored sessions after an incident naming alice: %d, %v; want 1", len(live), err)
	}
}

// TestManager_IssuedBeforeStoreMatchesWatermark: the watermark ends every
// session created in its second or earlier (tokens carry whole seconds), so
// the store must end the same ones. Before, with issued_before in the past,
// the store ended only those created strictly before it: a session created
// later in that second had its tokens refused forever yet stayed live in
// the store, listed and counted against the subject's session limit.
func TestManager_IssuedBeforeStoreMatchesWatermark(t *testing.T) {
	ctx := context.Background()
	for _, st := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		for _, scope := range []sessiond.RevokeFilter{{All: true}, {Subjects: []string{"alice"}}} {
			name := string(st) + "/all"
			if !scope.All {
				name = string(st) + "/subject"
			}
			t.Run(name, func(t *testing.T) {
				h := newHarness(t, st, nil)
				at := func(ms int) { h.clock.Set(t0.Add(time.Duration(ms) * time.Millisecond)) }
				at(100)
				before := h.create(t, "alice", sessiond.CreateOptions{})
				at(400)
				sameSecond := h.create(t, "alice", sessiond.CreateOptions{})
				at(1500)
				nextSecond := h.create(t, "alice", sessiond.CreateOptions{})
				at(2000)
				f := scope
				f.IssuedBefore = t0.Add(300 * time.Millisecond)
				n, err := h.m.RevokeMatching(ctx, f, sessiond.ReasonIncident, false)
				if err != nil {
					t.Fatal(err)
				}
				if n != 2 {
					t.Errorf("RevokeMatching revoked %d sessions; want 2 (the cut's whole second)", n)
				}
				for _, c := range []struct {
					name    string
					iss     *sessiond.Issued
					revoked bool
				}{{"created before the cut", before, true}, {"created after the cut, same second", sameSecond, true}, {"created in the next second", nextSecond, false}} {
					_, verr := h.m.Verify(ctx, c.iss.AccessToken, sessiond.Client{})
					s, err := h.store.Get(ctx, c.iss.Session.ID)
					if err != nil {
						t.Fatalf("%s: Get: %v", c.name, err)
					}
					stored := !s.RevokedAt.IsZero()
					if tokenRevoked := errors.Is(verr, sessiond.ErrRevoked); tokenRevoked != c.revoked || stored != c.revoked {
						t.Errorf("%s: token refused as revoked %v (%v), stored as revoked %v; want both %v", c.name, tokenRevoked, verr, stored, c.revoked)
					}
				}
			})
		}
	}
}

// TestManager_IssuedBeforeFreesSessionLimit: with one session allowed and
// logins over it refused, a user whose only session the incident ended
// (created in the cut's second, after the cut) can log in again; while the
// store kept that session live, every login was refused until it expired.
func TestManager_IssuedBeforeFreesSessionLimit(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) {
		o.MaxSessions, o.LimitPolicy = 1, sessiond.LimitReject
	})
	at := func(ms int) { h.clock.Set(t0.Add(time.Duration(ms) * time.Millisecond)) }
	at(400)
	only := h.create(t, "alice", sessiond.CreateOptions{})
	at(2000)
	if _, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{Subjects: []string{"alice"}, IssuedBefore: t0.Add(300 * time.Millisecond)}, sessiond.ReasonIncident, false); err != nil {
		t.Fatal(err)
	}
	if _, err := h.m.Verify(ctx, only.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
		t.Fatalf("the incident's session: Verify = %v; want ErrRevoked", err)
	}
	at(2500)
	if _, err := h.m.Create(ctx, "alice", sessiond.CreateOptions{}); err != nil {
		t.Errorf("login after the incident ended the only session: %v; want it to work", err)
	}
}

// TestManager_LoginStoredBehindTheWatermarkFreesTheLimit: another node
// stored a login just after the kill switch's store pass, before it read
// the watermark, so the session is dated in the watermark's second: its
// tokens are refused and it is not listed, but its record is live and
// counts against the limit. The next login of the subject (policy reject)
// must end it and succeed, not be refused until it expires, whether or
// not it carries an idempotency key (LoginRetry takes its own path).
func TestManager_LoginStoredBehindTheWatermarkFreesTheLimit(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    sessiond.CreateOptions
	}{
		{"login", sessiond.CreateOptions{}},
		{"login with an idempotency key", sessiond.CreateOptions{Retry: sessiond.LoginRetry{Key: "k1", Scope: "app"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) {
				o.MaxSessions, o.LimitPolicy = 1, sessiond.LimitReject
			})
			h.clock.Set(t0.Add(400 * time.Millisecond))
			if _, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{Subjects: []string{"alice"}}, sessiond.ReasonIncident, false); err != nil {
				t.Fatal(err)
			}
			// The other node's login, as it reached the store: created in the
			// watermark's second.
			at := t0.Add(700 * time.Millisecond)
			zombie := &sessiond.Session{ID: sessiond.NewSessionID(), Subject: "alice", Strategy: sessiond.StrategyHybrid,
				CreatedAt: at, LastActiveAt: at, IdleExpiresAt: at.Add(30 * time.Minute), ExpiresAt: at.Add(8 * time.Hour)}
			if err := h.store.Create(ctx, zombie); err != nil {
				t.Fatal(err)
			}
			if list, err := h.m.List(ctx, "alice"); err != nil || len(list) != 0 {
				t.Fatalf("List = %d sessions, %v; want none (the watermark hides it)", len(list), err)
			}
			h.clock.Set(t0.Add(2 * time.Second))
			iss, err := h.m.Create(ctx, "alice", tc.o)
			if err != nil {
				t.Fatalf("login after the incident, with only a session the watermark refuses stored: %v; want it to work", err)
			}
			if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); err != nil {
				t.Errorf("the new session: Verify = %v", err)
			}
			if got, err := h.store.Get(ctx, zombie.ID); err == nil && got.RevokedAt.IsZero() {
				t.Errorf("the session behind the watermark is still live in the store: %+v", got)
			}
		})
	}
}

// TestManager_IssuedBeforeOlderThanAnySession: an issued_before older than
// any live session can be (its subject watermark is pruned at once)
// revokes nothing and is no error.
func TestManager_IssuedBeforeOlderThanAnySession(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	live := h.create(t, "alice", sessiond.CreateOptions{})
	n, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{Subjects: []string{"alice"}, IssuedBefore: t0.AddDate(-1, 0, 0)}, sessiond.ReasonIncident, false)
	if err != nil || n != 0 {
		t.Fatalf("RevokeMatching = %d, %v; want 0, nil", n, err)
	}
	if _, err := h.m.Verify(ctx, live.AccessToken, sessiond.Client{}); err != nil {
		t.Errorf("a session created after the cut: Verify = %v; want it valid", err)
	}
}

// TestManager_IssuedBeforeBeforeTheEpoch: an issued_before before 1970 is
// refused and revokes nothing. One before Go's zero time once reached the
// store as the zero time, which the store reads as no bound: every session
// of the subjects given ended.
func TestManager_IssuedBeforeBeforeTheEpoch(t *testing.T) {
	ctx := context.Background()
	for _, before := range []time.Time{
		time.Date(-1, 12, 31, 23, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC),
	} {
		h := newHarness(t, sessiond.StrategyHybrid, nil)
		live := h.create(t, "alice", sessiond.CreateOptions{})
		n, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{Subjects: []string{"alice"}, IssuedBefore: before}, sessiond.ReasonIncident, false)
		if !errors.Is(err, sessiond.ErrInvalidArgument) || n != 0 {
			t.Errorf("issued_before %s: RevokeMatching = %d, %v; want 0, ErrInvalidArgument", before, n, err)
		}
		if _, err := h.m.Verify(ctx, live.AccessToken, sessiond.Client{}); err != nil {
			t.Errorf("issued_before %s: the live session: Verify = %v; want it untouched", before, err)
		}
	}
}

// A subject incident at .300, a login of that subject at .500 (dated to
// the next second, because its subject's watermark is in the current
// second), then a kill switch of every session at .800, in the same
// second: the login was made before the kill switch, which must end it
// (docs/lifecycle.md: "A session created before the incident is always
// revoked"), in its tokens and in the store.
func TestRevokeMatching_AllAfterSubjectInTheSameSecond(t *testing.T) {
	ctx := context.Background()
	for _, st := range strategies {
		for _, second := range []struct {
			name string
			f    func() sessiond.RevokeFilter
		}{
			{"all", func() sessiond.RevokeFilter { return sessiond.RevokeFilter{All: true} }},
			// issued_before "now" (what recordIncident sends for --all)
			{"issued_before_now", func() sessiond.RevokeFilter {
				return sessiond.RevokeFilter{All: true, IssuedBefore: t0.Add(800 * time.Millisecond)}
			}},
		} {
			t.Run(string(st)+"/"+second.name, func(t *testing.T) {
				h := newHarness(t, st, nil)
				at := func(ms int) { h.clock.Set(t0.Add(time.Duration(ms) * time.Millisecond)) }
				at(300)
				if _, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{Subjects: []string{"alice"}}, sessiond.ReasonIncident, false); err != nil {
					t.Fatal(err)
				}
				at(500)
				between := h.create(t, "alice", sessiond.CreateOptions{})
				at(800)
				if _, err := h.m.RevokeMatching(ctx, second.f(), sessiond.ReasonIncident, false); err != nil {
					t.Fatal(err)
				}
				at(5000)
				if _, err := h.m.Verify(ctx, between.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
					t.Errorf("login at .500, before the kill switch at .800: Verify = %v; want ErrRevoked", err)
				}
				if st != sessiond.StrategyDatabase {
					if _, err := h.m.Refresh(ctx, between.RefreshToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
						t.Errorf("login at .500, before the kill switch at .800: Refresh = %v; want ErrRevoked", err)
					}
				}
				if st == sessiond.StrategyJWT {
					return
				}
				s, err := h.store.Get(ctx, between.Session.ID)
				if err != nil {
					t.Fatal(err)
				}
				if s.RevokedAt.IsZero() {
					t.Errorf("login at .500 (created_at %s) is still live in the store after the kill switch at .800", s.CreatedAt.Format(time.RFC3339Nano))
				}
			})
		}
	}
}

// halfwayStore is a memory store whose first RevokeMatching revokes the
// sessions of `first` only and then fails, as pgstore and redisstore do
// when the connection drops after some batches committed (their documented
// answer: the committed batches stay revoked, "run it again to finish").
type halfwayStore struct {
	*memstore.Store
	first string
	calls int
}

func (s *halfwayStore) RevokeMatching(ctx context.Context, f sessiond.RevokeFilter, at time.Time, reason sessiond.RevokeReason) (int, []string, error) {
	s.calls++
	if s.calls == 1 {
		part := f
		part.All, part.Subjects = false, []string{s.first}
		n, subjects, err := s.Store.RevokeMatching(ctx, part, at, reason)
		if err != nil {
			return n, subjects, err
		}
		return n, subjects, fmt.Errorf("connection lost after %d sessions: %w", n, sessiond.ErrStoreUnavailable)
	}
	return s.Store.RevokeMatching(ctx, f, at, reason)
}

// `incident revoke --all --notify` fails half way and the operator runs it
// again, as the error and the docs say: every subject whose sessions the
// incident ended gets its session.revoked_by_incident event, and the
// session.bulk_revoked events count every session, though the re-run's
// store call does not report again what the first ended.
func TestRevokeMatching_PartialFailureRecordsWhatEnded(t *testing.T) {
	ctx := context.Background()
	var st *halfwayStore
	h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) {
		st = &halfwayStore{Store: o.Store.(*memstore.Store), first: "alice"}
		o.Store = st
	})
	h.create(t, "alice", sessiond.CreateOptions{})
	h.create(t, "bob", sessiond.CreateOptions{})
	h.clock.Set(t0.Add(2 * time.Second))
	all := sessiond.RevokeFilter{All: true}
	if n, err := h.m.RevokeMatching(ctx, all, sessiond.ReasonIncident, true); !errors.Is(err, sessiond.ErrStoreUnavailable) || n != 1 {
		t.Fatalf("the first call = %d, %v; want 1 (alice's) and ErrStoreUnavailable", n, err)
	}
	h.clock.Set(t0.Add(4 * time.Second))
	if _, err := h.m.RevokeMatching(ctx, all, sessiond.ReasonIncident, true); err != nil {
		t.Fatalf("the retry: %v", err)
	}
	var notified []string
	for _, e := range h.events.OfType(sessiond.EventRevokedByIncident) {
		notified = append(notified, e.Subject)
	}
	for _, sub := range []string{"alice", "bob"} {
		if !slices.Contains(notified, sub) {
			t.Errorf("%s's sessions were ended by the incident, but no session.revoked_by_incident was emitted for %s (notified: %v)", sub, sub, notified)
		}
	}
	total := 0
	for _, e := range h.events.OfType(sessiond.EventBulkRevoked) {
		if c, ok := e.Details["count"].(int); ok {
			total += c
		}
	}
	if total != 2 {
		t.Errorf("session.bulk_revoked events count %d sessions; the incident revoked 2", total)
	}
}

// A kill switch without issued_before that fails part way names, in its
// error, the bound it applied: the same kill switch again with that bound
// finishes the job and ends no login made since, where a re-run without it
// takes its own time as the bound and ends every login since the first.
func TestRevokeMatching_FailureNamesTheRerunBound(t *testing.T) {
	ctx := context.Background()
	var st *halfwayStore
	h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) {
		st = &halfwayStore{Store: o.Store.(*memstore.Store), first: "alice"}
		o.Store = st
	})
	h.create(t, "alice", sessiond.CreateOptions{})
	bob := h.create(t, "bob", sessiond.CreateOptions{})
	at := t0.Add(2 * time.Second)
	h.clock.Set(at)
	n, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, sessiond.ReasonIncident, false)
	re, ok := errors.AsType[*sessiond.RevokeMatchingError](err)
	if !ok || !re.IssuedBefore.Equal(at) || !errors.Is(err, sessiond.ErrStoreUnavailable) || n != 1 {
		t.Fatalf("RevokeMatching half way = %d, %v; want 1 and a *RevokeMatchingError with IssuedBefore %v matching ErrStoreUnavailable", n, err, at)
	}
	h.clock.Set(t0.Add(10 * time.Second))
	carol := h.create(t, "carol", sessiond.CreateOptions{})
	if n, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{All: true, IssuedBefore: re.IssuedBefore}, sessiond.ReasonIncident, false); err != nil || n != 1 {
		t.Fatalf("the re-run with IssuedBefore %v = %d, %v; want 1 (bob's)", re.IssuedBefore, n, err)
	}
	for _, c := range []struct {
		who     string
		iss     *sessiond.Issued
		revoked bool
	}{{"bob", bob, true}, {"carol", carol, false}} {
		s, err := st.Get(ctx, c.iss.Session.ID)
		if err != nil || s.Revoked() != c.revoked {
			t.Errorf("Get(%s) after the re-run = revoked %t, %v; want revoked %t", c.who, s != nil && s.Revoked(), err, c.revoked)
		}
	}
}

// Three or more kill switches in one wall-clock second: the second one
// dates its watermark to the next second, so logins after it are dated
// a second later still; a third incident in the same second must end
// them too (docs/lifecycle.md: "A session created before the incident is
// always revoked"), and a login after the last one must still work.
// Found black-box: three POST /v1/revocations 120 ms apart, the third
// answered {"revoked":0} and the session created before it kept verifying.
func TestRevokeMatching_ManyIncidentsInOneSecond(t *testing.T) {
	ctx := context.Background()
	for _, st := range strategies {
		for _, c := range []struct {
			name string
			f    func(ms int) sessiond.RevokeFilter
		}{
			{"all", func(int) sessiond.RevokeFilter { return sessiond.RevokeFilter{All: true} }},
			// the server passes issued_before as its own clock read just
			// before the Manager's
			{"all_issued_before_just_before_now", func(ms int) sessiond.RevokeFilter {
				return sessiond.RevokeFilter{All: true, IssuedBefore: t0.Add(time.Duration(ms)*time.Millisecond - time.Microsecond)}
			}},
			{"subject", func(int) sessiond.RevokeFilter { return sessiond.RevokeFilter{Subjects: []string{"alice"}} }},
		} {
			t.Run(string(st)+"/"+c.name, func(t *testing.T) {
				h := newHarness(t, st, nil)
				at := func(ms int) { h.clock.Set(t0.Add(time.Duration(ms) * time.Millisecond)) }
				var between []*sessiond.Issued
				for _, ms := range []int{100, 300, 500, 700} {
					at(ms)
					if _, err := h.m.RevokeMatching(ctx, c.f(ms), sessiond.ReasonIncident, false); err != nil {
						t.Fatal(err)
					}
					at(ms + 50)
					between = append(between, h.create(t, "alice", sessiond.CreateOptions{}))
				}
				at(900)
				if _, err := h.m.RevokeMatching(ctx, c.f(900), sessiond.ReasonIncident, false); err != nil {
					t.Fatal(err)
				}
				at(950)
				last := h.create(t, "alice", sessiond.CreateOptions{})
				at(3000)
				for i, iss := range between {
					if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
						t.Errorf("login #%d (created_at %s), before the last incident: Verify = %v; want ErrRevoked",
							i, iss.Session.CreatedAt.Format(time.RFC3339Nano), err)
					}
					if st == sessiond.StrategyJWT {
						continue
					}
					s, err := h.store.Get(ctx, iss.Session.ID)
					if err != nil {
						t.Fatal(err)
					}
					if s.RevokedAt.IsZero() {
						t.Errorf("login #%d is still live in the store after the last incident", i)
					}
				}
				if _, err := h.m.Verify(ctx, last.AccessToken, sessiond.Client{}); err != nil {
					t.Errorf("login after the last incident: Verify = %v; want it valid", err)
				}
				if st != sessiond.StrategyDatabase {
					if _, err := h.m.Refresh(ctx, last.RefreshToken, sessiond.Client{}); err != nil {
						t.Errorf("login after the last incident: Refresh = %v; want it valid", err)
					}
				}
			})
		}
	}
}

// TestRevokeMatching_PastIssuedBeforeOverPushedMark: two incidents in one
// second push the watermark to the next second, and a login then is dated
// a second past that; a later incident with issued_before after that
// login's real time, in an earlier second than the watermark, still ends
// it (it was made before issued_before: docs/lifecycle.md, "a session
// created before the incident is always revoked"), and a login after the
// incident is valid.
func TestRevokeMatching_PastIssuedBeforeOverPushedMark(t *testing.T) {
	ctx := context.Background()
	for _, st := range strategies {
		t.Run(string(st), func(t *testing.T) {
			h := newHarness(t, st, nil)
			at := func(ms int) { h.clock.Set(t0.Add(time.Duration(ms) * time.Millisecond)) }
			for _, ms := range []int{100, 300} {
				at(ms)
				if _, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, sessiond.ReasonIncident, false); err != nil {
					t.Fatal(err)
				}
			}
			at(500)
			before := h.create(t, "alice", sessiond.CreateOptions{})
			at(1200)
			if _, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{All: true, IssuedBefore: t0.Add(900 * time.Millisecond)},
				sessiond.ReasonIncident, false); err != nil {
				t.Fatal(err)
			}
			at(1300)
			after := h.create(t, "alice", sessiond.CreateOptions{})
			at(4000)
			if _, err := h.m.Verify(ctx, before.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
				t.Errorf("login at 0.5 s (created_at %s), before issued_before 0.9 s: Verify = %v; want ErrRevoked",
					before.Session.CreatedAt.Format(time.RFC3339Nano), err)
			}
			if st != sessiond.StrategyJWT {
				if s, err := h.store.Get(ctx, before.Session.ID); err != nil || s.RevokedAt.IsZero() {
					t.Errorf("login at 0.5 s in the store: %+v, %v; want revoked", s, err)
				}
			}
			if _, err := h.m.Verify(ctx, after.AccessToken, sessiond.Client{}); err != nil {
				t.Errorf("login after the incident: Verify = %v; want it valid", err)
			}
		})
	}
}

// The bound a failed kill switch names reaches no login made after it:
// the re-run with it finds the watermark it would raise already stored,
// which it must leave as it is. Pushing it a second on (as for a new
// incident in the mark's second) ended the logins of the next second and
// a half, on every node (docs/operations.md measured :02.4 to :03.5).
func TestRevokeMatching_RerunWithTheBoundEndsNoLaterLogin(t *testing.T) {
	ctx := context.Background()
	for _, strategy := range []sessiond.Strategy{sessiond.StrategyHybrid, sessiond.StrategyJWT} {
		t.Run(string(strategy), func(t *testing.T) {
			var st *halfwayStore
			h := newHarness(t, strategy, func(o *sessiond.Options) {
				st = &halfwayStore{Store: o.Store.(*memstore.Store), first: "alice"}
				o.Store = st
			})
			h.create(t, "alice", sessiond.CreateOptions{})
			bob := h.create(t, "bob", sessiond.CreateOptions{})
			h.clock.Set(t0.Add(2300 * time.Millisecond))
			_, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, sessiond.ReasonIncident, false)
			re, ok := errors.AsType[*sessiond.RevokeMatchingError](err)
			if strategy == sessiond.StrategyJWT {
				// No store pass to fail: the bound is the time it ran.
				re, ok, err = &sessiond.RevokeMatchingError{IssuedBefore: t0.Add(2300 * time.Millisecond)}, true, nil
			}
			if !ok {
				t.Fatalf("RevokeMatching half way = %v; want a *RevokeMatchingError", err)
			}
			var later []*sessiond.Issued
			for _, d := range []time.Duration{2400 * time.Millisecond, 3500 * time.Millisecond, 4300 * time.Millisecond} {
				h.clock.Set(t0.Add(d))
				later = append(later, h.create(t, "carol", sessiond.CreateOptions{}))
			}
			if _, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{All: true, IssuedBefore: re.IssuedBefore}, sessiond.ReasonIncident, false); err != nil {
				t.Fatalf("the re-run with IssuedBefore %v = %v", re.IssuedBefore, err)
			}
			if _, err := h.m.Verify(ctx, bob.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
				t.Errorf("Verify(bob's token, created before the first run) = %v; want ErrRevoked", err)
			}
			for i, iss := range later {
				if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); err != nil {
					t.Errorf("Verify(login %d after the first run, created %v) after the re-run = %v; want it live", i, iss.Session.CreatedAt, err)
				}
			}
		})
	}
}

// TestRevokeMatching_UnsupportedStoreChangesNothing: on a store that is
// no BulkRevoker (a store of the twelve base methods) the kill switch of
// a database or hybrid Manager fails with ErrUnsupported, as store.go
// says, and does nothing. It used to raise this node's watermarks first:
// the caller, told the kill switch was unsupported, found every earlier
// token of this node refused, a state that was not written anywhere and
// that a restart then undid.
func TestRevokeMatching_UnsupportedStoreChangesNothing(t *testing.T) {
	for _, st := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		t.Run(string(st), func(t *testing.T) {
			h := newHarness(t, st, func(o *sessiond.Options) {
				o.Store = struct{ sessiond.Store }{o.Store} // the base methods only
			})
			iss := h.create(t, "alice", sessiond.CreateOptions{})
			h.clock.Advance(2 * time.Second)
			_, err := h.m.RevokeMatching(context.Background(), sessiond.RevokeFilter{All: true}, sessiond.ReasonIncident, true)
			if !errors.Is(err, sessiond.ErrUnsupported) {
				t.Fatalf("RevokeMatching(all) on a base store = %v; want ErrUnsupported", err)
			}
			if _, err := h.m.Verify(context.Background(), iss.AccessToken, sessiond.Client{}); err != nil {
				t.Errorf("Verify(a session from before the refused kill switch) = %v; want nil (an unsupported call changes nothing)", err)
			}
			if got := h.events.Count(sessiond.EventRevokedByIncident); got != 0 {
				t.Errorf("%d revoked_by_incident events; want 0", got)
			}
		})
	}
}
