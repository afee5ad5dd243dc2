package verifier

import (
	"fmt"
	"log/slog"
	"net/url"
)

// String names the server v follows, by its host only. A Verifier is
// printed the ways a careless log line would (%v, %+v, %#v, slog): the
// default formats walk every field, and the follower goroutine writes
// some of them (its cursor), so printing raced with it (a torn string can
// crash the printer), besides showing internals; this reads only what
// New set and never changes.
func (v *Verifier) String() string {
	host := "?"
	if u, err := url.Parse(v.base); err == nil {
		host = u.Host
	}
	return "verifier.Verifier{" + host + "}"
}

// Format prints String for every verb, so that %+v and %#v do not walk
// the fields either.
func (v *Verifier) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(v.String())) }

// LogValue is String for slog, whose text handler would otherwise print
// the fields with %+v.
func (v *Verifier) LogValue() slog.Value { return slog.StringValue(v.String()) }
