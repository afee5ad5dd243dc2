package pgstore_test

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
)

func TestStore_CountLive(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, pgstore.Options{})
	ctx := t.Context()
	now := t0.Add(time.Hour)

	got, err := st.CountLive(ctx, now)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("CountLive on an empty store = %v, %v; want an empty map, nil", got, err)
	}

	mk := func(strategy sessiond.Strategy, change func(*sessiond.Session)) {
		t.Helper()
		s := newSession("alice", t0)
		s.Strategy = strategy
		s.IdleExpiresAt = now.Add(time.Minute)
		if change != nil {
			change(s)
		}
		if err := st.Create(ctx, s); err != nil {
			t.Fatalf("Create() = %v; want nil", err)
		}
	}
	for range 3 {
		mk(sessiond.StrategyHybrid, nil)
	}
	for range 2 {
		mk(sessiond.StrategyDatabase, nil)
	}
	// None of these is live at now.
	mk(sessiond.StrategyHybrid, func(s *sessiond.Session) { s.RevokedAt, s.RevokeReason = t0, sessiond.ReasonLogout })
	mk(sessiond.StrategyDatabase, func(s *sessiond.Session) { s.ExpiresAt = now })
	mk(sessiond.StrategyHybrid, func(s *sessiond.Session) { s.IdleExpiresAt = now })
	mk(sessiond.StrategyJWT, func(s *sessiond.Session) { s.IdleExpiresAt = now.Add(-time.Second) })

	got, err = st.CountLive(ctx, now)
	want := map[sessiond.Strategy]int{sessiond.StrategyHybrid: 3, sessiond.StrategyDatabase: 2}
	if err != nil || !maps.Equal(got, want) {
		t.Errorf("CountLive(%v) = %v, %v; want %v, nil", now, got, err, want)
	}
	// Later, only the absolute expiry (8 hours) remains to pass.
	if got, err := st.CountLive(ctx, t0.Add(8*time.Hour)); err != nil || len(got) != 0 {
		t.Errorf("CountLive after every expiry = %v, %v; want none", got, err)
	}
	if _, _, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, now, sessiond.ReasonIncident); err != nil {
		t.Fatalf("RevokeMatching(all) = %v; want nil", err)
	}
	if got, err := st.CountLive(ctx, now); err != nil || len(got) != 0 {
		t.Errorf("CountLive after RevokeMatching(all) = %v, %v; want none", got, err)
	}
}

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

// TestStore_EventText: text PostgreSQL cannot hold is stored with U+FFFD
// rather than losing the event (or its batch), and a filter with the same
// bytes finds it; Details keep a NUL, which jsonb would refuse.
func TestStore_EventText(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, pgstore.Options{})
	ctx := t.Context()
	bad := sessiond.Event{
		ID: sessiond.NewEventID(t0), Time: t0, Type: "api_key.auth_failed",
		Subject: "al\x00ice", Client: sessiond.Client{IP: "192.0.2.1", UserAgent: "Mozilla/5.0 (caf\xe9)"},
		Details: map[string]any{"path": "/v1/\x00sessions", "ua": "caf\xe9"},
	}
	good := sessiond.Event{ID: sessiond.NewEventID(t0.Add(time.Second)), Time: t0.Add(time.Second), Type: sessiond.EventSessionCreated, Subject: "bob"}
	if err := st.AppendEvents(ctx, bad, good); err != nil {
		t.Fatalf("AppendEvents(event with invalid UTF-8 and NUL) = %v; want nil", err)
	}
	got, _, err := st.QueryEvents(ctx, sessiond.EventQuery{Subject: bad.Subject})
	if err != nil || len(got) != 1 {
		t.Fatalf("QueryEvents(Subject %q) = %d events, %v; want 1", bad.Subject, len(got), err)
	}
	e := got[0]
	if e.Subject != "al\uFFFDice" || e.Client.UserAgent != "Mozilla/5.0 (caf\uFFFD)" {
		t.Errorf("stored Subject, UserAgent = %q, %q; want %q, %q", e.Subject, e.Client.UserAgent, "al\uFFFDice", "Mozilla/5.0 (caf\uFFFD)")
	}
	// encoding/json already replaces invalid UTF-8 in Details; a NUL survives.
	if e.Details["path"] != "/v1/\x00sessions" || e.Details["ua"] != "caf\uFFFD" {
		t.Errorf("stored Details = %q; want path %q, ua %q", e.Details, "/v1/\x00sessions", "caf\uFFFD")
	}
	noID := good
	noID.ID = "evt_\xff"
	if err := st.AppendEvents(ctx, noID); !errors.Is(err, sessiond.ErrInvalidArgument) {
		t.Errorf("AppendEvents(ID with invalid UTF-8) = %v; want ErrInvalidArgument", err)
	}
}

// TestStore_EventOrder: events page in byte order of their IDs, as Go
// compares strings, whatever the database's collation.
func TestStore_EventOrder(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, pgstore.Options{})
	ids := []string{"evt_b", "evt_B", "evt_-x", "evt_a", "evt_A", "evt_0", "evt__"}
	for _, id := range ids {
		if err := st.AppendEvents(t.Context(), sessiond.Event{ID: id, Time: t0, Type: sessiond.EventSessionCreated}); err != nil {
			t.Fatal(err)
		}
	}
	var got []string
	q := sessiond.EventQuery{Limit: 2}
	for {
		page, next, err := st.QueryEvents(t.Context(), q)
		if err != nil {
			t.Fatalf("QueryEvents(%+v) = %v", q, err)
		}
		for _, e := range page {
			got = append(got, e.ID)
		}
		if next == "" {
			break
		}
		q.Cursor = next
	}
	if want := slices.Sorted(slices.Values(ids)); !slices.Equal(got, want) {
		t.Errorf("QueryEvents pages = %q; want byte order %q", got, want)
	}
}

func TestStore_DeliveryText(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, pgstore.Options{})
	ctx := t.Context()
	d := sessiond.Delivery{ID: "msg_1", Endpoint: "siem", EventID: "evt_1", Payload: []byte("{}\x00"),
		NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0}
	bad := d
	bad.ID, bad.Endpoint = "msg_2", "si\x00em"
	if err := st.EnqueueDeliveries(ctx, d, bad); !errors.Is(err, sessiond.ErrInvalidArgument) {
		t.Errorf("EnqueueDeliveries(endpoint with NUL) = %v; want ErrInvalidArgument", err)
	}
	if err := st.EnqueueDeliveries(ctx, d); err != nil {
		t.Fatalf("EnqueueDeliveries() = %v; want nil", err)
	}
	// A receiver's error text may be anything: it is kept, readable.
	if err := st.FinishDelivery(ctx, d.ID, sessiond.DeliveryPending, 1, t0.Add(time.Minute), "HTTP 500: \xff\x00", t0); err != nil {
		t.Fatalf("FinishDelivery(last error with invalid UTF-8) = %v; want nil", err)
	}
	got, err := st.ClaimDeliveries(ctx, t0.Add(time.Minute), 10, time.Minute)
	if err != nil || len(got) != 1 || got[0].LastError != "HTTP 500: \uFFFD\uFFFD" || string(got[0].Payload) != "{}\x00" {
		t.Errorf("ClaimDeliveries = %+v, %v; want msg_1 with LastError %q and its payload", got, err, "HTTP 500: \uFFFD\uFFFD")
	}
	if err := st.FinishDelivery(ctx, "msg_\xff", sessiond.DeliveryDead, 1, t0, "", t0); !errors.Is(err, sessiond.ErrNotFound) {
		t.Errorf("FinishDelivery(invalid ID) = %v; want ErrNotFound", err)
	}
}

func TestStore_OpsClosed(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, pgstore.Options{})
	st.Close()
	ctx := t.Context()
	for name, call := range map[string]func() error{
		"AppendEvents": func() error { return st.AppendEvents(ctx, sessiond.Event{ID: "evt_1"}) },
		"QueryEvents":  func() error { _, _, err := st.QueryEvents(ctx, sessiond.EventQuery{}); return err },
		"DeleteEventsBefore": func() error {
			_, err := st.DeleteEventsBefore(ctx, t0, 1)
			return err
		},
		"EnqueueDeliveries": func() error { return st.EnqueueDeliveries(ctx, sessiond.Delivery{ID: "msg_1"}) },
		"ClaimDeliveries": func() error {
			_, err := st.ClaimDeliveries(ctx, t0, 1, time.Minute)
			return err
		},
		"FinishDelivery": func() error {
			return st.FinishDelivery(ctx, "msg_1", sessiond.DeliveryDead, 1, t0, "", t0)
		},
		"ListDeliveries": func() error { _, err := st.ListDeliveries(ctx, sessiond.DeliveryDead, 1); return err },
		"CountDeliveries": func() error {
			_, err := st.CountDeliveries(ctx, sessiond.DeliveryPending)
			return err
		},
		"DeleteDeliveriesBefore": func() error {
			_, err := st.DeleteDeliveriesBefore(ctx, t0, 1)
			return err
		},
		"RevokeMatching": func() error {
			_, _, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, t0, sessiond.ReasonIncident)
			return err
		},
		"CountLive": func() error { _, err := st.CountLive(ctx, t0); return err },
	} {
		if err := call(); !errors.Is(err, sessiond.ErrStoreUnavailable) {
			t.Errorf("%s after Close = %v; want ErrStoreUnavailable", name, err)
		}
	}
}
