package sessiond_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/opaquetoken"
)

// TestManager_UnknownTokenEvent: a token no session holds, presented to
// verify or refresh, is refused and reported as session.unknown_id with the
// client, the stage and the reason (forged, or not_found for a well-formed
// opaque token), once per client IP and reason a minute; a genuine token
// that is expired or revoked is not reported.
func TestManager_UnknownTokenEvent(t *testing.T) {
	for _, st := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyJWT, sessiond.StrategyHybrid} {
		t.Run(string(st), func(t *testing.T) {
			h := newHarness(t, st, nil)
			ctx := context.Background()
			alice := sessiond.Client{IP: "198.51.100.7", UserAgent: "guesser"}
			forged := []sessiond.Secret{
				sessiond.Secret("sdat_" + string(sessiond.NewSessionID()) + string(sessiond.NewSessionID())), // bad checksum
				sessiond.Secret("eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhZG1pbiJ9.c2ln"),                            // a JWT not signed here
				sessiond.Secret("x"),
			}
			for _, tok := range forged {
				if _, err := h.m.Verify(ctx, tok, alice); !errors.Is(err, sessiond.ErrInvalidToken) {
					t.Fatalf("Verify(%q) = %v; want ErrInvalidToken", tok, err)
				}
			}
			got := h.events.OfType(sessiond.EventUnknownToken)
			if len(got) != 1 {
				t.Fatalf("%d session.unknown_id events for 3 forged tokens from one IP; want 1", len(got))
			}
			if e := got[0]; e.Client != alice || e.Details["stage"] != "verify" || e.Details["reason"] != "forged" ||
				e.Subject != "" || e.SessionID != "" || e.ID == "" {
				t.Errorf("event = %+v; want client %+v, stage verify, reason forged, no subject or session", e, alice)
			}

			// Another IP is reported; the first one again after a minute.
			bob := sessiond.Client{IP: "203.0.113.9"}
			_, _ = h.m.Verify(ctx, forged[0], bob)
			h.clock.Advance(time.Minute)
			_, _ = h.m.Verify(ctx, forged[0], alice)
			want := 3
			if n := len(h.events.OfType(sessiond.EventUnknownToken)); n != want {
				t.Fatalf("%d session.unknown_id events after another IP and a new minute; want %d", n, want)
			}

			// A well-formed opaque token no session holds: its own reason,
			// with a budget of its own.
			var codec opaquetoken.Codec
			if st == sessiond.StrategyDatabase {
				tok, _, err := codec.New(sessiond.KindAccess)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := h.m.Verify(ctx, tok, alice); !errors.Is(err, sessiond.ErrInvalidToken) {
					t.Fatalf("Verify(well-formed, never issued) = %v; want ErrInvalidToken", err)
				}
				want++
				if got := h.events.OfType(sessiond.EventUnknownToken); len(got) != want || got[want-1].Details["reason"] != "not_found" {
					t.Fatalf("after a well-formed unknown token: %d events, last %+v; want %d, reason not_found", len(got), got[len(got)-1], want)
				}
			}

			// Genuine tokens refused for other reasons are not unknown.
			iss := h.create(t, "carol", sessiond.CreateOptions{})
			if st != sessiond.StrategyJWT {
				if err := h.m.Revoke(ctx, iss.Session.ID, sessiond.ReasonLogout); err != nil {
					t.Fatal(err)
				}
				if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{IP: "192.0.2.1"}); !errors.Is(err, sessiond.ErrRevoked) {
					t.Fatalf("Verify(revoked) = %v; want ErrRevoked", err)
				}
			}
			h.clock.Advance(9 * time.Hour)
			if _, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{IP: "192.0.2.2"}); err == nil || errors.Is(err, sessiond.ErrInvalidToken) {
				t.Fatalf("Verify(expired or revoked) = %v; want an error other than ErrInvalidToken", err)
			}
			if n := len(h.events.OfType(sessiond.EventUnknownToken)); n != want {
				t.Errorf("%d session.unknown_id events after genuine tokens were refused; want still %d", n, want)
			}

			if st == sessiond.StrategyDatabase {
				return // no refresh tokens
			}
			refresh, _, err := codec.New(sessiond.KindRefresh)
			if err != nil {
				t.Fatal(err)
			}
			for i, tc := range []struct {
				tok    sessiond.Secret
				reason string
			}{{forged[0], "forged"}, {refresh, "not_found"}} {
				if _, err := h.m.Refresh(ctx, tc.tok, sessiond.Client{IP: "192.0.2.3"}); !errors.Is(err, sessiond.ErrInvalidToken) {
					t.Fatalf("Refresh(unknown) = %v; want ErrInvalidToken", err)
				}
				if st == sessiond.StrategyJWT {
					// Refresh tokens are JWTs: an opaque one is forged
					// too, and this IP has had its forged event.
					tc.reason = "forged"
					if i > 0 {
						if n := len(h.events.OfType(sessiond.EventUnknownToken)); n != want {
							t.Errorf("%d events after a second forged refresh token from one IP; want %d", n, want)
						}
						continue
					}
				}
				want++
				got = h.events.OfType(sessiond.EventUnknownToken)
				if last := got[len(got)-1]; len(got) != want || last.Details["stage"] != "refresh" || last.Details["reason"] != tc.reason {
					t.Errorf("after an unknown refresh token: %d events, last %+v; want %d, stage refresh, reason %s", len(got), last, want, tc.reason)
				}
			}
		})
	}
}

// TestManager_UnknownTokenEventBounded: however many IPs send unknown
// tokens, a node reports at most 60 a minute (the metric counts them all).
func TestManager_UnknownTokenEventBounded(t *testing.T) {
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	ctx := context.Background()
	for i := range 200 {
		_, _ = h.m.Verify(ctx, "forged", sessiond.Client{IP: fmt.Sprintf("10.0.%d.%d", i/256, i%256)})
	}
	if n := len(h.events.OfType(sessiond.EventUnknownToken)); n != 60 {
		t.Fatalf("%d session.unknown_id events from 200 IPs in one minute; want 60", n)
	}
	h.clock.Advance(time.Minute)
	_, _ = h.m.Verify(ctx, "forged", sessiond.Client{IP: "10.0.0.0"})
	if n := len(h.events.OfType(sessiond.EventUnknownToken)); n != 61 {
		t.Fatalf("%d events after the minute; want 61", n)
	}
}
