package subject_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/subject"
	"github.com/sessiond/sessiond/memstore"
)

// FuzzClean: Normalize and Clean are idempotent (f(f(x)) == f(x)), what
// they return is NFC and valid UTF-8, a refusal is always an
// *ArgumentError naming the field, and Clean accepts exactly what the API
// accepts (Normalize, then Manager.Create).
func FuzzClean(f *testing.F) {
	mgr, err := sessiond.New(f.Context(), sessiond.Options{Store: forgetful{memstore.New()}, Strategy: sessiond.StrategyDatabase})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = mgr.Close() })
	for _, s := range []string{"alice", "e\u0301mile", " alice ", "", "\xffa", "a\u0085", "\u202eb", "a\x00",
		strings.Repeat("e\u0301", 86), strings.Repeat("a", sessiond.MaxSubjectBytes+1), "\u1100\u1161\u11a8", "\u0344"} {
		f.Add(s)
	}
	refused := func(t *testing.T, fn, in string, err error) {
		var arg *sessiond.ArgumentError
		if !errors.As(err, &arg) || arg.Field != "sub" {
			t.Fatalf("%s(%q): %v; want an *ArgumentError for sub", fn, in, err)
		}
	}
	f.Fuzz(func(t *testing.T, in string) {
		n, nerr := subject.Normalize("sub", in)
		if nerr != nil {
			refused(t, "Normalize", in, nerr)
			if n != "" {
				t.Fatalf("Normalize(%q) refused but returned %q", in, n)
			}
		} else {
			if !utf8.ValidString(n) || !norm.NFC.IsNormalString(n) {
				t.Fatalf("Normalize(%q) = %q: not valid NFC", in, n)
			}
			if n2, err := subject.Normalize("sub", n); err != nil || n2 != n {
				t.Fatalf("Normalize(Normalize(%q)) = %q, %v; want %q", in, n2, err, n)
			}
		}
		c, cerr := subject.Clean("sub", in)
		if cerr != nil {
			refused(t, "Clean", in, cerr)
			if c != "" {
				t.Fatalf("Clean(%q) refused but returned %q", in, c)
			}
		} else {
			if c != n {
				t.Fatalf("Clean(%q) = %q, Normalize %q; want the same", in, c, n)
			}
			if c2, err := subject.Clean("sub", c); err != nil || c2 != c {
				t.Fatalf("Clean(Clean(%q)) = %q, %v; want %q", in, c2, err, c)
			}
		}
		// The API: Normalize, then the Manager.
		apiOK := nerr == nil
		if apiOK {
			_, err := mgr.Create(t.Context(), n, sessiond.CreateOptions{})
			apiOK = err == nil
		}
		if apiOK != (cerr == nil) {
			t.Fatalf("Clean(%q) accepted %v, the API (Normalize, Manager.Create) %v; want the same", in, cerr == nil, apiOK)
		}
	})
}

// forgetful keeps no session, so that millions of fuzzed logins take no
// memory: only the Manager's checks before the store matter here.
type forgetful struct{ *memstore.Store }

func (forgetful) Create(context.Context, *sessiond.Session, ...sessiond.Token) error { return nil }
