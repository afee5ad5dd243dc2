package sessiond_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
)

func TestIPPrefixes_Mask(t *testing.T) {
	tests := []struct {
		name string
		p    sessiond.IPPrefixes
		ip   string
		want string
	}{
		{"zero keeps an IPv4 address", sessiond.IPPrefixes{}, "198.51.100.77", "198.51.100.77"},
		{"zero keeps an IPv6 address", sessiond.IPPrefixes{}, "2001:db8:1234:5678::9", "2001:db8:1234:5678::9"},
		{"IPv4 to /24", sessiond.IPPrefixes{V4: 24, V6: 48}, "198.51.100.77", "198.51.100.0"},
		{"IPv4 to /16", sessiond.IPPrefixes{V4: 16}, "198.51.100.77", "198.51.0.0"},
		{"IPv4 to /32 is the address", sessiond.IPPrefixes{V4: 32}, "198.51.100.77", "198.51.100.77"},
		{"IPv6 to /48", sessiond.IPPrefixes{V4: 24, V6: 48}, "2001:db8:1234:5678::9", "2001:db8:1234::"},
		{"IPv6 left whole by V6 0", sessiond.IPPrefixes{V4: 24}, "2001:db8:1234:5678::9", "2001:db8:1234:5678::9"},
		{"IPv4-mapped IPv6 is an IPv4 address", sessiond.IPPrefixes{V4: 24, V6: 48}, "::ffff:198.51.100.77", "198.51.100.0"},
		{"zone dropped", sessiond.IPPrefixes{V6: 64}, "fe80::1:2:3:4%eth0", "fe80::"},
		// 2002:c633:644d:: is 6to4 for 198.51.100.77, which /48 keeps whole.
		{"6to4 keeps V4 bits of its IPv4 address", sessiond.IPPrefixes{V4: 24, V6: 48}, "2002:c633:644d:1::9", "2002:c633:6400::"},
		{"6to4 with V6 whole", sessiond.IPPrefixes{V4: 24}, "2002:c633:644d:1::9", "2002:c633:6400::"},
		{"6to4 with V4 whole", sessiond.IPPrefixes{V6: 48}, "2002:c633:644d:1::9", "2002:c633:644d::"},
		{"6to4 cut shorter by V6", sessiond.IPPrefixes{V4: 24, V6: 32}, "2002:c633:644d:1::9", "2002:c633::"},
		// Teredo (RFC 4380): 2001:0:<server>:<flags>:<port>:<client>, the
		// client's port and address inverted; 3cc9:9bb2 is 195.54.100.77.
		// The flags (random bits, RFC 5991) and the port single a client
		// out as a port beside a network does: zeroed. The client is cut in
		// its own form: 195.54.100.0 is 3cc9:9bff inverted.
		{"Teredo with V6 whole", sessiond.IPPrefixes{V4: 24}, "2001:0:4136:e378:8000:63bf:3cc9:9bb2", "2001:0:4136:e378::3cc9:9bff"},
		{"Teredo with V6 at 80", sessiond.IPPrefixes{V4: 24, V6: 80}, "2001:0:4136:e378:8000:63bf:3cc9:9bb2", "2001:0:4136:e378::"},
		{"Teredo with V6 at 48", sessiond.IPPrefixes{V4: 24, V6: 48}, "2001:0:4136:e378:8000:63bf:3cc9:9bb2", "2001:0:4136::"},
		{"Teredo with V4 whole", sessiond.IPPrefixes{V6: 48}, "2001:0:4136:e378:8000:63bf:3cc9:9bb2", "2001:0:4136::"},
		// ISATAP (RFC 5214): any /64, then 0:5efe or, for a global IPv4
		// address, 200:5efe, then the IPv4 address.
		{"ISATAP with V6 whole", sessiond.IPPrefixes{V4: 24}, "2001:db8:1:2:0:5efe:c633:644d", "2001:db8:1:2:0:5efe:c633:6400"},
		{"ISATAP global with V6 whole", sessiond.IPPrefixes{V4: 24}, "fe80::200:5efe:c633:644d", "fe80::200:5efe:c633:6400"},
		// IPv4-compatible (RFC 4291, deprecated) and IPv4-translated (RFC 2765).
		{"IPv4-compatible with V6 whole", sessiond.IPPrefixes{V4: 24}, "::c633:644d", "::c633:6400"},
		{"loopback is not IPv4-compatible", sessiond.IPPrefixes{V4: 24}, "::1", "::1"},
		{"IPv4-translated with V6 whole", sessiond.IPPrefixes{V4: 24}, "::ffff:0:c633:644d", "::ffff:0:c633:6400"},
		// NAT64 local-use prefix (RFC 8215) 64:ff9b:1::/48: the IPv4
		// address may start at bit 48 (RFC 6052 /48: bits 48–63, then the
		// u octet, then 72–87), so at most 48+V4 bits, and the u octet.
		{"NAT64 local-use with V6 whole", sessiond.IPPrefixes{V4: 24}, "64:ff9b:1:c633:64:4d00::", "64:ff9b:1:c633:64::"},
		{"NAT64 local-use at V4 16", sessiond.IPPrefixes{V4: 16}, "64:ff9b:1:c633:64:4d00::", "64:ff9b:1:c633::"},
		{"NAT64 with V6 whole", sessiond.IPPrefixes{V4: 24}, "64:ff9b::198.51.100.77", "64:ff9b::c633:6400"},
		{"other IPv6 with V6 whole is whole", sessiond.IPPrefixes{V4: 24}, "2001:db8::c633:644d", "2001:db8::c633:644d"},
		{"empty stays empty", sessiond.IPPrefixes{V4: 24, V6: 48}, "", ""},
		{"not an address is dropped", sessiond.IPPrefixes{V4: 24, V6: 48}, "198.51.100.77:443", ""},
		{"garbage is dropped", sessiond.IPPrefixes{V4: 24}, "alice@example.com", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Mask(tt.ip); got != tt.want {
				t.Errorf("%+v.Mask(%q) = %q; want %q", tt.p, tt.ip, got, tt.want)
			}
		})
	}
}

// TestManager_EventIPPrefixes: with Options.EventIPPrefixes, every event
// keeps only the leading bits of a client's address, in the event, in its
// details (issued_to) and in its log line, while the session itself keeps
// the whole address (the anomaly rules compare with it).
func TestManager_EventIPPrefixes(t *testing.T) {
	var logged bytes.Buffer
	h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) {
		o.EventIPPrefixes = sessiond.IPPrefixes{V4: 24, V6: 48}
		o.Logger = slog.New(slog.NewJSONHandler(&logged, nil))
	})
	ctx := context.Background()
	v4 := sessiond.Client{IP: "198.51.100.77", UserAgent: "Mozilla/5.0"}
	v6 := sessiond.Client{IP: "2001:db8:1234:5678::9", UserAgent: "Mozilla/5.0"}
	iss := h.create(t, "alice", sessiond.CreateOptions{Client: v4})
	h.create(t, "bob", sessiond.CreateOptions{Client: v6})

	// A stolen refresh token replayed: the reuse event names the client
	// the session was issued to in details.issued_to.
	if _, err := h.m.Refresh(ctx, iss.RefreshToken, v4); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(6 * time.Second)
	if _, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{IP: "192.0.2.66"}); !errors.Is(err, sessiond.ErrRefreshReused) {
		t.Fatalf("Refresh(replayed) = %v; want ErrRefreshReused", err)
	}

	want := map[string]string{"alice": "198.51.100.0", "bob": "2001:db8:1234::"}
	for _, e := range h.events.OfType(sessiond.EventSessionCreated) {
		if e.Client.IP != want[e.Subject] {
			t.Errorf("%s event of %s: client.ip %q; want %q", e.Type, e.Subject, e.Client.IP, want[e.Subject])
		}
	}
	reused := h.events.OfType(sessiond.EventRefreshReused)
	if len(reused) != 1 {
		t.Fatalf("%d refresh_token_reused events; want 1", len(reused))
	}
	if got := reused[0].Client.IP; got != "192.0.2.0" {
		t.Errorf("reuse event client.ip %q; want 192.0.2.0", got)
	}
	if to, _ := reused[0].Details["issued_to"].(sessiond.Client); to.IP != "198.51.100.0" || to.UserAgent != v4.UserAgent {
		t.Errorf("reuse event details.issued_to %+v; want ip 198.51.100.0 and the User-Agent", reused[0].Details["issued_to"])
	}

	// The log lines of the events say no more than the events.
	for line := range strings.Lines(logged.String()) {
		var l struct {
			Msg      string `json:"msg"`
			ClientIP string `json:"client_ip"`
		}
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if l.Msg == "event" && l.ClientIP != "" && !strings.HasSuffix(l.ClientIP, ".0") && !strings.HasSuffix(l.ClientIP, "::") {
			t.Errorf("event log line with client_ip %q: %s", l.ClientIP, line)
		}
	}
	for _, whole := range []string{"198.51.100.77", "2001:db8:1234:5678", "192.0.2.66"} {
		if strings.Contains(logged.String(), whole) {
			t.Errorf("the log holds %q", whole)
		}
	}

	// The session keeps the whole address.
	s, err := h.store.Get(ctx, iss.Session.ID)
	if err != nil {
		t.Fatal(err)
	}
	if s.Client.IP != v4.IP {
		t.Errorf("stored session's client.ip %q; want %q", s.Client.IP, v4.IP)
	}
}

// TestNew_EventIPPrefixesRange: a prefix longer than the address, or
// negative, is refused.
func TestNew_EventIPPrefixesRange(t *testing.T) {
	for _, p := range []sessiond.IPPrefixes{{V4: 33}, {V4: -1}, {V6: 129}, {V6: -8}} {
		_, err := sessiond.New(context.Background(), sessiond.Options{Strategy: sessiond.StrategyDatabase,
			Store: memstore.New(), EventIPPrefixes: p, GCInterval: -1})
		if !errors.Is(err, sessiond.ErrInvalidArgument) {
			t.Errorf("New with EventIPPrefixes %+v = %v; want ErrInvalidArgument", p, err)
		}
	}
}
