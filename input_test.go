package sessiond_test

import (
	"context"
	"errors"
	"testing"

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
