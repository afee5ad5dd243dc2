package apikey_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
)

// FuzzParseScopes: what ParseScopes returns is known scopes, unique, in
// the order of Scopes, and reads back the same through Join (the CLI
// prints keys so) and through ExactScopes (the API's JSON array); a
// refusal is an *ArgumentError for scopes with nothing returned.
func FuzzParseScopes(f *testing.F) {
	f.Add("verify,sessions:read")
	f.Add(" admin , verify,,admin")
	f.Add("")
	f.Add("verify,Admin")
	f.Add("ssf\u00a0")
	f.Fuzz(func(t *testing.T, in string) {
		got, err := apikey.ParseScopes(strings.Split(in, ";")...)
		if err != nil {
			var arg *sessiond.ArgumentError
			if !errors.As(err, &arg) || arg.Field != "scopes" || got != nil {
				t.Fatalf("ParseScopes(%q) = %v, %v; want an *ArgumentError for scopes", in, got, err)
			}
			return
		}
		if len(got) == 0 {
			t.Fatalf("ParseScopes(%q) = no scope, no error", in)
		}
		last := -1
		for _, s := range got {
			i := slices.Index(apikey.Scopes, s)
			if i <= last {
				t.Fatalf("ParseScopes(%q) = %v: unknown, repeated or out of order", in, got)
			}
			last = i
		}
		again, err := apikey.ParseScopes(apikey.Join(got))
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("ParseScopes(Join(%v)) = %v, %v", got, again, err)
		}
		names := make([]string, len(got))
		for i, s := range got {
			names[i] = string(s)
		}
		exact, err := apikey.ExactScopes(names...)
		if err != nil || !slices.Equal(exact, got) {
			t.Fatalf("ExactScopes(%v) = %v, %v", names, exact, err)
		}
	})
}
