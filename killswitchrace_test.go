package sessiond_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestManager_KillSwitchRacingLogins: on every store, a kill switch run on
// one node while two nodes log users in (the clock moving 1 ms a login,
// within the kill switch's second): every session stored before it began
// is revoked, in the store and for its tokens; every login after it
// returned, on its node, works; a racing login that the store revoked is
// refused. The count the kill switch returns is exactly the sessions the
// store shows revoked by it. A racing login dated in the watermark's
// second and stored after the store's pass is refused with a live record
// (docs/lifecycle.md, "What is left"): allowed, and logged.
func TestManager_KillSwitchRacingLogins(t *testing.T) {
	const before, racing, after = 40, 120, 10
	for _, ms := range managerStores() {
		t.Run(ms.name, func(t *testing.T) {
			for _, f := range []sessiond.RevokeFilter{
				{All: true},
				{Subjects: []string{"user0", "user1", "user2"}},
			} {
				t.Run(fmt.Sprintf("All=%t", f.All), func(t *testing.T) {
					c := newCluster(t, ms, 2, false, func(s *countingSink) sessiond.EventSink { return s })
					ctx := context.Background()
					c.clock.Advance(400 * time.Millisecond)
					type login struct {
						iss  *sessiond.Issued
						when string // "before", "racing", "after"
					}
					var (
						mu     sync.Mutex
						logins []login
					)
					loginAs := func(m *sessiond.Manager, i int, when string) {
						iss, err := m.Create(ctx, fmt.Sprintf("user%d", i%5), sessiond.CreateOptions{})
						if err != nil {
							t.Errorf("Create (%s) = %v", when, err)
							return
						}
						mu.Lock()
						logins = append(logins, login{iss, when})
						mu.Unlock()
					}
					for i := range before {
						loginAs(c.nodes[i%2], i, "before")
					}
					// Logins on both nodes, and the clock moving 1 ms a
					// login, while node 0 runs the kill switch.
					var (
						wg      sync.WaitGroup
						started = make(chan struct{})
						next    atomic.Int64
					)
					for w := range 4 {
						wg.Go(func() {
							<-started
							for {
								i := int(next.Add(1))
								if i > racing {
									return
								}
								c.clock.Advance(time.Millisecond)
								loginAs(c.nodes[w%2], i, "racing")
							}
						})
					}
					close(started)
					n, err := c.nodes[0].RevokeMatching(ctx, f, sessiond.ReasonIncident, false)
					if err != nil {
						t.Fatalf("RevokeMatching = %d, %v", n, err)
					}
					wg.Wait()
					// On the node that raised the watermark: another node
					// that has not read it yet dates a login in its second
					// by its own clock (docs/lifecycle.md, "What is left").
					for i := range after {
						loginAs(c.nodes[0], i, "after")
					}
					selected := func(subject string) bool {
						if f.All {
							return true
						}
						for _, s := range f.Subjects {
							if s == subject {
								return true
							}
						}
						return false
					}
					incident, behind := 0, 0
					for _, l := range logins {
						s, err := c.stores[0].Get(ctx, l.iss.Session.ID)
						if err != nil {
							t.Fatalf("Get(%s) = %v", l.iss.Session.ID, err)
						}
						if s.Revoked() && s.RevokeReason == sessiond.ReasonIncident {
							incident++
						}
						_, verr := c.nodes[0].Verify(ctx, l.iss.AccessToken, sessiond.Client{})
						refused := errors.Is(verr, sessiond.ErrRevoked)
						if verr != nil && !refused {
							t.Fatalf("Verify(%s login) = %v", l.when, verr)
						}
						want := l.when == "before" && selected(s.Subject)
						switch {
						case l.when != "racing" && s.Revoked() != want:
							t.Errorf("%s's session created %s: revoked %t in the store; want %t", s.Subject, l.when, s.Revoked(), want)
						case l.when != "racing" && refused != want:
							t.Errorf("%s's session created %s: token refused %t (%v); want %t", s.Subject, l.when, refused, verr, want)
						case s.Revoked() && !refused:
							t.Errorf("%s's racing session is revoked in the store, but its token verifies", s.Subject)
						case !s.Revoked() && refused:
							// Dated in the watermark's second and stored
							// after the store's pass: refused, its record
							// live until a login of its subject hits the
							// limit (endBehindMarks).
							behind++
						}
					}
					if n != incident {
						t.Errorf("RevokeMatching = %d; the store shows %d sessions revoked by the incident", n, incident)
					}
					t.Logf("%s: %d revoked, %d racing logins refused with a live record", ms.name, n, behind)
				})
			}
		})
	}
}
