package sessiond_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/jwttest"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
	"github.com/sessiond/sessiond/sessiondtest"
)

// TestManager_ReuseIntervalAcrossClocks: the reuse interval is judged by
// the clock of the node serving the second refresh, against the time the
// first node's clock stamped on the retired token (docs/operations.md,
// "Clock skew between nodes"). Two nodes on one store, the second's clock offset from
// the first's: node 0 refreshes a token, then the same token comes back
// to node 1 (a retry, or a second tab), `delay` later in real time. The
// interval (5s) is kept when the two clocks agree within it, less the
// delay; a node ahead by more takes the retry for theft and ends the
// session; a node behind lengthens the interval by its lag. So the
// interval must exceed twice the largest offset of a node's clock.
func TestManager_ReuseIntervalAcrossClocks(t *testing.T) {
	const reuse = 5 * time.Second
	for _, ms := range managerStores() {
		t.Run(ms.name, func(t *testing.T) {
			for _, tc := range []struct {
				name   string
				offset time.Duration // node 1's clock minus node 0's
				delay  time.Duration // real time between the two refreshes
				reused bool
			}{
				{"AgreeingClocks", 0, time.Second, false},
				{"AheadWithinInterval", 3 * time.Second, time.Second, false},
				{"AheadByTheInterval", reuse, 0, false},         // the interval's end is still in it
				{"AheadPastInterval", 6 * time.Second, 0, true}, // a concurrent retry taken for theft
				{"AheadPastIntervalLessDelay", 4 * time.Second, 2 * time.Second, true},
				{"BehindLengthensInterval", -10 * time.Second, 8 * time.Second, false}, // a replay 8s later passes
				{"BehindByLessThanDelay", -2 * time.Second, 8 * time.Second, true},
			} {
				t.Run(tc.name, func(t *testing.T) {
					stores := ms.nodes(t, 2)
					// Near the real time: Redis expires keys by the session's times.
					start := time.Now().UTC().Truncate(time.Second)
					clock := sessiondtest.NewClock(start)
					codec, _ := jwttest.Codec(t, start.Add(-time.Minute), 90*24*time.Hour)
					var nodes [2]*sessiond.Manager
					for i, c := range []sessiond.Clock{clock, clock.Offset(tc.offset)} {
						nodes[i] = newManager(t, sessiond.Options{
							Strategy: sessiond.StrategyHybrid, Store: stores[i], Signed: codec, Opaque: opaquetoken.Codec{},
							Clock: c, GCInterval: -1, ReuseInterval: reuse,
						}, nil)
					}
					ctx := context.Background()
					iss, err := nodes[0].Create(ctx, "alice", sessiond.CreateOptions{})
					if err != nil {
						t.Fatal(err)
					}
					clock.Advance(time.Minute)
					if _, err := nodes[0].Refresh(ctx, iss.RefreshToken, sessiond.Client{}); err != nil {
						t.Fatalf("first Refresh on node 0 = %v; want nil", err)
					}
					clock.Advance(tc.delay)
					_, err = nodes[1].Refresh(ctx, iss.RefreshToken, sessiond.Client{})
					s, gerr := stores[0].Get(ctx, iss.Session.ID)
					if gerr != nil {
						t.Fatal(gerr)
					}
					switch {
					case tc.reused && (!errors.Is(err, sessiond.ErrRefreshReused) || s.RevokeReason != sessiond.ReasonReuse):
						t.Errorf("Refresh of the retired token on node 1 = %v, session revoked %q; want ErrRefreshReused, revoked for reuse",
							err, s.RevokeReason)
					case !tc.reused && (err != nil || s.Revoked()):
						t.Errorf("Refresh of the retired token on node 1 = %v, session revoked %q; want nil, live", err, s.RevokeReason)
					}
				})
			}
		})
	}
}

// TestManager_AccessTokenAcrossClocks: an access token is dated by the
// clock of the node that signs it, and a node refuses a token issued
// further in its future than the codec's leeway (jwt.leeway, 5s by
// default): past that skew, a token is refused by the nodes behind the
// one that issued it until their clocks catch up (docs/operations.md,
// "Clock skew between nodes"). A node behind the issuer's is not bound
// by the leeway: it takes the token for an older one.
func TestManager_AccessTokenAcrossClocks(t *testing.T) {
	const leeway = 5 * time.Second
	for _, tc := range []struct {
		name   string
		offset time.Duration // the issuing node's clock minus the verifying node's
		want   error
	}{
		{"Agreeing", 0, nil},
		{"IssuerAheadByTheLeeway", leeway, nil},
		{"IssuerAheadPastTheLeeway", leeway + time.Second, sessiond.ErrInvalidToken},
		{"IssuerBehind", -10 * time.Minute, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
			clock := sessiondtest.NewClock(start)
			_, ring := jwttest.Codec(t, start.Add(-time.Hour), 90*24*time.Hour)
			codec, err := jwttoken.New(ring, jwttoken.Options{Issuer: jwttest.Issuer, Audience: jwttest.Audience, Leeway: leeway})
			if err != nil {
				t.Fatal(err)
			}
			st := memstore.New()
			var nodes [2]*sessiond.Manager
			for i, c := range []sessiond.Clock{clock.Offset(tc.offset), clock} {
				nodes[i] = newManager(t, sessiond.Options{
					Strategy: sessiond.StrategyHybrid, Store: st, Signed: codec, Opaque: opaquetoken.Codec{},
					Clock: c, GCInterval: -1, NoRevocationFeed: true,
				}, nil)
			}
			iss, err := nodes[0].Create(context.Background(), "alice", sessiond.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = nodes[1].Verify(context.Background(), iss.AccessToken, sessiond.Client{})
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Verify on the other node, issuer %v ahead = %v; want %v", tc.offset, err, tc.want)
			}
		})
	}
}
