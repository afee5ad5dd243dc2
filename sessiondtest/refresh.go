package sessiondtest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// swapFixture is a session with one current refresh token.
type swapFixture struct {
	*fixture
	s   *sessiond.Session
	old sessiond.Token
}

func setupSwap(t *testing.T, newStore func(t *testing.T) sessiond.Store) *swapFixture {
	t.Helper()
	f := setup(t, newStore)
	s := NewSession("alice", t0)
	old := NewToken(sessiond.KindRefresh, s.ID, t0)
	f.create(clone(s), NewToken(sessiond.KindAccess, s.ID, t0), old)
	return &swapFixture{fixture: f, s: s, old: old}
}

// swap returns a swap of f.old for a fresh token at now with the given grace.
func (f *swapFixture) swap(now time.Time, grace time.Duration) sessiond.RefreshSwap {
	return sessiond.RefreshSwap{
		Old:           f.old.Hash,
		Next:          NewToken(sessiond.KindRefresh, f.s.ID, now),
		Now:           now,
		GraceSince:    now.Add(-grace),
		LastActiveAt:  now,
		IdleExpiresAt: now.Add(30 * time.Minute),
	}
}

func (f *swapFixture) mustSwap(sw sessiond.RefreshSwap) {
	f.t.Helper()
	if err := f.st.SwapRefresh(f.ctx, sw); err != nil {
		f.t.Fatalf("SwapRefresh(now %v, grace since %v) = %v; want nil", sw.Now, sw.GraceSince, err)
	}
}

// wantSwapped checks the store as the one swap sw left it: the old token
// retired at sw.Now, sw.Next stored, and the session touched as sw says.
func (f *swapFixture) wantSwapped(sw sessiond.RefreshSwap) {
	f.t.Helper()
	retired := f.old
	retired.RetiredAt = sw.Now
	f.wantToken(retired)
	f.wantToken(sw.Next)
	f.s.LastActiveAt, f.s.IdleExpiresAt = sw.LastActiveAt, sw.IdleExpiresAt
	f.wantSession(f.s)
}

func testSwapRefresh(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	t.Run("Success", func(t *testing.T) {
		f := setupSwap(t, newStore)
		sw := f.swap(at(time.Hour), 0)
		f.mustSwap(sw)
		f.wantSwapped(sw)
	})
	t.Run("UnknownOld", func(t *testing.T) {
		f := setupSwap(t, newStore)
		sw := f.swap(at(time.Hour), 0)
		sw.Old = randomHash()
		wantErr(t, "SwapRefresh(unknown old)", f.st.SwapRefresh(f.ctx, sw), sessiond.ErrNotFound)
		f.wantNoToken(sw.Next.Hash)
		f.wantToken(f.old)
		f.wantSession(f.s)
	})
	t.Run("AccessTokenAsOld", func(t *testing.T) {
		f := setupSwap(t, newStore)
		access := NewToken(sessiond.KindAccess, f.s.ID, t0)
		other := NewSession("alice", t0)
		access.SessionID = other.ID
		f.create(clone(other), access)
		sw := f.swap(at(time.Hour), 0)
		sw.Old = access.Hash
		sw.Next.SessionID = other.ID
		wantErr(t, "SwapRefresh(access token as old)", f.st.SwapRefresh(f.ctx, sw), sessiond.ErrNotFound)
		f.wantNoToken(sw.Next.Hash)
		f.wantToken(access)
	})
	t.Run("ReusedBeforeGrace", func(t *testing.T) {
		f := setupSwap(t, newStore)
		first := f.swap(at(time.Hour), 0)
		f.mustSwap(first)

		again := f.swap(at(time.Hour+10*time.Second), 5*time.Second)
		wantErr(t, "SwapRefresh(retired 10s ago, 5s grace)", f.st.SwapRefresh(f.ctx, again), sessiond.ErrRefreshReused)
		f.wantNoToken(again.Next.Hash)
		f.wantSwapped(first) // the session neither revoked nor touched by the failed swap
	})
	t.Run("ReusedZeroGraceSameInstant", func(t *testing.T) {
		f := setupSwap(t, newStore)
		now := at(time.Hour)
		f.mustSwap(f.swap(now, 0))
		again := f.swap(now, 0)
		wantErr(t, "SwapRefresh(retired at Now, zero grace)", f.st.SwapRefresh(f.ctx, again), sessiond.ErrRefreshReused)
		f.wantNoToken(again.Next.Hash)
	})
	t.Run("WithinGrace", func(t *testing.T) {
		f := setupSwap(t, newStore)
		first := f.swap(at(time.Hour), 10*time.Second)
		f.mustSwap(first)
		second := f.swap(at(time.Hour+2*time.Second), 10*time.Second)
		f.mustSwap(second)

		retired := f.old
		retired.RetiredAt = first.Now // the first retirement stands
		f.wantToken(retired)
		sibling := first.Next
		sibling.RetiredAt = second.Now // one chain only: the earlier sibling retires
		f.wantToken(sibling)
		f.wantToken(second.Next)
		f.s.LastActiveAt, f.s.IdleExpiresAt = second.LastActiveAt, second.IdleExpiresAt
		f.wantSession(f.s)
	})
	t.Run("RetiredSiblingIsReuseAfterGrace", func(t *testing.T) {
		// A thief replaying a just-used token inside the grace window
		// must not get a private chain: once the window has passed, the
		// sibling it retired is reuse, and only the latest successor swaps.
		f := setupSwap(t, newStore)
		first := f.swap(at(time.Hour), 5*time.Second)
		f.mustSwap(first)
		second := f.swap(at(time.Hour+time.Second), 5*time.Second)
		f.mustSwap(second)

		late := at(time.Hour + time.Minute)
		fromFirst := sessiond.RefreshSwap{
			Old: first.Next.Hash, Next: NewToken(sessiond.KindRefresh, f.s.ID, late),
			Now: late, GraceSince: late.Add(-5 * time.Second), LastActiveAt: late, IdleExpiresAt: late.Add(time.Hour),
		}
		wantErr(t, "SwapRefresh(sibling retired by a later swap, after grace)", f.st.SwapRefresh(f.ctx, fromFirst), sessiond.ErrRefreshReused)
		f.wantNoToken(fromFirst.Next.Hash)
		fromSecond := fromFirst
		fromSecond.Old, fromSecond.Next = second.Next.Hash, NewToken(sessiond.KindRefresh, f.s.ID, late)
		f.mustSwap(fromSecond)
		f.wantToken(fromSecond.Next)
	})
	t.Run("RetiredPastItsExpiry", func(t *testing.T) {
		// A retired token stays known until its session is deleted, also
		// past its own expiry, so that a thief replaying it late is caught
		// as reuse (docs/lifecycle.md), not answered "unknown".
		f := setup(t, newStore)
		s := NewSession("alice", t0)
		old := NewToken(sessiond.KindRefresh, s.ID, t0)
		old.ExpiresAt = at(10 * time.Minute)
		f.create(clone(s), old)
		sf := &swapFixture{fixture: f, s: s, old: old}
		first := sf.swap(at(5*time.Minute), 5*time.Second)
		sf.mustSwap(first)
		late := at(20 * time.Minute) // old expired; the session is idle until 35m
		if _, err := f.st.DeleteExpired(f.ctx, late, 100); err != nil {
			t.Fatalf("DeleteExpired = %v", err)
		}
		retired := old
		retired.RetiredAt = first.Now
		f.wantToken(retired)
		replay := sessiond.RefreshSwap{
			Old: old.Hash, Next: NewToken(sessiond.KindRefresh, s.ID, late),
			Now: late, GraceSince: late.Add(-5 * time.Second), LastActiveAt: late, IdleExpiresAt: late.Add(30 * time.Minute),
		}
		wantErr(t, "SwapRefresh(retired and expired, after grace)", f.st.SwapRefresh(f.ctx, replay), sessiond.ErrRefreshReused)
		f.wantNoToken(replay.Next.Hash)
	})
	t.Run("GraceBoundary", func(t *testing.T) {
		f := setupSwap(t, newStore)
		first := f.swap(at(time.Hour), 0)
		f.mustSwap(first)
		// Retired exactly at GraceSince: "at or after" still swaps.
		second := f.swap(first.Now.Add(time.Second), time.Second)
		f.mustSwap(second)
		f.wantToken(second.Next)
	})
	t.Run("NextHashExists", func(t *testing.T) {
		f := setupSwap(t, newStore)
		other := NewSession("bob", t0)
		taken := NewToken(sessiond.KindRefresh, other.ID, t0)
		f.create(clone(other), taken)
		sw := f.swap(at(time.Hour), 0)
		sw.Next.Hash = taken.Hash
		wantErr(t, "SwapRefresh(next hash exists)", f.st.SwapRefresh(f.ctx, sw), sessiond.ErrConflict)
		f.wantToken(f.old) // still current
		f.wantToken(taken)
		f.wantSession(f.s)
	})
	// A successor that is not a refresh token of Old's session is the
	// caller's mistake, refused before anything is written: stored, it
	// would be a token that refreshes into another user's session, or a
	// refresh chain continued by a token no refresh accepts.
	for _, tc := range []struct {
		name string
		edit func(f *swapFixture, sw *sessiond.RefreshSwap)
	}{
		{"NextOfAnotherSession", func(f *swapFixture, sw *sessiond.RefreshSwap) {
			other := NewSession("bob", t0)
			f.create(clone(other))
			sw.Next.SessionID = other.ID
		}},
		{"NextNotRefresh", func(_ *swapFixture, sw *sessiond.RefreshSwap) { sw.Next.Kind = sessiond.KindAccess }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setupSwap(t, newStore)
			sw := f.swap(at(time.Hour), 0)
			tc.edit(f, &sw)
			wantErr(t, "SwapRefresh("+tc.name+")", f.st.SwapRefresh(f.ctx, sw), sessiond.ErrInvalidArgument)
			f.wantNoToken(sw.Next.Hash)
			f.wantToken(f.old) // still current
			f.wantSession(f.s) // activity not written
		})
	}
	t.Run("Revoked", func(t *testing.T) { testSwapRevoked(t, newStore) })
	t.Run("ConcurrentZeroGrace", func(t *testing.T) {
		f := setupSwap(t, newStore)
		swaps, errs := f.concurrentSwaps(50, 0)
		var won []int
		for i, err := range errs {
			switch {
			case err == nil:
				won = append(won, i)
			case errors.Is(err, sessiond.ErrRefreshReused):
			default:
				t.Errorf("SwapRefresh #%d = %v; want nil or ErrRefreshReused", i, err)
			}
		}
		if len(won) != 1 {
			t.Fatalf("%d of 50 concurrent SwapRefresh calls with zero grace succeeded (%v); want exactly 1", len(won), won)
		}
		stored := 0
		for i, sw := range swaps {
			_, _, err := f.st.Lookup(f.ctx, sw.Next.Hash)
			switch {
			case err == nil:
				stored++
				if i != won[0] {
					t.Errorf("Next of losing swap #%d is stored; want only the winner's (#%d)", i, won[0])
				}
			case !errors.Is(err, sessiond.ErrNotFound):
				t.Errorf("Lookup(Next #%d) = %v; want nil or ErrNotFound", i, err)
			}
		}
		if stored != 1 {
			t.Errorf("%d Next tokens stored after 50 concurrent swaps; want 1", stored)
		}
		tok, _ := f.lookup(f.old.Hash)
		if !tok.RetiredAt.Equal(swaps[0].Now) {
			t.Errorf("Lookup(old).RetiredAt = %v; want %v", tok.RetiredAt, swaps[0].Now)
		}
	})
	t.Run("ConcurrentWithinGrace", func(t *testing.T) {
		f := setupSwap(t, newStore)
		swaps, errs := f.concurrentSwaps(50, time.Minute)
		for i, err := range errs {
			if err != nil {
				t.Errorf("SwapRefresh #%d within grace = %v; want nil", i, err)
			}
		}
		// Every swap succeeded, but only one successor is left current:
		// the others were retired by the swap that followed them.
		current := 0
		for i, sw := range swaps {
			tok, _ := f.lookup(sw.Next.Hash)
			switch {
			case tok.RetiredAt.IsZero():
				current++
			case !tok.RetiredAt.Equal(sw.Now):
				t.Errorf("Lookup(Next #%d).RetiredAt = %v; want zero or %v", i, tok.RetiredAt, sw.Now)
			}
		}
		if current != 1 {
			t.Errorf("%d of 50 successors are current after concurrent swaps within grace; want exactly 1", current)
		}
	})
}

// concurrentSwaps runs n swaps of f.old at the same instant, each with its
// own Next, and returns them with their errors.
func (f *swapFixture) concurrentSwaps(n int, grace time.Duration) ([]sessiond.RefreshSwap, []error) {
	now := at(time.Hour)
	swaps := make([]sessiond.RefreshSwap, n)
	for i := range swaps {
		swaps[i] = f.swap(now, grace)
	}
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range swaps {
		wg.Go(func() {
			<-start
			errs[i] = f.st.SwapRefresh(f.ctx, swaps[i])
		})
	}
	close(start)
	wg.Wait()
	return swaps, errs
}

// testSwapRevoked: a swap of a revoked session's token fails with
// ErrRevoked and changes nothing, whatever the token's state. The store
// decides it in the swap itself, because the caller's check of the
// session and the swap are two steps a revocation can land between.
func testSwapRevoked(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	revokedAt := at(time.Hour + time.Minute)
	now := at(time.Hour + 2*time.Minute)
	for _, tc := range []struct {
		name string
		// before runs on the fresh fixture before the revocation (a swap
		// that retires f.old, say) and returns the swap to try after it,
		// and the successors it stored, which must stay as they are.
		before func(f *swapFixture) (sessiond.RefreshSwap, []sessiond.TokenHash)
		want   error
	}{
		{"Current", func(f *swapFixture) (sessiond.RefreshSwap, []sessiond.TokenHash) {
			return f.swap(now, 0), nil
		}, sessiond.ErrRevoked},
		{"RetiredWithinGrace", func(f *swapFixture) (sessiond.RefreshSwap, []sessiond.TokenHash) {
			first := f.swap(at(time.Hour), 0)
			f.mustSwap(first)
			return f.swap(now, time.Hour), []sessiond.TokenHash{first.Next.Hash}
		}, sessiond.ErrRevoked},
		// Revoked before reused: the session is over either way, and the
		// reuse report belongs to a live session's theft.
		{"RetiredOutsideGrace", func(f *swapFixture) (sessiond.RefreshSwap, []sessiond.TokenHash) {
			first := f.swap(at(time.Hour), 0)
			f.mustSwap(first)
			return f.swap(now, 0), []sessiond.TokenHash{first.Next.Hash}
		}, sessiond.ErrRevoked},
		{"UnknownOld", func(f *swapFixture) (sessiond.RefreshSwap, []sessiond.TokenHash) {
			sw := f.swap(now, 0)
			sw.Old = randomHash()
			return sw, nil
		}, sessiond.ErrNotFound},
		{"NextOfOtherSession", func(f *swapFixture) (sessiond.RefreshSwap, []sessiond.TokenHash) {
			sw := f.swap(now, 0)
			sw.Next.SessionID = sessiond.NewSessionID()
			return sw, nil
		}, sessiond.ErrInvalidArgument},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setupSwap(t, newStore)
			sw, kept := tc.before(f)
			kept = append(kept, f.old.Hash)
			f.revoke(f.s.ID, revokedAt, sessiond.ReasonLogout)
			// The swap carries its records, as the Manager's does: a store
			// that writes them must not write them for a refused swap.
			e := newEvent(sessiond.EventSessionRefreshed, f.s.Subject, f.s.ID, now)
			d := newDelivery(now)
			d.EventID = e.ID
			sw.Events, sw.Deliveries = []sessiond.Event{e}, []sessiond.Delivery{d}

			wantTokens := make([]sessiond.Token, len(kept))
			for i, h := range kept {
				wantTokens[i], _ = f.lookup(h)
			}
			wantSession := f.get(f.s.ID)
			wantErr(t, "SwapRefresh(revoked session)", f.st.SwapRefresh(f.ctx, sw), tc.want)

			for _, want := range wantTokens {
				f.wantToken(want)
			}
			f.wantNoToken(sw.Next.Hash)
			checkSession(t, "after the refused swap, Get", f.get(f.s.ID), wantSession)
			if l, ok := f.st.(sessiond.EventLog); ok {
				events, _, err := l.QueryEvents(f.ctx, sessiond.EventQuery{SessionID: f.s.ID})
				if err != nil || len(events) != 0 {
					t.Errorf("after the refused swap, QueryEvents = %d events, %v; want none", len(events), err)
				}
			}
			if o, ok := f.st.(sessiond.Outbox); ok {
				ds, err := o.ListDeliveries(f.ctx, sessiond.DeliveryPending, 10)
				if err != nil || len(ds) != 0 {
					t.Errorf("after the refused swap, ListDeliveries = %v, %v; want none", deliveryIDs(ds), err)
				}
			}
		})
	}
}
