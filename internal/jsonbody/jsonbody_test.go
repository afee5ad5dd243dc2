package jsonbody_test

import (
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/jsonbody"
)

// TestKey: two names have one Key exactly when strings.EqualFold (and so
// encoding/json's field matching) takes them for one.
func TestKey(t *testing.T) {
	for _, tc := range []struct{ a, b string }{
		{"stream_id", "STREAM_ID"},
		{"iss", "iſs"},      // long s
		{"kid", "\u212aid"}, // Kelvin sign
		{"maxEvents", "maxevents"},
		{"a", "b"},
		{"", ""},
		{"ss", "ß"}, // no simple fold between them
		{"straße", "STRASSE"},
		{"\xff", "\xfe"}, // invalid bytes read as U+FFFD, as EqualFold does
	} {
		same := jsonbody.Key(tc.a) == jsonbody.Key(tc.b)
		if want := strings.EqualFold(tc.a, tc.b); same != want {
			t.Errorf("Key(%q) == Key(%q) is %v; strings.EqualFold says %v", tc.a, tc.b, same, want)
		}
	}
}
