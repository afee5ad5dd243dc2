package sessiondtest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// testRevokeRacingActivity: a revocation that lands while Touch or
// SwapRefresh calls of the same session run still holds once they are
// done. A store that reads the session and then writes it back whole with
// the new activity (a key-value store's get and put without a condition,
// an UPDATE of every column from a row read before) undoes a revocation
// made between its read and its write: the Manager then verifies and
// refreshes a session its user logged out of. The sequential cases (Touch
// and SwapRefresh of a revoked session) cannot see that.
func testRevokeRacingActivity(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	// rounds and writers make a store that loses the revocation in any
	// one round fail the suite, however its calls interleave.
	const rounds, writers = 20, 4
	revokedAt := at(2 * time.Hour)
	for _, tc := range []struct {
		name string
		// write records activity of s, the n-th write of the round
		// (tokens: s's refresh token, swapped again and again within the
		// grace, so that every swap may succeed until the revocation).
		write func(f *fixture, s *sessiond.Session, old sessiond.Token, n int) error
	}{
		{"Touch", func(f *fixture, s *sessiond.Session, _ sessiond.Token, n int) error {
			last := at(time.Minute + time.Duration(n)*time.Microsecond)
			return f.st.Touch(f.ctx, s.ID, last, last.Add(30*time.Minute))
		}},
		{"SwapRefresh", func(f *fixture, s *sessiond.Session, old sessiond.Token, n int) error {
			now := at(time.Minute + time.Duration(n)*time.Microsecond)
			return f.st.SwapRefresh(f.ctx, sessiond.RefreshSwap{
				Old: old.Hash, Next: NewToken(sessiond.KindRefresh, s.ID, now), Now: now,
				GraceSince: t0, LastActiveAt: now, IdleExpiresAt: now.Add(30 * time.Minute),
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, newStore)
			for round := range rounds {
				s := NewSession("alice", t0)
				old := NewToken(sessiond.KindRefresh, s.ID, t0)
				f.create(clone(s), old)
				var (
					wg, running sync.WaitGroup
					mu          sync.Mutex
					failures    []error
				)
				stop := make(chan struct{})
				running.Add(writers)
				for w := range writers {
					wg.Go(func() {
						first := true
						defer func() {
							if first {
								running.Done()
							}
						}()
						for n := w; ; n += writers {
							err := tc.write(f, s, old, n)
							if first {
								first = false
								running.Done()
							}
							if errors.Is(err, sessiond.ErrRevoked) {
								return
							}
							if err != nil {
								mu.Lock()
								failures = append(failures, err)
								mu.Unlock()
								return
							}
							select {
							case <-stop:
								return
							default:
							}
						}
					})
				}
				running.Wait() // every writer is in its loop: the revocation lands among their writes
				f.revoke(s.ID, revokedAt, sessiond.ReasonLogout)
				close(stop)
				wg.Wait()
				for _, err := range failures {
					t.Errorf("round %d: %s racing Revoke = %v; want nil or ErrRevoked", round, tc.name, err)
				}
				got := f.get(s.ID)
				if !got.RevokedAt.Equal(revokedAt) || got.RevokeReason != sessiond.ReasonLogout {
					t.Fatalf("round %d: Get after Revoke racing %d writers of %s: RevokedAt = %v, RevokeReason = %q; want %v, %q (a write of the session's activity undid the revocation)",
						round, writers, tc.name, got.RevokedAt, got.RevokeReason, revokedAt, sessiond.ReasonLogout)
				}
				wantErr(t, tc.name+" after the race", tc.write(f, s, old, 1<<20), sessiond.ErrRevoked)
			}
		})
	}
}
