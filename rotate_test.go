package sessiond_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/anomaly"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
)

// raceStore is a memory store that plays another caller acting in the
// middle of the Manager's work: each hook runs once, at its point. With
// bulkFails its bulk revocation fails, as a store does that went away in
// the middle of a kill switch (or as another node sees it while the bulk
// write still runs).
type raceStore struct {
	*memstore.Store
	bulkFails                 bool
	duringGet, afterCreate    func()
	beforeRevoke, afterRevoke func()
}

func once(f *func()) {
	if g := *f; g != nil {
		*f = nil
		g()
	}
}

func (s *raceStore) RevokeMatching(ctx context.Context, f sessiond.RevokeFilter, at time.Time, r sessiond.RevokeReason) (int, []string, error) {
	if s.bulkFails {
		return 0, nil, sessiond.ErrStoreUnavailable
	}
	return s.Store.RevokeMatching(ctx, f, at, r)
}

func (s *raceStore) Get(ctx context.Context, id sessiond.SessionID) (*sessiond.Session, error) {
	sess, err := s.Store.Get(ctx, id)
	once(&s.duringGet)
	return sess, err
}

func (s *raceStore) Create(ctx context.Context, sess *sessiond.Session, tokens ...sessiond.Token) error {
	err := s.Store.Create(ctx, sess, tokens...)
	once(&s.afterCreate)
	return err
}

func (s *raceStore) CreateRecorded(ctx context.Context, sess *sessiond.Session, max int, evict bool, rec sessiond.ChangeRecords,
	evicted func(sessiond.Revocation) sessiond.ChangeRecords, tokens ...sessiond.Token) ([]sessiond.Revocation, error) {
	revs, err := s.Store.CreateRecorded(ctx, sess, max, evict, rec, evicted, tokens...)
	once(&s.afterCreate)
	return revs, err
}

func (s *raceStore) Revoke(ctx context.Context, id sessiond.SessionID, at time.Time, r sessiond.RevokeReason) (*sessiond.Session, error) {
	once(&s.beforeRevoke)
	sess, err := s.Store.Revoke(ctx, id, at, r)
	once(&s.afterRevoke)
	return sess, err
}

func (s *raceStore) RevokeRecorded(ctx context.Context, id sessiond.SessionID, at time.Time, r sessiond.RevokeReason,
	rec func(*sessiond.Session) sessiond.ChangeRecords) (*sessiond.Session, bool, error) {
	once(&s.beforeRevoke)
	sess, ok, err := s.Store.RevokeRecorded(ctx, id, at, r, rec)
	once(&s.afterRevoke)
	return sess, ok, err
}

// TestManager_WatermarkBeforeStore: once a kill switch has raised its
// watermark, a session it covers is over everywhere the Manager answers,
// before (or without) the store's own record of it: Verify, Get, List and
// Rotate refuse it. Rotate must not turn it into a new session dated after
// the watermark, which the incident would then never end.
func TestManager_WatermarkBeforeStore(t *testing.T) {
	for _, st := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		t.Run(string(st), func(t *testing.T) {
			h := newHarness(t, st, func(o *sessiond.Options) { o.Store = &raceStore{Store: memstore.New(), bulkFails: true} })
			ctx := context.Background()
			iss, err := h.m.Create(ctx, "alice", sessiond.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			h.clock.Advance(2 * time.Second)
			if _, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, sessiond.ReasonIncident, false); !errors.Is(err, sessiond.ErrStoreUnavailable) {
				t.Fatalf("RevokeMatching = %v; want the store's failure after the watermark", err)
			}
			if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
				t.Fatalf("Verify = %v; want ErrRevoked from the watermark", err)
			}
			if _, err := h.m.Get(ctx, iss.Session.ID); !errors.Is(err, sessiond.ErrNotFound) {
				t.Errorf("Get = %v; want ErrNotFound, as for any ended session", err)
			}
			if list, err := h.m.List(ctx, "alice"); err != nil || len(list) != 0 {
				t.Errorf("List = %d sessions, %v; want none live", len(list), err)
			}
			next, err := h.m.Rotate(ctx, iss.Session.ID)
			if err == nil {
				_, verr := h.m.Verify(ctx, next.AccessToken, sessiond.Client{})
				t.Fatalf("Rotate of a session the watermark ended = a new session (its verify: %v); want ErrNotFound", verr)
			}
			if !errors.Is(err, sessiond.ErrNotFound) {
				t.Errorf("Rotate = %v; want ErrNotFound", err)
			}
			// A login after the incident is not caught by it.
			if _, err := h.m.Create(ctx, "alice", sessiond.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			if list, err := h.m.List(ctx, "alice"); err != nil || len(list) != 1 {
				t.Errorf("List after a new login = %d sessions, %v; want 1", len(list), err)
			}
		})
	}
}

// TestManager_RotateRaces: whatever ends a subject's sessions while one of
// them is being rotated (revoking all of them, a login under the
// single-session limit) ends its successor too, whether it lands after the
// successor's creation or after the old session's end.
func TestManager_RotateRaces(t *testing.T) {
	ctx := context.Background()
	for _, st := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		for _, when := range []string{"after the successor's creation", "after the old session's end"} {
			for _, other := range []string{"revoke all of the subject's sessions", "login under the single-session limit"} {
				t.Run(string(st)+"/"+other+"/"+when, func(t *testing.T) {
					store := &raceStore{Store: memstore.New()}
					h := newHarness(t, st, func(o *sessiond.Options) {
						o.Store = store
						o.LimitPolicy = sessiond.LimitSingle
					})
					old, err := h.m.Create(ctx, "alice", sessiond.CreateOptions{})
					if err != nil {
						t.Fatal(err)
					}
					var login *sessiond.Issued
					hook := func() {
						if other == "revoke all of the subject's sessions" {
							if _, err := h.m.RevokeSubject(ctx, "alice", "", sessiond.ReasonAdmin); err != nil {
								t.Errorf("RevokeSubject = %v", err)
							}
							return
						}
						if login, err = h.m.Create(ctx, "alice", sessiond.CreateOptions{}); err != nil {
							t.Errorf("Create = %v", err)
						}
					}
					if when == "after the successor's creation" {
						store.afterCreate = hook
					} else {
						store.afterRevoke = hook
					}
					next, rerr := h.m.Rotate(ctx, old.Session.ID)
					live, err := h.m.List(ctx, "alice")
					if err != nil {
						t.Fatal(err)
					}
					want := 0
					if login != nil {
						want = 1 // the login's own
					}
					if len(live) != want || (login != nil && live[0].ID != login.Session.ID) {
						t.Errorf("live sessions after Rotate (%v) raced a %s: %d; want only the racing login's (%d)", rerr, other, len(live), want)
					}
					if next != nil {
						if _, err := h.m.Verify(ctx, next.AccessToken, sessiond.Client{}); err == nil {
							t.Error("the rotation's successor verifies")
						}
					}
				})
			}
		}
	}
}

// TestManager_RotateOnUnawareNode: another node's kill switch lands while
// this node rotates a session the incident ends, after this node read it
// and before this node heard of the watermark. The successor keeps the old
// session's creation time, so once this node learns of the watermark it
// refuses the successor too; dated at the rotation, it would have outlived
// the incident.
func TestManager_RotateOnUnawareNode(t *testing.T) {
	ctx := context.Background()
	shared := &raceStore{Store: memstore.New(), bulkFails: true} // the bulk write has not reached the session
	a := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) {
		o.Store, o.WatermarkPoll = shared, 20*time.Millisecond
	})
	b := newManager(t, sessiond.Options{Strategy: sessiond.StrategyHybrid, Store: shared, Signed: a.codec,
		Opaque: opaquetoken.Codec{}, Clock: a.clock, GCInterval: -1, WatermarkPoll: -1}, nil)
	old, err := a.m.Create(ctx, "alice", sessiond.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a.clock.Advance(time.Minute)
	shared.duringGet = func() {
		// The bulk write fails by design: the watermark alone ends the session.
		if _, err := b.RevokeMatching(ctx, sessiond.RevokeFilter{Subjects: []string{"alice"}}, sessiond.ReasonIncident, false); !errors.Is(err, sessiond.ErrStoreUnavailable) {
			t.Errorf("RevokeMatching on node B = %v; want the bulk write's failure", err)
		}
		a.clock.Advance(2 * time.Second) // node A rotates 2 s after the incident
	}
	next, err := a.m.Rotate(ctx, old.Session.ID)
	if err != nil {
		t.Fatalf("Rotate on node A = %v; want a successor (A had read the session before the incident)", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := a.m.Verify(ctx, next.AccessToken, sessiond.Client{})
		if errors.Is(err, sessiond.ErrRevoked) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Verify(successor) on node A = %v 10 s after the incident; want ErrRevoked once A reads the watermark", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestManager_RotateKeepsAuthTime: the successor of a rotation carries the
// time the user authenticated, in its session and in its access token.
func TestManager_RotateKeepsAuthTime(t *testing.T) {
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	ctx := context.Background()
	old, err := h.m.Create(ctx, "alice", sessiond.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(10 * time.Minute)
	next, err := h.m.Rotate(ctx, old.Session.ID)
	if err != nil {
		t.Fatal(err)
	}
	s, err := h.m.Verify(ctx, next.AccessToken, sessiond.Client{})
	if err != nil {
		t.Fatal(err)
	}
	if s.ID == old.Session.ID || s.CreatedAt.Unix() != old.Session.CreatedAt.Unix() {
		t.Errorf("rotated session %s created %v (auth_time); want a new ID created %v", s.ID, s.CreatedAt, old.Session.CreatedAt)
	}
}

// TestManager_ConcurrentRotateOneSuccessor: of two rotations of one
// session in the same instant, one gets the successor; the other is
// refused, even with a sink that does not write events with their change
// (the Manager then asks the store which call revoked the session).
func TestManager_ConcurrentRotateOneSuccessor(t *testing.T) {
	store := &raceStore{Store: memstore.New()}
	h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) { o.Store = store })
	ctx := context.Background()
	old, err := h.m.Create(ctx, "alice", sessiond.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var inner error
	store.duringGet = func() { _, inner = h.m.Rotate(ctx, old.Session.ID) }
	_, outer := h.m.Rotate(ctx, old.Session.ID) // the clock stands still: both in one microsecond
	if (inner == nil) == (outer == nil) {
		t.Errorf("concurrent Rotates = %v and %v; want exactly one to succeed", inner, outer)
	}
	if err := errors.Join(inner, outer); !errors.Is(err, sessiond.ErrNotFound) {
		t.Errorf("the refused Rotate = %v; want ErrNotFound", err)
	}
	if list, err := h.m.List(ctx, "alice"); err != nil || len(list) != 1 {
		t.Errorf("List = %d live, %v; want the one successor", len(list), err)
	}
}

// TestManager_ReuseAfterRotationEndsTheSuccessor: a thief who refreshed a
// stolen refresh token first, then had the session rotated (a privilege
// change), must not keep the successor when the victim's retired token
// comes back: the successor holds the same grant (RFC 9700 §4.14.2;
// docs/lifecycle.md "every token of the family stops working").
func TestManager_ReuseAfterRotationEndsTheSuccessor(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	victim := h.create(t, "reuse-victim", sessiond.CreateOptions{})

	// The thief uses the stolen refresh token first.
	stolen, err := h.m.Refresh(ctx, victim.RefreshToken, sessiond.Client{})
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(10 * time.Second) // past the 5 s reuse interval
	// A privilege change the thief triggers rotates the session.
	succ, err := h.m.Rotate(ctx, stolen.Session.ID)
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(10 * time.Second)

	// The victim's browser presents its (retired) refresh token.
	_, err = h.m.Refresh(ctx, victim.RefreshToken, sessiond.Client{})
	if !errors.Is(err, sessiond.ErrRefreshReused) {
		t.Errorf("victim's retired refresh token after the thief's rotation = %v; want ErrRefreshReused", err)
	}
	if n := h.events.Count(sessiond.EventRefreshReused); n != 1 {
		t.Errorf("%d %s events for the replay of a retired refresh token; want 1", n, sessiond.EventRefreshReused)
	}
	if _, err := h.m.Verify(ctx, succ.AccessToken, sessiond.Client{}); err == nil {
		t.Errorf("the thief's rotated successor %s still verifies after the family's retired token was replayed; want ErrRevoked", succ.Session.ID)
	}
	if _, err := h.m.Refresh(ctx, succ.RefreshToken, sessiond.Client{}); err == nil {
		t.Errorf("the thief's rotated successor still refreshes")
	}
}

// TestManager_RotateFromKeepsStepUp: in hybrid a step_up travels in the
// access token, so a rotation (a privilege change, not a new sign-in) from
// the browser the rules flagged must carry it into the successor's token
// (docs/anomaly.md; checklist items 24 and 86). Rotate, given no client,
// cannot; RotateFrom, which httpsession uses, does.
func TestManager_RotateFromKeepsStepUp(t *testing.T) {
	ctx := context.Background()
	issued := sessiond.Client{IP: "203.0.113.10", UserAgent: chromeWin}
	other := sessiond.Client{IP: "203.0.113.10", UserAgent: firefoxLin} // same network, another browser
	for _, tt := range []struct {
		name   string
		from   sessiond.Client
		stepUp bool
	}{
		{"from the flagged browser", other, true},
		{"from the issued browser", issued, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, sessiond.StrategyHybrid, withAnomalies(map[anomaly.Rule]anomaly.Action{
				anomaly.RuleUserAgentChange: anomaly.ActionStepUp,
			}))
			iss := h.create(t, "stepup", sessiond.CreateOptions{Client: issued})
			rot, err := h.m.RotateFrom(ctx, iss.Session.ID, tt.from, false)
			if err != nil {
				t.Fatalf("RotateFrom: %v", err)
			}
			v, err := h.m.Inspect(ctx, rot.AccessToken, tt.from)
			if err != nil {
				t.Fatalf("Inspect(rotated token): %v", err)
			}
			if rot.StepUp != tt.stepUp || v.StepUp != tt.stepUp {
				t.Errorf("Issued.StepUp %v, the successor's token %v; want %v", rot.StepUp, v.StepUp, tt.stepUp)
			}
			if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrRevoked) {
				t.Errorf("the rotated-away session's token = %v; want ErrRevoked", err)
			}
		})
	}
}

// TestManager_ReuseAfterRotationNeedsTheKeysProof: a replay of a retired
// refresh token of a key-bound (DPoP) session ends nothing without a proof
// of the key, rotated or not: the keyless thief must not be able to end
// the successor (RFC 9449 §5).
func TestManager_ReuseAfterRotationNeedsTheKeysProof(t *testing.T) {
	ctx := context.Background()
	ok := func(*sessiond.Session) error { return nil }
	errNoKey := errors.New("no proof of the key")
	noKey := func(*sessiond.Session) error { return errNoKey }

	t.Run("control/not-rotated", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyHybrid, nil)
		iss := h.create(t, "dpop", sessiond.CreateOptions{KeyThumbprint: testJKT})
		if _, err := h.m.RefreshChecked(ctx, iss.RefreshToken, sessiond.Client{}, ok); err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(10 * time.Second)
		_, err := h.m.RefreshChecked(ctx, iss.RefreshToken, sessiond.Client{}, noKey)
		if !errors.Is(err, errNoKey) {
			t.Fatalf("replay without the key = %v; want the check's error", err)
		}
		if _, err := h.m.Get(ctx, iss.Session.ID); err != nil {
			t.Fatalf("session after a keyless replay: %v; want live", err)
		}
	})
	t.Run("rotated", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyHybrid, nil)
		iss := h.create(t, "dpop", sessiond.CreateOptions{KeyThumbprint: testJKT})
		r, err := h.m.RefreshChecked(ctx, iss.RefreshToken, sessiond.Client{}, ok)
		if err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(10 * time.Second)
		succ, err := h.m.Rotate(ctx, r.Session.ID)
		if err != nil {
			t.Fatal(err)
		}
		h.clock.Advance(10 * time.Second)
		_, err = h.m.RefreshChecked(ctx, iss.RefreshToken, sessiond.Client{}, noKey)
		if !errors.Is(err, errNoKey) {
			t.Errorf("replay without the key after a rotation = %v; want the check's error, as without a rotation", err)
		}
		if _, err := h.m.Get(ctx, succ.Session.ID); err != nil {
			t.Errorf("successor after a keyless replay: Get = %v; want live (the thief proved no key)", err)
		}
		// Plain Refresh (no check at all) of a key-bound session.
		h2 := newHarness(t, sessiond.StrategyHybrid, nil)
		iss2 := h2.create(t, "dpop", sessiond.CreateOptions{KeyThumbprint: testJKT})
		r2, _ := h2.m.RefreshChecked(ctx, iss2.RefreshToken, sessiond.Client{}, ok)
		h2.clock.Advance(10 * time.Second)
		succ2, err := h2.m.Rotate(ctx, r2.Session.ID)
		if err != nil {
			t.Fatal(err)
		}
		h2.clock.Advance(10 * time.Second)
		_, _ = h2.m.Refresh(ctx, iss2.RefreshToken, sessiond.Client{})
		if _, err := h2.m.Get(ctx, succ2.Session.ID); err != nil {
			t.Errorf("successor after plain Refresh (no proof) of a retired key-bound token: Get = %v; want live", err)
		}
	})
}

// TestManager_RetiredTokenAfterReLoginIsNotReuse: a new login ends the
// carried session with reason rotated too (httpsession's Login), but
// leaves no successor of it: a stale retired token of that session is
// refused as revoked, with no theft alarm.
func TestManager_RetiredTokenAfterReLoginIsNotReuse(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	old := h.create(t, "relogin", sessiond.CreateOptions{})
	if _, err := h.m.Refresh(ctx, old.RefreshToken, sessiond.Client{}); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(10 * time.Second)
	// httpsession.Login: revokeCarried(r, ReasonRotated), then Create.
	if err := h.m.Revoke(ctx, old.Session.ID, sessiond.ReasonRotated); err != nil {
		t.Fatal(err)
	}
	h.create(t, "relogin", sessiond.CreateOptions{})
	h.clock.Advance(10 * time.Second)
	_, err := h.m.Refresh(ctx, old.RefreshToken, sessiond.Client{})
	if !errors.Is(err, sessiond.ErrRevoked) || errors.Is(err, sessiond.ErrRefreshReused) {
		t.Errorf("stale tab's retired token after a new login = %v; want ErrRevoked, not ErrRefreshReused", err)
	}
	if n := h.events.Count(sessiond.EventRefreshReused); n != 0 {
		t.Errorf("%d %s events after a re-login (no rotation, no theft); want 0", n, sessiond.EventRefreshReused)
	}
}

// TestManager_RotateFromCarriesTheTokensStepUp: distinct_ips fires once
// per crossing, so it does not fire again at the rotation; the step_up
// the request's token carries must reach the successor all the same.
func TestManager_RotateFromCarriesTheTokensStepUp(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) {
		d, err := anomaly.New(anomaly.Options{DistinctIPThreshold: 2,
			Actions: map[anomaly.Rule]anomaly.Action{anomaly.RuleDistinctIPs: anomaly.ActionStepUp}})
		if err != nil {
			t.Fatal(err)
		}
		o.Anomalies = d
	})
	a := sessiond.Client{IP: "203.0.113.10", UserAgent: chromeWin}
	b := sessiond.Client{IP: "198.51.100.7", UserAgent: chromeWin}
	iss := h.create(t, "hopper", sessiond.CreateOptions{Client: a})
	r1, err := h.m.Refresh(ctx, iss.RefreshToken, a)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := h.m.Refresh(ctx, r1.RefreshToken, b)
	if err != nil {
		t.Fatal(err)
	}
	if !r2.StepUp {
		t.Fatalf("setup: distinct_ips did not ask for a step-up at the refresh (r1.StepUp=%v)", r1.StepUp)
	}
	cur, err := h.m.Inspect(ctx, r2.AccessToken, b)
	if err != nil || !cur.StepUp {
		t.Fatalf("refreshed token: step_up %v, %v", cur.StepUp, err)
	}
	rot, err := h.m.RotateFrom(ctx, r2.Session.ID, b, cur.StepUp)
	if err != nil {
		t.Fatal(err)
	}
	v, err := h.m.Inspect(ctx, rot.AccessToken, b)
	if err != nil {
		t.Fatal(err)
	}
	if !rot.StepUp || !v.StepUp {
		t.Errorf("RotateFrom of a session whose access token carries step_up (distinct_ips): Issued.StepUp=%v, token step_up=%v; want both true", rot.StepUp, v.StepUp)
	}
}
