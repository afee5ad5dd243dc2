package sessiondtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestStore is the conformance suite every sessiond.Store must pass. Call it
// from the backend's own test:
//
//	func TestStore(t *testing.T) {
//		sessiondtest.TestStore(t, func(t *testing.T) sessiond.Store {
//			st := memstore.New()
//			t.Cleanup(func() { st.Close() })
//			return st
//		})
//	}
//
// newStore returns a fresh, empty store for one subtest and registers its
// own cleanup (Close, dropping a schema or key prefix). Subtests run in
// parallel, so stores from one factory must not share data. Every time the
// suite hands a store is UTC and truncated to the microsecond; the store
// must give it back unchanged (compared with time.Equal).
//
// Beyond the Store doc comments, the suite pins down these choices:
//   - Create fails with ErrInvalidArgument if a token's SessionID is not the
//     session's ID; a hash repeated within one call is an ErrConflict.
//   - Touch on a revoked session returns nil and changes nothing.
//   - SwapRefresh with a GraceSince not before Now allows no grace at all
//     (an Old retired at that very instant is reuse), an access token as
//     Old is ErrNotFound, an existing Next hash is ErrConflict, and a swap
//     within grace keeps Old's first RetiredAt.
//   - RevokeSubject and List treat a session as live as Session.Live does
//     (neither expiry reached); List returns a non-nil slice.
//   - DeleteExpired fails with ErrInvalidArgument if limit is not positive.
//
// The store must also implement sessiond.EventLog, sessiond.Outbox and
// sessiond.BulkRevoker (the subtests of that name fail if it does not), with
// these choices:
//   - AppendEvents fails with ErrInvalidArgument, storing nothing, if an
//     event has no ID; an ID repeated within one call is stored once, as
//     first given. Details come back as a JSON decoder returns them (numbers
//     as float64); an event without Details comes back without; Time is UTC.
//   - QueryEvents: Limit 0 means 100, more than 1000 means 1000, a negative
//     Limit is ErrInvalidArgument. The cursor is the ID of the page's last
//     event when more events match, "" otherwise; a cursor the log does not
//     hold (deleted since) still resumes after it.
//   - EnqueueDeliveries fails with ErrInvalidArgument, storing nothing, if a
//     delivery has no ID or a State other than pending ("" means pending).
//   - ClaimDeliveries takes pending deliveries with NextAttemptAt at or
//     before now, ordered by NextAttemptAt then ID, and returns them with
//     the NextAttemptAt it set; limit and lease must be positive.
//   - FinishDelivery fails with ErrInvalidArgument for a state that is not
//     one of the three; it sets State, Attempts, NextAttemptAt, LastError
//     and UpdatedAt as given.
//   - ListDeliveries orders by CreatedAt, newest first, then ID descending.
//   - DeleteEventsBefore, ListDeliveries and DeleteDeliveriesBefore fail
//     with ErrInvalidArgument if limit is not positive.
//   - RevokeMatching treats a session as live as Session.Live does, takes
//     IssuedBefore as CreatedAt strictly before it, treats an empty
//     Subjects as unset, and fails with ErrInvalidArgument when nothing is
//     set. The subjects it returns are distinct, in no particular order.
func TestStore(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	t.Run("Create", func(t *testing.T) { testCreate(t, newStore) })
	t.Run("Lookup", func(t *testing.T) { testLookup(t, newStore) })
	t.Run("Touch", func(t *testing.T) { testTouch(t, newStore) })
	t.Run("SwapRefresh", func(t *testing.T) { testSwapRefresh(t, newStore) })
	t.Run("Revoke", func(t *testing.T) { testRevoke(t, newStore) })
	t.Run("RevokeSubject", func(t *testing.T) { testRevokeSubject(t, newStore) })
	t.Run("List", func(t *testing.T) { testList(t, newStore) })
	t.Run("Revocations", func(t *testing.T) { testRevocations(t, newStore) })
	t.Run("DeleteExpired", func(t *testing.T) { testDeleteExpired(t, newStore) })
	t.Run("Copies", func(t *testing.T) { testCopies(t, newStore) })
	t.Run("Ping", func(t *testing.T) {
		f := setup(t, newStore)
		if err := f.st.Ping(f.ctx); err != nil {
			t.Errorf("Ping() = %v; want nil", err)
		}
	})
	t.Run("CanceledContext", func(t *testing.T) { testCanceledContext(t, newStore) })
	t.Run("BadInput", func(t *testing.T) { testBadInput(t, newStore) })
	t.Run("Limiter", func(t *testing.T) { testLimiter(t, newStore) })
	t.Run("Meta", func(t *testing.T) { testMeta(t, newStore) })
	t.Run("LiveCounter", func(t *testing.T) { testLiveCounter(t, newStore) })
	t.Run("EventLog", func(t *testing.T) { testEventLog(t, newStore) })
	t.Run("Outbox", func(t *testing.T) { testOutbox(t, newStore) })
	t.Run("BulkRevoker", func(t *testing.T) { testBulkRevoker(t, newStore) })
}

func testCreate(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	t.Run("RoundTrip", func(t *testing.T) {
		f := setup(t, newStore)
		s := newSession("alice", t0)
		s.Strategy = sessiond.StrategyHybrid
		s.Persistent = true
		f.create(clone(s), newToken(sessiond.KindRefresh, s.ID, t0))
		f.wantSession(s)
	})
	t.Run("RoundTripEveryStrategy", func(t *testing.T) {
		f := setup(t, newStore)
		for _, strategy := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyJWT, sessiond.StrategyHybrid} {
			s := newSession("alice", t0)
			s.Strategy = strategy
			f.create(clone(s))
			f.wantSession(s)
		}
	})
	t.Run("RoundTripZeroValues", func(t *testing.T) {
		f := setup(t, newStore)
		s := newSession("", t0)
		s.Client = sessiond.Client{}
		s.Claims = nil
		f.create(clone(s))
		f.wantSession(s)
	})
	t.Run("RoundTripClaimsBytes", func(t *testing.T) {
		f := setup(t, newStore)
		s := newSession("alice", t0)
		// Not normalised, re-encoded or reordered: the bytes come back as given.
		s.Claims = []byte(`{"z": 1,  "a":"é\u00e9","n":[1.50,null,{"x":true}]}`)
		f.create(clone(s))
		f.wantSession(s)
	})
	t.Run("GetExpired", func(t *testing.T) {
		f := setup(t, newStore)
		s := newSession("alice", t0.Add(-48*time.Hour))
		f.create(clone(s))
		f.wantSession(s)
	})
	t.Run("GetUnknown", func(t *testing.T) {
		f := setup(t, newStore)
		f.create(newSession("alice", t0))
		f.wantGone(sessiond.NewSessionID())
	})
	t.Run("ConflictSessionID", func(t *testing.T) {
		f := setup(t, newStore)
		s := newSession("alice", t0)
		f.create(clone(s))
		dup := newSession("mallory", t0.Add(time.Minute))
		dup.ID = s.ID
		tok := newToken(sessiond.KindAccess, s.ID, t0)
		err := f.st.Create(f.ctx, dup, tok)
		wantErr(t, "Create(existing ID)", err, sessiond.ErrConflict)
		f.wantSession(s)
		f.wantNoToken(tok.Hash)
	})
	t.Run("ConflictTokenHash", func(t *testing.T) {
		f := setup(t, newStore)
		s := newSession("alice", t0)
		taken := newToken(sessiond.KindAccess, s.ID, t0)
		f.create(clone(s), taken)

		other := newSession("bob", t0)
		fresh := newToken(sessiond.KindRefresh, other.ID, t0)
		dup := newToken(sessiond.KindAccess, other.ID, t0)
		dup.Hash = taken.Hash
		err := f.st.Create(f.ctx, other, fresh, dup)
		wantErr(t, "Create(existing token hash)", err, sessiond.ErrConflict)
		f.wantGone(other.ID)
		f.wantNoToken(fresh.Hash)
		f.wantToken(taken)
	})
	t.Run("ConflictRepeatedTokenHash", func(t *testing.T) {
		f := setup(t, newStore)
		s := newSession("alice", t0)
		a := newToken(sessiond.KindAccess, s.ID, t0)
		b := newToken(sessiond.KindRefresh, s.ID, t0)
		b.Hash = a.Hash
		err := f.st.Create(f.ctx, s, a, b)
		wantErr(t, "Create(same hash twice)", err, sessiond.ErrConflict)
		f.wantGone(s.ID)
		f.wantNoToken(a.Hash)
	})
	t.Run("TokenOfAnotherSession", func(t *testing.T) {
		f := setup(t, newStore)
		s := newSession("alice", t0)
		tok := newToken(sessiond.KindAccess, sessiond.NewSessionID(), t0)
		err := f.st.Create(f.ctx, s, tok)
		wantErr(t, "Create(token of another session)", err, sessiond.ErrInvalidArgument)
		f.wantGone(s.ID)
		f.wantNoToken(tok.Hash)
	})
}

func testLookup(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	t.Run("AccessAndRefresh", func(t *testing.T) {
		f := setup(t, newStore)
		s := newSession("alice", t0)
		access := newToken(sessiond.KindAccess, s.ID, t0)
		access.ExpiresAt = t0.Add(15 * time.Minute)
		refresh := newToken(sessiond.KindRefresh, s.ID, t0.Add(time.Microsecond))
		refresh.ExpiresAt = t0.Add(7 * 24 * time.Hour)
		f.create(clone(s), access, refresh)
		// A second session, so a store returning "some" token fails.
		other := newSession("alice", t0)
		f.create(other, newToken(sessiond.KindAccess, other.ID, t0), newToken(sessiond.KindRefresh, other.ID, t0))

		for _, tok := range []sessiond.Token{access, refresh} {
			got := f.wantToken(tok)
			checkSession(t, fmt.Sprintf("Lookup(%s token) session", tok.Kind), got, s)
		}
	})
	t.Run("Unknown", func(t *testing.T) {
		f := setup(t, newStore)
		s := newSession("alice", t0)
		f.create(s, newToken(sessiond.KindAccess, s.ID, t0))
		f.wantNoToken(randomHash())
		f.wantNoToken(sessiond.TokenHash{})
	})
	t.Run("RevokedSession", func(t *testing.T) {
		f := setup(t, newStore)
		s := newSession("alice", t0)
		tok := newToken(sessiond.KindAccess, s.ID, t0)
		f.create(clone(s), tok)
		if _, err := f.st.Revoke(f.ctx, s.ID, at(time.Minute), sessiond.ReasonLogout); err != nil {
			t.Fatalf("Revoke(%s) = %v; want nil", s.ID, err)
		}
		got := f.wantToken(tok)
		s.RevokedAt, s.RevokeReason = at(time.Minute), sessiond.ReasonLogout
		checkSession(t, "Lookup(token of revoked session) session", got, s)
	})
}

func testTouch(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	t.Run("UpdatesActivity", func(t *testing.T) {
		f := setup(t, newStore)
		s := newSession("alice", t0)
		f.create(clone(s))
		last, idle := at(10*time.Minute), at(40*time.Minute)
		if err := f.st.Touch(f.ctx, s.ID, last, idle); err != nil {
			t.Fatalf("Touch(%s) = %v; want nil", s.ID, err)
		}
		s.LastActiveAt, s.IdleExpiresAt = last, idle
		f.wantSession(s)
	})
	t.Run("OnlyThatSession", func(t *testing.T) {
		f := setup(t, newStore)
		s, other := newSession("alice", t0), newSession("alice", t0)
		f.create(clone(s))
		f.create(clone(other))
		if err := f.st.Touch(f.ctx, s.ID, at(time.Minute), at(time.Hour)); err != nil {
			t.Fatalf("Touch(%s) = %v; want nil", s.ID, err)
		}
		f.wantSession(other)
	})
	t.Run("Unknown", func(t *testing.T) {
		f := setup(t, newStore)
		f.create(newSession("alice", t0))
		err := f.st.Touch(f.ctx, sessiond.NewSessionID(), at(time.Minute), at(time.Hour))
		wantErr(t, "Touch(unknown)", err, sessiond.ErrNotFound)
	})
	t.Run("Revoked", func(t *testing.T) {
		f := setup(t, newStore)
		s := newSession("alice", t0)
		f.create(clone(s))
		if _, err := f.st.Revoke(f.ctx, s.ID, at(time.Minute), sessiond.ReasonAdmin); err != nil {
			t.Fatalf("Revoke(%s) = %v; want nil", s.ID, err)
		}
		if err := f.st.Touch(f.ctx, s.ID, at(2*time.Minute), at(time.Hour)); err != nil {
			t.Errorf("Touch(revoked) = %v; want nil (no change)", err)
		}
		s.RevokedAt, s.RevokeReason = at(time.Minute), sessiond.ReasonAdmin
		f.wantSession(s) // still revoked, activity not recorded
	})
}

// swapFixture is a session with one current refresh token.
type swapFixture struct {
	*fixture
	s   *sessiond.Session
	old sessiond.Token
}

func setupSwap(t *testing.T, newStore func(t *testing.T) sessiond.Store) *swapFixture {
	t.Helper()
	f := setup(t, newStore)
	s := newSession("alice", t0)
	old := newToken(sessiond.KindRefresh, s.ID, t0)
	f.create(clone(s), newToken(sessiond.KindAccess, s.ID, t0), old)
	return &swapFixture{fixture: f, s: s, old: old}
}

// swap returns a swap of f.old for a fresh token at now with the given grace.
func (f *swapFixture) swap(now time.Time, grace time.Duration) sessiond.RefreshSwap {
	return sessiond.RefreshSwap{
		Old:           f.old.Hash,
		Next:          newToken(sessiond.KindRefresh, f.s.ID, now),
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

func testSwapRefresh(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	t.Run("Success", func(t *testing.T) {
		f := setupSwap(t, newStore)
		sw := f.swap(at(time.Hour), 0)
		f.mustSwap(sw)

		retired := f.old
		retired.RetiredAt = sw.Now
		f.wantToken(retired)
		f.wantToken(sw.Next)
		f.s.LastActiveAt, f.s.IdleExpiresAt = sw.LastActiveAt, sw.IdleExpiresAt
		f.wantSession(f.s)
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
		access := newToken(sessiond.KindAccess, f.s.ID, t0)
		other := newSession("alice", t0)
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
		retired := f.old
		retired.RetiredAt = first.Now
		f.wantToken(retired)
		f.wantToken(first.Next)
		f.s.LastActiveAt, f.s.IdleExpiresAt = first.LastActiveAt, first.IdleExpiresAt
		f.wantSession(f.s) // neither revoked nor touched by the failed swap
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
			Old: first.Next.Hash, Next: newToken(sessiond.KindRefresh, f.s.ID, late),
			Now: late, GraceSince: late.Add(-5 * time.Second), LastActiveAt: late, IdleExpiresAt: late.Add(time.Hour),
		}
		wantErr(t, "SwapRefresh(sibling retired by a later swap, after grace)", f.st.SwapRefresh(f.ctx, fromFirst), sessiond.ErrRefreshReused)
		f.wantNoToken(fromFirst.Next.Hash)
		fromSecond := fromFirst
		fromSecond.Old, fromSecond.Next = second.Next.Hash, newToken(sessiond.KindRefresh, f.s.ID, late)
		f.mustSwap(fromSecond)
		f.wantToken(fromSecond.Next)
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
		other := newSession("bob", t0)
		taken := newToken(sessiond.KindRefresh, other.ID, t0)
		f.create(clone(other), taken)
		sw := f.swap(at(time.Hour), 0)
		sw.Next.Hash = taken.Hash
		wantErr(t, "SwapRefresh(next hash exists)", f.st.SwapRefresh(f.ctx, sw), sessiond.ErrConflict)
		f.wantToken(f.old) // still current
		f.wantToken(taken)
		f.wantSession(f.s)
	})
	t.Run("RevokedSessionStaysRevoked", func(t *testing.T) {
		f := setupSwap(t, newStore)
		if _, err := f.st.Revoke(f.ctx, f.s.ID, at(time.Minute), sessiond.ReasonLogout); err != nil {
			t.Fatalf("Revoke(%s) = %v; want nil", f.s.ID, err)
		}
		// Whether the swap succeeds is the caller's business (it checks
		// the session first); it must not bring the session back.
		_ = f.st.SwapRefresh(f.ctx, f.swap(at(time.Hour), 0))
		got := f.get(f.s.ID)
		if !got.RevokedAt.Equal(at(time.Minute)) || got.RevokeReason != sessiond.ReasonLogout {
			t.Errorf("after SwapRefresh, Get(%s) revoked = %v %q; want %v %q",
				f.s.ID, got.RevokedAt, got.RevokeReason, at(time.Minute), sessiond.ReasonLogout)
		}
	})
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

func testRevoke(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	t.Run("SetsRevoked", func(t *testing.T) {
		f := setup(t, newStore)
		s := newSession("alice", t0)
		f.create(clone(s))
		got, err := f.st.Revoke(f.ctx, s.ID, at(time.Minute), sessiond.ReasonLogout)
		if err != nil {
			t.Fatalf("Revoke(%s) = %v; want nil", s.ID, err)
		}
		s.RevokedAt, s.RevokeReason = at(time.Minute), sessiond.ReasonLogout
		checkSession(t, "Revoke()", got, s)
		f.wantSession(s)
	})
	t.Run("Idempotent", func(t *testing.T) {
		f := setup(t, newStore)
		s := newSession("alice", t0)
		f.create(clone(s))
		if _, err := f.st.Revoke(f.ctx, s.ID, at(time.Minute), sessiond.ReasonLogout); err != nil {
			t.Fatalf("Revoke(%s) = %v; want nil", s.ID, err)
		}
		got, err := f.st.Revoke(f.ctx, s.ID, at(time.Hour), sessiond.ReasonIncident)
		if err != nil {
			t.Fatalf("second Revoke(%s) = %v; want nil", s.ID, err)
		}
		s.RevokedAt, s.RevokeReason = at(time.Minute), sessiond.ReasonLogout
		checkSession(t, "second Revoke()", got, s)
		f.wantSession(s)
	})
	t.Run("Unknown", func(t *testing.T) {
		f := setup(t, newStore)
		f.create(newSession("alice", t0))
		got, err := f.st.Revoke(f.ctx, sessiond.NewSessionID(), at(time.Minute), sessiond.ReasonAdmin)
		if !errors.Is(err, sessiond.ErrNotFound) {
			t.Errorf("Revoke(unknown) = %v, %v; want ErrNotFound", got, err)
		}
	})
	t.Run("OnlyThatSession", func(t *testing.T) {
		f := setup(t, newStore)
		s, other := newSession("alice", t0), newSession("alice", t0)
		f.create(clone(s))
		f.create(clone(other))
		if _, err := f.st.Revoke(f.ctx, s.ID, at(time.Minute), sessiond.ReasonLogout); err != nil {
			t.Fatalf("Revoke(%s) = %v; want nil", s.ID, err)
		}
		f.wantSession(other)
	})
	t.Run("LookupAndList", func(t *testing.T) {
		f := setup(t, newStore)
		s, other := newSession("alice", t0), newSession("alice", t0.Add(time.Second))
		tok := newToken(sessiond.KindAccess, s.ID, t0)
		f.create(clone(s), tok)
		f.create(clone(other))
		if _, err := f.st.Revoke(f.ctx, s.ID, at(time.Minute), sessiond.ReasonLogout); err != nil {
			t.Fatalf("Revoke(%s) = %v; want nil", s.ID, err)
		}
		// Lookup still finds the token, so the caller can answer ErrRevoked.
		if got := f.wantToken(tok); !got.Revoked() {
			t.Errorf("Lookup(token of revoked session) session RevokedAt = %v; want %v", got.RevokedAt, at(time.Minute))
		}
		list, err := f.st.List(f.ctx, "alice", at(2*time.Minute))
		if err != nil {
			t.Fatalf("List(alice) = %v; want nil", err)
		}
		if got, want := ids(list), []sessiond.SessionID{other.ID}; !slices.Equal(got, want) {
			t.Errorf("List(alice) after revoke = %v; want %v", got, want)
		}
	})
}

func testRevokeSubject(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	// subject creates, for alice: two live sessions, one revoked earlier,
	// one past its absolute and one past its idle expiry; for bob: one live.
	type world struct {
		live1, live2, revoked, expired, idle, bob *sessiond.Session
	}
	populate := func(f *fixture) world {
		w := world{
			live1:   newSession("alice", t0),
			live2:   newSession("alice", t0.Add(time.Minute)),
			revoked: newSession("alice", t0),
			expired: newSession("alice", t0.Add(-9*time.Hour)),
			idle:    newSession("alice", t0.Add(-time.Hour)),
			bob:     newSession("bob", t0),
		}
		w.expired.IdleExpiresAt = w.expired.ExpiresAt
		w.idle.IdleExpiresAt = t0.Add(-time.Minute)
		for _, s := range []*sessiond.Session{w.live1, w.live2, w.revoked, w.expired, w.idle, w.bob} {
			f.create(clone(s), newToken(sessiond.KindRefresh, s.ID, s.CreatedAt))
		}
		if _, err := f.st.Revoke(f.ctx, w.revoked.ID, t0.Add(time.Second), sessiond.ReasonLogout); err != nil {
			f.t.Fatalf("Revoke(%s) = %v; want nil", w.revoked.ID, err)
		}
		w.revoked.RevokedAt, w.revoked.RevokeReason = t0.Add(time.Second), sessiond.ReasonLogout
		return w
	}
	now := at(10 * time.Minute)

	t.Run("All", func(t *testing.T) {
		f := setup(t, newStore)
		w := populate(f)
		got, err := f.st.RevokeSubject(f.ctx, "alice", "", now, sessiond.ReasonIncident)
		if err != nil {
			t.Fatalf("RevokeSubject(alice) = %v; want nil", err)
		}
		checkRevocations(t, "RevokeSubject(alice)", got, []sessiond.Revocation{
			revocation(w.live1, now, sessiond.ReasonIncident),
			revocation(w.live2, now, sessiond.ReasonIncident),
		})
		for _, s := range []*sessiond.Session{w.live1, w.live2} {
			s.RevokedAt, s.RevokeReason = now, sessiond.ReasonIncident
		}
		for _, s := range []*sessiond.Session{w.live1, w.live2, w.revoked, w.expired, w.idle, w.bob} {
			f.wantSession(s)
		}
	})
	t.Run("Except", func(t *testing.T) {
		f := setup(t, newStore)
		w := populate(f)
		got, err := f.st.RevokeSubject(f.ctx, "alice", w.live2.ID, now, sessiond.ReasonRotated)
		if err != nil {
			t.Fatalf("RevokeSubject(alice, except %s) = %v; want nil", w.live2.ID, err)
		}
		checkRevocations(t, "RevokeSubject(alice, except)", got, []sessiond.Revocation{
			revocation(w.live1, now, sessiond.ReasonRotated),
		})
		w.live1.RevokedAt, w.live1.RevokeReason = now, sessiond.ReasonRotated
		for _, s := range []*sessiond.Session{w.live1, w.live2, w.revoked, w.bob} {
			f.wantSession(s)
		}
	})
	t.Run("Again", func(t *testing.T) {
		f := setup(t, newStore)
		populate(f)
		if _, err := f.st.RevokeSubject(f.ctx, "alice", "", now, sessiond.ReasonIncident); err != nil {
			t.Fatalf("RevokeSubject(alice) = %v; want nil", err)
		}
		got, err := f.st.RevokeSubject(f.ctx, "alice", "", now.Add(time.Minute), sessiond.ReasonAdmin)
		if err != nil {
			t.Fatalf("second RevokeSubject(alice) = %v; want nil", err)
		}
		checkRevocations(t, "second RevokeSubject(alice)", got, nil)
	})
	t.Run("UnknownSubject", func(t *testing.T) {
		f := setup(t, newStore)
		w := populate(f)
		got, err := f.st.RevokeSubject(f.ctx, "nobody", "", now, sessiond.ReasonAdmin)
		if err != nil {
			t.Fatalf("RevokeSubject(nobody) = %v; want nil", err)
		}
		checkRevocations(t, "RevokeSubject(nobody)", got, nil)
		f.wantSession(w.live1)
	})
}

func testList(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	now := at(10 * time.Minute)
	t.Run("LiveOldestFirst", func(t *testing.T) {
		f := setup(t, newStore)
		second := newSession("alice", t0.Add(2*time.Minute))
		third := newSession("alice", t0.Add(3*time.Minute))
		first := newSession("alice", t0.Add(time.Minute))
		revoked := newSession("alice", t0)
		expired := newSession("alice", t0)
		expired.ExpiresAt = now // not before now: over
		idle := newSession("alice", t0)
		idle.IdleExpiresAt = now
		bob := newSession("bob", t0)
		// Created out of order, so insertion order is not creation order.
		for _, s := range []*sessiond.Session{second, revoked, third, expired, idle, first, bob} {
			f.create(clone(s), newToken(sessiond.KindAccess, s.ID, s.CreatedAt))
		}
		if _, err := f.st.Revoke(f.ctx, revoked.ID, t0.Add(time.Second), sessiond.ReasonLogout); err != nil {
			t.Fatalf("Revoke(%s) = %v; want nil", revoked.ID, err)
		}

		got, err := f.st.List(f.ctx, "alice", now)
		if err != nil {
			t.Fatalf("List(alice) = %v; want nil", err)
		}
		want := []*sessiond.Session{first, second, third}
		if !slices.Equal(ids(got), ids(want)) {
			t.Fatalf("List(alice) = %v; want %v (first, second, third)", ids(got), ids(want))
		}
		for i := range want {
			checkSession(t, fmt.Sprintf("List(alice)[%d]", i), got[i], want[i])
		}
	})
	t.Run("Empty", func(t *testing.T) {
		f := setup(t, newStore)
		f.create(newSession("alice", t0))
		got, err := f.st.List(f.ctx, "nobody", now)
		if err != nil || got == nil || len(got) != 0 {
			t.Errorf("List(nobody) = %v (nil: %t), %v; want an empty slice and nil", ids(got), got == nil, err)
		}
	})
}

func testRevocations(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	t.Run("Since", func(t *testing.T) {
		f := setup(t, newStore)
		since := at(time.Hour)
		type c struct {
			s         *sessiond.Session
			revokedAt time.Time // zero: not revoked
			want      bool
		}
		mk := func(expires time.Time) *sessiond.Session {
			s := newSession("alice", t0)
			s.ExpiresAt = expires
			s.IdleExpiresAt = expires
			return s
		}
		cases := []c{
			{mk(at(8 * time.Hour)), since.Add(-time.Microsecond), false},    // revoked before since
			{mk(at(8 * time.Hour)), since, true},                            // at since
			{mk(at(8 * time.Hour)), since.Add(time.Minute), true},           // after since
			{mk(since.Add(time.Microsecond)), since.Add(time.Second), true}, // expires just after since
			{mk(since), since.Add(time.Second), false},                      // expired at since
			{mk(at(8 * time.Hour)), time.Time{}, false},                     // not revoked
		}
		var want []sessiond.Revocation
		for i, c := range cases {
			f.create(clone(c.s))
			if c.revokedAt.IsZero() {
				continue
			}
			reason := []sessiond.RevokeReason{sessiond.ReasonLogout, sessiond.ReasonAdmin, sessiond.ReasonReuse}[i%3]
			if _, err := f.st.Revoke(f.ctx, c.s.ID, c.revokedAt, reason); err != nil {
				t.Fatalf("Revoke(%s) = %v; want nil", c.s.ID, err)
			}
			if c.want {
				want = append(want, revocation(c.s, c.revokedAt, reason))
			}
		}
		got, err := f.st.Revocations(f.ctx, since)
		if err != nil {
			t.Fatalf("Revocations(%v) = %v; want nil", since, err)
		}
		checkRevocations(t, fmt.Sprintf("Revocations(%v)", since), got, want)
	})
	t.Run("None", func(t *testing.T) {
		f := setup(t, newStore)
		f.create(newSession("alice", t0))
		got, err := f.st.Revocations(f.ctx, t0)
		if err != nil || len(got) != 0 {
			t.Errorf("Revocations() = %v, %v; want none and nil", got, err)
		}
	})
}

func testDeleteExpired(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	t.Run("Batches", func(t *testing.T) {
		f := setup(t, newStore)
		before := at(time.Hour)
		type entry struct {
			s      *sessiond.Session
			tokens []sessiond.Token
		}
		add := func(configure func(s *sessiond.Session)) entry {
			s := newSession("alice", t0)
			configure(s)
			e := entry{s: s, tokens: []sessiond.Token{
				newToken(sessiond.KindAccess, s.ID, t0),
				newToken(sessiond.KindRefresh, s.ID, t0),
			}}
			f.create(clone(s), e.tokens...)
			return e
		}
		var expired, live []entry
		for i := range 4 {
			expired = append(expired, add(func(s *sessiond.Session) { // absolute expiry passed
				s.ExpiresAt = before.Add(-time.Duration(i+1) * time.Microsecond)
				s.IdleExpiresAt = s.ExpiresAt
			}))
			expired = append(expired, add(func(s *sessiond.Session) { // idle expiry passed
				s.IdleExpiresAt = before.Add(-time.Duration(i+1) * time.Minute)
			}))
		}
		live = append(live,
			add(func(s *sessiond.Session) { s.ExpiresAt, s.IdleExpiresAt = before, before }), // not before `before`
			add(func(s *sessiond.Session) { s.IdleExpiresAt = before.Add(time.Minute) }),
			add(func(s *sessiond.Session) { s.IdleExpiresAt = before.Add(time.Minute) }),
		)
		// A revoked session stays until it expires: the revoked set needs it.
		if _, err := f.st.Revoke(f.ctx, live[2].s.ID, t0.Add(time.Second), sessiond.ReasonLogout); err != nil {
			t.Fatalf("Revoke(%s) = %v; want nil", live[2].s.ID, err)
		}
		live[2].s.RevokedAt, live[2].s.RevokeReason = t0.Add(time.Second), sessiond.ReasonLogout

		const limit = 3
		var counts []int
		total := 0
		for range 10 {
			n, err := f.st.DeleteExpired(f.ctx, before, limit)
			if err != nil {
				t.Fatalf("DeleteExpired(%v, %d) = %v; want nil", before, limit, err)
			}
			counts = append(counts, n)
			if n < 0 || n > limit {
				t.Fatalf("DeleteExpired(%v, %d) = %d; want 0..%d", before, limit, n, limit)
			}
			if n == 0 {
				break
			}
			total += n
		}
		if counts[0] != limit {
			t.Errorf("first DeleteExpired(%v, %d) = %d; want %d (8 are expired)", before, limit, counts[0], limit)
		}
		if total != len(expired) || counts[len(counts)-1] != 0 {
			t.Errorf("DeleteExpired(%v, %d) calls returned %v (total %d); want a total of %d, then 0", before, limit, counts, total, len(expired))
		}
		for _, e := range expired {
			f.wantGone(e.s.ID)
			for _, tok := range e.tokens {
				f.wantNoToken(tok.Hash)
			}
		}
		for _, e := range live {
			f.wantSession(e.s)
			for _, tok := range e.tokens {
				f.wantToken(tok)
			}
		}
	})
	t.Run("Nothing", func(t *testing.T) {
		f := setup(t, newStore)
		s := newSession("alice", t0)
		f.create(clone(s))
		n, err := f.st.DeleteExpired(f.ctx, t0, 100)
		if n != 0 || err != nil {
			t.Errorf("DeleteExpired(t0, 100) = %d, %v; want 0, nil", n, err)
		}
		f.wantSession(s)
	})
	t.Run("BadLimit", func(t *testing.T) {
		f := setup(t, newStore)
		s := newSession("alice", t0)
		f.create(clone(s))
		for _, limit := range []int{0, -1} {
			n, err := f.st.DeleteExpired(f.ctx, at(100*time.Hour), limit)
			if n != 0 || !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Errorf("DeleteExpired(limit %d) = %d, %v; want 0, ErrInvalidArgument", limit, n, err)
			}
		}
		f.wantSession(s)
	})
}

// mutate changes every field of s a caller could change in place.
func mutate(s *sessiond.Session) {
	for i := range s.Claims {
		s.Claims[i] = 'X'
	}
	s.Subject = "mallory"
	s.Client.IP = "198.51.100.66"
	s.ExpiresAt = s.ExpiresAt.Add(1000 * time.Hour)
	s.RevokeReason = "mutated"
}

func testCopies(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	t.Run("Create", func(t *testing.T) {
		f := setup(t, newStore)
		s := newSession("alice", t0)
		want := clone(s)
		f.create(s)
		mutate(s)
		f.wantSession(want)
	})
	t.Run("Get", func(t *testing.T) {
		f := setup(t, newStore)
		s := newSession("alice", t0)
		f.create(clone(s))
		mutate(f.get(s.ID))
		f.wantSession(s)
	})
	t.Run("Lookup", func(t *testing.T) {
		f := setup(t, newStore)
		s := newSession("alice", t0)
		tok := newToken(sessiond.KindAccess, s.ID, t0)
		f.create(clone(s), tok)
		_, got := f.lookup(tok.Hash)
		mutate(got)
		f.wantSession(s)
	})
	t.Run("List", func(t *testing.T) {
		f := setup(t, newStore)
		s := newSession("alice", t0)
		f.create(clone(s))
		list, err := f.st.List(f.ctx, "alice", t0)
		if err != nil || len(list) != 1 {
			t.Fatalf("List(alice) = %v, %v; want 1 session", ids(list), err)
		}
		mutate(list[0])
		f.wantSession(s)
	})
	t.Run("Revoke", func(t *testing.T) {
		f := setup(t, newStore)
		s := newSession("alice", t0)
		f.create(clone(s))
		got, err := f.st.Revoke(f.ctx, s.ID, at(time.Minute), sessiond.ReasonLogout)
		if err != nil {
			t.Fatalf("Revoke(%s) = %v; want nil", s.ID, err)
		}
		mutate(got)
		s.RevokedAt, s.RevokeReason = at(time.Minute), sessiond.ReasonLogout
		f.wantSession(s)
	})
	t.Run("Independent", func(t *testing.T) {
		f := setup(t, newStore)
		s := newSession("alice", t0)
		f.create(clone(s))
		a, b := f.get(s.ID), f.get(s.ID)
		if len(a.Claims) > 0 && &a.Claims[0] == &b.Claims[0] {
			t.Errorf("two Get(%s) calls return the same Claims array; want copies", s.ID)
		}
		mutate(a)
		if !bytes.Equal(b.Claims, s.Claims) {
			t.Errorf("after changing one Get result, another has Claims %s; want %s", b.Claims, s.Claims)
		}
	})
}

func testCanceledContext(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	f := setup(t, newStore)
	s := newSession("alice", t0)
	tok := newToken(sessiond.KindRefresh, s.ID, t0)
	f.create(clone(s), tok)

	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	fresh := newSession("alice", t0)
	calls := []struct {
		name string
		call func() error
	}{
		{"Create", func() error { return f.st.Create(ctx, fresh, newToken(sessiond.KindAccess, fresh.ID, t0)) }},
		{"Get", func() error { _, err := f.st.Get(ctx, s.ID); return err }},
		{"Lookup", func() error { _, _, err := f.st.Lookup(ctx, tok.Hash); return err }},
		{"Touch", func() error { return f.st.Touch(ctx, s.ID, at(time.Minute), at(time.Hour)) }},
		{"SwapRefresh", func() error {
			return f.st.SwapRefresh(ctx, sessiond.RefreshSwap{
				Old: tok.Hash, Next: newToken(sessiond.KindRefresh, s.ID, at(time.Minute)),
				Now: at(time.Minute), GraceSince: at(time.Minute), LastActiveAt: at(time.Minute), IdleExpiresAt: at(time.Hour),
			})
		}},
		{"Revoke", func() error { _, err := f.st.Revoke(ctx, s.ID, at(time.Minute), sessiond.ReasonAdmin); return err }},
		{"RevokeSubject", func() error {
			_, err := f.st.RevokeSubject(ctx, "alice", "", at(time.Minute), sessiond.ReasonAdmin)
			return err
		}},
		{"List", func() error { _, err := f.st.List(ctx, "alice", t0); return err }},
		{"Revocations", func() error { _, err := f.st.Revocations(ctx, t0); return err }},
		{"DeleteExpired", func() error { _, err := f.st.DeleteExpired(ctx, at(100*time.Hour), 10); return err }},
		{"Ping", func() error { return f.st.Ping(ctx) }},
	}
	for _, c := range calls {
		if err := c.call(); err == nil {
			t.Errorf("%s(canceled context) = nil error; want an error", c.name)
		}
	}
	// Nothing the calls above would have changed did change.
	f.wantGone(fresh.ID)
	f.wantSession(s)
	f.wantToken(tok)
}

func testBadInput(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	f := setup(t, newStore)
	f.create(newSession("alice", t0))
	bad := []sessiond.SessionID{
		"",
		"x",
		"../../etc/passwd",
		"' OR '1'='1",
		"%",
		"*",
		"alice",
		"\x00\xff\xfe",
		"ünïcödé",
		sessiond.SessionID(strings.Repeat("a", 4096)),
		sessiond.SessionID(strings.ToUpper(string(sessiond.NewSessionID()))),
	}
	for _, id := range bad {
		if got, err := f.st.Get(f.ctx, id); !errors.Is(err, sessiond.ErrNotFound) {
			t.Errorf("Get(%.40q) = %v, %v; want ErrNotFound", id, got, err)
		}
		if err := f.st.Touch(f.ctx, id, at(time.Minute), at(time.Hour)); !errors.Is(err, sessiond.ErrNotFound) {
			t.Errorf("Touch(%.40q) = %v; want ErrNotFound", id, err)
		}
		if got, err := f.st.Revoke(f.ctx, id, at(time.Minute), sessiond.ReasonAdmin); !errors.Is(err, sessiond.ErrNotFound) {
			t.Errorf("Revoke(%.40q) = %v, %v; want ErrNotFound", id, got, err)
		}
		if id == "alice" {
			continue // a real subject, for List
		}
		if got, err := f.st.List(f.ctx, string(id), t0); err != nil || len(got) != 0 {
			t.Errorf("List(%.40q) = %v, %v; want none and nil", id, ids(got), err)
		}
	}
}
