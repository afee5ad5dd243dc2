package sessiond_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// revokedEvents returns the session.revoked events sink was handed, with
// the revocation (prepared) or after it (recorded).
func (s *atomicSink) revokedEvents() []sessiond.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []sessiond.Event
	for _, e := range append(append([]sessiond.Event(nil), s.prepared...), s.recorded...) {
		if e.Type == sessiond.EventSessionRevoked {
			out = append(out, e)
		}
	}
	return out
}

// TestManager_RevokeTokenChecked: check runs on the token's session before
// anything is revoked, and a refusal revokes and records nothing; the
// session.revoked event names the client that asked, with the session's
// own in issued_to, or, with the zero Client (RevokeToken), the session's
// own as before.
func TestManager_RevokeTokenChecked(t *testing.T) {
	issuedTo := sessiond.Client{IP: "203.0.113.5", UserAgent: "UA-A"}
	by := sessiond.Client{IP: "198.51.100.200", UserAgent: "UA-THIEF"}
	errNo := errors.New("the request lacks the session's proof")
	type token struct {
		name   string
		pick   func(*sessiond.Issued) sessiond.Secret
		expire bool // the access JWT has expired (hybrid)
	}
	tokens := map[sessiond.Strategy][]token{
		sessiond.StrategyDatabase: {{name: "access", pick: func(i *sessiond.Issued) sessiond.Secret { return i.AccessToken }}},
		sessiond.StrategyHybrid: {
			{name: "access JWT", pick: func(i *sessiond.Issued) sessiond.Secret { return i.AccessToken }},
			{name: "expired access JWT", pick: func(i *sessiond.Issued) sessiond.Secret { return i.AccessToken }, expire: true},
			{name: "refresh", pick: func(i *sessiond.Issued) sessiond.Secret { return i.RefreshToken }},
		},
	}
	for _, sink := range []string{"plain", "carried"} {
		for _, strategy := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
			for _, tok := range tokens[strategy] {
				for _, tc := range []struct {
					name       string
					client     sessiond.Client
					refuse     bool
					wantClient sessiond.Client
					issuedTo   any // details.issued_to; nil: absent
				}{
					{name: "no client", wantClient: issuedTo},
					{name: "client", client: by, wantClient: by, issuedTo: issuedTo},
					{name: "refused", client: by, refuse: true},
				} {
					t.Run(sink+"/"+string(strategy)+"/"+tok.name+"/"+tc.name, func(t *testing.T) {
						atomic := &atomicSink{}
						h := newHarness(t, strategy, func(o *sessiond.Options) {
							if sink == "carried" {
								o.Events = atomic
							}
						})
						revokedEvents := func() []sessiond.Event { return h.events.OfType(sessiond.EventSessionRevoked) }
						if sink == "carried" {
							revokedEvents = atomic.revokedEvents
						}
						ctx := context.Background()
						iss := h.create(t, "rita", sessiond.CreateOptions{Client: issuedTo})
						if tok.expire {
							h.clock.Advance(h.m.Lifetimes().Access + time.Second)
						}
						var saw *sessiond.Session
						err := h.m.RevokeTokenChecked(ctx, tok.pick(iss), tc.client, func(s *sessiond.Session) error {
							saw = s
							if tc.refuse {
								return errNo
							}
							return nil
						})
						if saw == nil || saw.ID != iss.Session.ID || saw.Subject != "rita" {
							t.Fatalf("check saw %+v; want session %s of rita", saw, iss.Session.ID)
						}
						if tc.refuse {
							if !errors.Is(err, errNo) {
								t.Fatalf("RevokeTokenChecked with a refusing check = %v; want the check's error", err)
							}
						} else if err != nil {
							t.Fatalf("RevokeTokenChecked = %v", err)
						}
						_, gerr := h.m.Get(ctx, iss.Session.ID)
						if revoked := errors.Is(gerr, sessiond.ErrNotFound); revoked == tc.refuse {
							t.Fatalf("after RevokeTokenChecked, revoked = %v (Get: %v); want %v", revoked, gerr, !tc.refuse)
						}
						evs := revokedEvents()
						if tc.refuse {
							if len(evs) != 0 {
								t.Fatalf("a refused revocation recorded %d session.revoked events", len(evs))
							}
							return
						}
						if len(evs) != 1 {
							t.Fatalf("%d session.revoked events; want 1", len(evs))
						}
						if evs[0].Client != tc.wantClient {
							t.Errorf("session.revoked client = %+v; want %+v", evs[0].Client, tc.wantClient)
						}
						if got := evs[0].Details["issued_to"]; got != tc.issuedTo {
							t.Errorf("session.revoked details.issued_to = %#v; want %#v", got, tc.issuedTo)
						}
					})
				}
			}
		}
	}
}

// TestManager_RevokeTokenChecked_RetiredRefreshToken: the check sees the
// session of a refresh token retired outside the reuse interval before
// reuse detection does, as at RefreshChecked: a refused request ends
// nothing, for reuse or otherwise.
func TestManager_RevokeTokenChecked_RetiredRefreshToken(t *testing.T) {
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	ctx := context.Background()
	iss := h.create(t, "rita", sessiond.CreateOptions{})
	next, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{})
	if err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Hour) // past any reuse interval
	errNo := errors.New("refused")
	if err := h.m.RevokeTokenChecked(ctx, iss.RefreshToken, sessiond.Client{}, func(*sessiond.Session) error { return errNo }); !errors.Is(err, errNo) {
		t.Fatalf("RevokeTokenChecked(retired token, refusing check) = %v; want the check's error", err)
	}
	if _, err := h.m.Get(ctx, next.Session.ID); err != nil {
		t.Fatalf("Get after a refused revocation of a retired token = %v; want the session live", err)
	}
	if n := h.events.Count(sessiond.EventRefreshReused); n != 0 {
		t.Errorf("%d session.refresh_token_reused events; want 0", n)
	}
}
