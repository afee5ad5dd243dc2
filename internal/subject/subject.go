// Package subject puts a subject in the one form sessions are stored under,
// for every way a subject comes in from outside the library: the HTTP API,
// the console and the Shared Signals receiver. It imports the root package
// and golang.org/x/text only, so adapters (ssf) may use it.
package subject

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/sessiond/sessiond"
)

// Normalize is the form a subject takes at the HTTP boundary: Unicode NFC,
// so "é" typed precomposed or decomposed is one user, and free of the
// characters that make one string display as another: C1 controls and
// bidirectional formatting (overrides, embeddings, isolates and marks).
// Invalid UTF-8 is refused, never repaired. The error is an
// *sessiond.ArgumentError naming field. The Manager checks the rest
// (length, C0 controls); callers that must refuse before they reach it
// use Clean.
func Normalize(field, s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", &sessiond.ArgumentError{Field: field, Msg: "is not valid UTF-8"}
	}
	if strings.ContainsFunc(s, confusable) {
		return "", &sessiond.ArgumentError{Field: field, Msg: "contains C1 control or bidirectional formatting characters"}
	}
	return norm.NFC.String(s), nil
}

// Clean is Normalize followed by the checks the Manager makes of every
// subject (present, at most sessiond.MaxSubjectBytes, no control
// characters): it accepts exactly the subjects the HTTP API accepts, and
// returns them as the API stores them. The error is an
// *sessiond.ArgumentError naming field.
func Clean(field, s string) (string, error) {
	s, err := Normalize(field, s)
	switch {
	case err != nil:
		return "", err
	case s == "":
		return "", &sessiond.ArgumentError{Field: field, Msg: "is required"}
	case len(s) > sessiond.MaxSubjectBytes:
		return "", &sessiond.ArgumentError{Field: field, Msg: fmt.Sprintf("is %d bytes, over the limit of %d", len(s), sessiond.MaxSubjectBytes)}
	case strings.ContainsFunc(s, control):
		return "", &sessiond.ArgumentError{Field: field, Msg: "contains control characters"}
	}
	return s, nil
}

func confusable(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f: // C1 controls
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true // bidi embeddings, overrides, isolates and marks
	}
	return false
}

// control: C0 controls and DEL (Normalize has refused C1).
func control(r rune) bool { return r < 0x20 || r == 0x7f }
