package httpapi_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
)

// TestCheckIncident_Reason: the kill switch's reason goes into the event
// log and webhook payloads, which other programs print, so it is text
// that prints as it reads: no control character but line breaks and
// tabs (a terminal escape, NUL, a carriage return that would overwrite a
// line), no format character (a bidirectional override, a zero-width
// space), no Unicode line or paragraph separator. The console refused control
// characters already; the API and the CLI, which share this check, took
// them. The limit is 256 bytes of UTF-8, not characters.
func TestCheckIncident_Reason(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name, reason string
		ok           bool
	}{
		{"plain", "key leak", true},
		{"none", "", true},
		{"accented", "fuite de clé", true},
		{"CJK", "鍵の漏洩", true},
		{"256 bytes", strings.Repeat("é", 128), true},
		{"257 bytes", strings.Repeat("é", 128) + "x", false},
		{"129 characters of 2 bytes", strings.Repeat("é", 129), false},
		{"NUL", "key\x00leak", false},
		{"terminal escape", "key leak\x1b[2J", false},
		{"line break and tab", "key leak\nticket 7:\turgent", true},
		{"carriage return", "key\rleak", false},
		{"C1 control", "key\u0085leak", false},
		{"right-to-left override", "key\u202eleak", false},
		{"isolate", "\u2066key leak\u2069", false},
		{"zero-width space", "key\u200bleak", false},
		{"line separator", "key\u2028leak", false},
		{"paragraph separator", "key\u2029leak", false},
		{"invalid UTF-8", "key\xffleak", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httpapi.IncidentRequest{All: true, Reason: tc.reason}
			err := httpapi.CheckIncident(&req, now)
			var ae *sessiond.ArgumentError
			switch {
			case tc.ok && err != nil:
				t.Errorf("CheckIncident(reason %q) = %v; want it accepted", tc.reason, err)
			case !tc.ok && (!errors.As(err, &ae) || ae.Field != "reason"):
				t.Errorf("CheckIncident(reason %q) = %v; want an *ArgumentError for reason", tc.reason, err)
			}
		})
	}
}
