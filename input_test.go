package sessiond_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sessiond/sessiond"
)

// TestManager_SubjectCharacters (issue 14): subjects are shown to people
// (logs, events, the CLI), so characters that change how text displays are
// refused everywhere a subject enters: Create, List, RevokeSubject and the
// kill switch.
func TestManager_SubjectCharacters(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	bad := []struct{ name, subject string }{
		{"C0 control", "al\x01ice"},
		{"newline", "alice\n"},
		{"DEL", "alice\x7f"},
		{"C1 control (NEL)", "alice\u0085"},
		{"C1 control (CSI)", "\u009b31malice"},
		{"left-to-right embedding", "\u202aalice"},
		{"right-to-left override", "alice\u202egnp.exe"},
		{"pop directional formatting", "alice\u202c"},
		{"left-to-right isolate", "\u2066alice"},
		{"first strong isolate", "al\u2068ice"},
		{"pop directional isolate", "alice\u2069"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := h.m.Create(ctx, tc.subject, sessiond.CreateOptions{}); !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Errorf("Create(%q) = %v; want ErrInvalidArgument", tc.subject, err)
			}
			if _, err := h.m.List(ctx, tc.subject); !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Errorf("List(%q) = %v; want ErrInvalidArgument", tc.subject, err)
			}
			if _, err := h.m.RevokeSubject(ctx, tc.subject, "", sessiond.ReasonAdmin); !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Errorf("RevokeSubject(%q) = %v; want ErrInvalidArgument", tc.subject, err)
			}
			f := sessiond.RevokeFilter{Subjects: []string{tc.subject}}
			if _, err := h.m.RevokeMatching(ctx, f, sessiond.ReasonIncident, false); !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Errorf("RevokeMatching(%q) = %v; want ErrInvalidArgument", tc.subject, err)
			}
		})
	}
	good := []string{
		"alice",
		"user@example.com",
		"Zoë",                  // Latin-1 letter, just past the C1 block
		"\u00a0nbsp",           // U+00A0 is not a control
		"مستخدم",               // right-to-left script without overrides
		"用户",                   // CJK
		"a\u200db",             // zero-width joiner is not a bidi control
		"x\u2065y",             // unassigned, just below the isolates
		"\u2070superscript",    // just above the isolates
		"\u2029para-separator", // just before the overrides
	}
	for _, s := range good {
		if _, err := h.m.Create(ctx, s, sessiond.CreateOptions{}); err != nil {
			t.Errorf("Create(%q) = %v; want it accepted", s, err)
		}
	}
}

// TestCleanClient: what a caller relays from a browser is stored and
// printed, so it must come out bounded and storable everywhere: an IPv6
// zone (any bytes after '%', of any length) is dropped; a User-Agent loses
// invalid bytes and NUL (which pgstore alone refused) and is cut to 512
// bytes, and keeps other controls for display code to escape; an IP that
// does not parse is refused.
func TestCleanClient(t *testing.T) {
	printable := func(s string) bool {
		return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
	}
	for _, tc := range []struct {
		in     sessiond.Client
		wantIP string
	}{
		{sessiond.Client{IP: "fe80::1%" + strings.Repeat("z", 60<<10)}, "fe80::1"},
		{sessiond.Client{IP: "fe80::1%\x00"}, "fe80::1"},
		{sessiond.Client{IP: "fe80::1%\xff\xfe"}, "fe80::1"},
		{sessiond.Client{IP: "fe80::1%\u202eadmin"}, "fe80::1"},
		{sessiond.Client{IP: "fe80::1%a\nlevel=ERROR msg=forged"}, "fe80::1"},
		{sessiond.Client{IP: "::ffff:192.0.2.7"}, "192.0.2.7"},
		{sessiond.Client{IP: "203.0.113.7", UserAgent: "Mozilla/5.0\x00"}, "203.0.113.7"},
		{sessiond.Client{IP: "203.0.113.7", UserAgent: "Mozilla/5.0 \u202e\x00\xff"}, "203.0.113.7"},
		{sessiond.Client{UserAgent: strings.Repeat("é", 400)}, ""},
	} {
		c, err := sessiond.CleanClient(tc.in)
		if err != nil || c.IP != tc.wantIP || !printable(c.UserAgent) || len(c.UserAgent) > 512 {
			t.Errorf("CleanClient(%.40q, UA %.40q) = %q, UA %.40q (%d bytes), %v; want IP %q and a printable UA",
				tc.in.IP, tc.in.UserAgent, c.IP, c.UserAgent, len(c.UserAgent), err, tc.wantIP)
		}
	}
	for _, ua := range []string{"Mozilla/5.0 (X11; Linux x86_64)", "evil\x1b[2J\u202e"} {
		if c, _ := sessiond.CleanClient(sessiond.Client{UserAgent: ua}); c.UserAgent != ua {
			t.Errorf("User-Agent %q changed: %q (controls stay, for display code to escape)", ua, c.UserAgent)
		}
	}
	for _, ip := range []string{"not-an-ip", "1.2.3.4.5", "fe80::1%", "[::1]"} {
		if _, err := sessiond.CleanClient(sessiond.Client{IP: ip}); !errors.Is(err, sessiond.ErrInvalidArgument) {
			t.Errorf("CleanClient(IP %q) = %v; want ErrInvalidArgument", ip, err)
		}
	}
}
