package httpapi

import (
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/sessiond/sessiond"
)

// cleanSubject is the one form a subject takes at the HTTP boundary:
// Unicode NFC, so "é" typed precomposed or decomposed is one user, and
// free of the characters that make one string display as another: C1
// controls and bidirectional formatting (overrides, embeddings,
// isolates and marks). Invalid UTF-8 is refused, never repaired. The
// library checks the rest (length, C0 controls).
func cleanSubject(field, s string) (string, error) {
	if !utf8.ValidString(s) {
		return "", &sessiond.ArgumentError{Field: field, Msg: "is not valid UTF-8"}
	}
	if strings.ContainsFunc(s, confusable) {
		return "", &sessiond.ArgumentError{Field: field, Msg: "contains C1 control or bidirectional formatting characters"}
	}
	return norm.NFC.String(s), nil
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
