package subject_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/subject"
	"github.com/sessiond/sessiond/memstore"
)

// TestClean: one form per user (NFC), exact otherwise, and refused exactly
// where the HTTP API refuses: Normalize at the boundary, then the
// Manager's own checks (so Clean cannot drift from them).
func TestClean(t *testing.T) {
	t.Parallel()
	mgr, err := sessiond.New(t.Context(), sessiond.Options{Store: memstore.New(), Strategy: sessiond.StrategyDatabase})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mgr.Close() })
	tests := []struct {
		name, in, want string // want "" when refused
		normalizeOK    bool   // Normalize alone accepts it
	}{
		{"NFD", "e\u0301mile", "\u00e9mile", true},
		{"already NFC", "\u00e9mile", "\u00e9mile", true},
		{"ASCII", "alice", "alice", true},
		{"surrounding spaces kept", " alice ", " alice ", true},
		{"exactly the limit", strings.Repeat("a", sessiond.MaxSubjectBytes), strings.Repeat("a", sessiond.MaxSubjectBytes), true},
		{"over the limit only before NFC", strings.Repeat("e\u0301", 86), strings.Repeat("\u00e9", 86), true},
		{"empty", "", "", true},
		{"over the limit", strings.Repeat("a", sessiond.MaxSubjectBytes+1), "", true},
		{"C0 control", "alice\x1b[2J", "", true},
		{"DEL", "alice\x7f", "", true},
		{"NUL", "al\x00ice", "", true},
		{"C1 control", "alice\u0085", "", false},
		{"right-to-left override", "alice\u202egnp.exe", "", false},
		{"isolate", "\u2066admin\u2069", "", false},
		{"left-to-right mark", "ali\u200ece", "", false},
		{"Arabic letter mark", "ali\u061cce", "", false},
		{"invalid UTF-8", "\xffalice", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := subject.Clean("subject", tc.in)
			var arg *sessiond.ArgumentError
			switch {
			case tc.want == "" && (!errors.As(err, &arg) || arg.Field != "subject"):
				t.Errorf("Clean(%q) = %q, %v; want an *ArgumentError for subject", tc.in, got, err)
			case tc.want != "" && (err != nil || got != tc.want):
				t.Errorf("Clean(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
			}
			n, nerr := subject.Normalize("subject", tc.in)
			if (nerr == nil) != tc.normalizeOK {
				t.Errorf("Normalize(%q) = %q, %v; want accepted %v", tc.in, n, nerr, tc.normalizeOK)
			}
			// The API: Normalize, then the Manager.
			apiOK := nerr == nil
			if apiOK {
				_, cerr := mgr.Create(t.Context(), n, sessiond.CreateOptions{})
				apiOK = cerr == nil
			}
			if apiOK != (err == nil) {
				t.Errorf("Clean(%q) accepted %v, the API (Normalize, Manager.Create) %v; want the same", tc.in, err == nil, apiOK)
			}
		})
	}
}
