package sessiond_test

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sessiond/sessiond"
)

// TestManager_EventClientCleaned: verify, refresh and Record take the
// client as the caller passes it (httpsession relays a browser's
// User-Agent, up to the server's 1 MB header limit, invalid UTF-8
// included); every event keeps it as CleanClient does: at most 512 bytes
// of valid UTF-8 without NUL, and an address only when it parses.
func TestManager_EventClientCleaned(t *testing.T) {
	raw := sessiond.Client{IP: "198.51.100.7", UserAgent: "Mozilla/5.0\x00\n" + strings.Repeat("A", 100_000) + "\xff"}
	want, err := sessiond.CleanClient(raw)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, st := range strategies {
		t.Run(string(st), func(t *testing.T) {
			h := newHarness(t, st, func(o *sessiond.Options) {
				o.Lifetimes = sessiond.Lifetimes{Access: time.Minute, Refresh: time.Hour, Idle: 10 * time.Minute, Absolute: time.Hour}
			})
			iss := h.create(t, "alice", sessiond.CreateOptions{})
			// Each call below records one event of the type named.
			type step struct {
				typ sessiond.EventType
				do  func()
			}
			steps := []step{
				{sessiond.EventUnknownToken, func() { _, _ = h.m.Verify(ctx, "forged", raw) }},
				{sessiond.EventDeviceRefreshed, func() {
					h.m.Record(ctx, sessiond.Event{Type: sessiond.EventDeviceRefreshed, Client: sessiond.Client{IP: "not an address", UserAgent: raw.UserAgent}})
				}},
			}
			if iss.RefreshToken != "" {
				steps = append(steps,
					step{sessiond.EventSessionRefreshed, func() {
						next, err := h.m.Refresh(ctx, iss.RefreshToken, raw)
						if err != nil {
							t.Fatalf("Refresh = %v", err)
						}
						iss = next
					}},
					step{sessiond.EventSessionExpired, func() {
						h.clock.Advance(2 * time.Hour)
						_, _ = h.m.Refresh(ctx, iss.RefreshToken, raw)
					}})
			} else {
				steps = append(steps, step{sessiond.EventSessionExpired, func() {
					h.clock.Advance(2 * time.Hour)
					_, _ = h.m.Verify(ctx, iss.AccessToken, raw)
				}})
			}
			for _, s := range steps {
				s.do()
				got := h.events.OfType(s.typ)
				if len(got) != 1 {
					t.Fatalf("%d %s events; want 1", len(got), s.typ)
				}
				c := got[0].Client
				if len(c.UserAgent) > 512 || !utf8.ValidString(c.UserAgent) || strings.ContainsRune(c.UserAgent, 0) {
					t.Errorf("%s: user agent of %d bytes (valid UTF-8 %v, NUL %v); want at most 512 of valid UTF-8, no NUL",
						s.typ, len(c.UserAgent), utf8.ValidString(c.UserAgent), strings.ContainsRune(c.UserAgent, 0))
				}
				if c.UserAgent != want.UserAgent {
					t.Errorf("%s: user agent %.40q…; want CleanClient's %.40q…", s.typ, c.UserAgent, want.UserAgent)
				}
				wantIP := raw.IP
				if s.typ == sessiond.EventDeviceRefreshed {
					wantIP = "" // "not an address"
				}
				if c.IP != wantIP {
					t.Errorf("%s: client IP %q; want %q", s.typ, c.IP, wantIP)
				}
			}
		})
	}
}
