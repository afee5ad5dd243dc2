// Package jsonbody is what sessiond's API routes and the Shared Signals
// transmitter used alone (ssf.Transmitter as an http.Handler) both check
// of a JSON request body before decoding it, written once so that the two
// never read one request two ways: its content coding, its media type and
// charset, and the case fold of member names.
package jsonbody

import (
	"errors"
	"mime"
	"net/http"
	"strings"
	"unicode"
)

// Key maps s to one representative of its case-fold class: two strings
// are strings.EqualFold exactly when their Keys are equal. encoding/json
// matches a member to a struct field that way (Unicode's simple folding:
// "iſs" is "iss", "\u212aid" is "kid"), so two names of one object with
// one Key are refused: encoding/json would give a field either of them.
func Key(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			m = min(m, f)
		}
		b.WriteRune(m)
	}
	return b.String()
}

// Coded reports whether h declares a content coding other than identity
// (gzip, br…). Neither reader decodes one: read as it is, a compressed
// body would be answered as malformed, and one only declared compressed
// would be read otherwise than a proxy that decodes it reads it.
func Coded(h http.Header) bool {
	for _, v := range h.Values("Content-Encoding") {
		for c := range strings.SplitSeq(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				return true
			}
		}
	}
	return false
}

// Errors of CheckType.
var (
	ErrNotJSON = errors.New("content type must be application/json")
	ErrCharset = errors.New("content type charset must be utf-8")
)

// CheckType refuses a Content-Type other than application/json
// (ErrNotJSON), or one declaring a charset other than utf-8 (ErrCharset):
// JSON between systems is UTF-8 (RFC 8259 §8.1), and a body declared in
// another charset would be read otherwise than its sender wrote it.
func CheckType(contentType string) error {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/json" {
		return ErrNotJSON
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return ErrCharset
	}
	return nil
}
