// Package jsonstr quotes a string as JSON exactly as one of the standard
// library's encoders does, for the encoders written by hand on hot paths
// (the API's answers, the server's request log line) that must stay byte
// for byte what encoding/json or log/slog would write.
package jsonstr

import "unicode/utf8"

// Style is the encoder whose escaping Append follows.
type Style int

const (
	// EncodingJSON is encoding/json's default: <, > and & escaped for
	// HTML, \b and \f in their short forms.
	EncodingJSON Style = iota
	// Slog is log/slog's JSONHandler: no HTML escapes, \b and \f as
	// \u0008 and \u000c.
	Slog
)

// safe tells, per Style, the ASCII bytes written as they are.
var safe = [2][utf8.RuneSelf]bool{safeASCII(EncodingJSON), safeASCII(Slog)}

func safeASCII(st Style) [utf8.RuneSelf]bool {
	var t [utf8.RuneSelf]bool
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && (st == Slog || c != '<' && c != '>' && c != '&')
	}
	return t
}

const hexDigits = "0123456789abcdef"

// Append appends s to b quoted as st's encoder quotes it: control
// characters, quote and backslash escaped, invalid UTF-8 as \ufffd, U+2028
// and U+2029 escaped, and the rest as st says.
func Append(b []byte, s string, st Style) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		// Eight bytes at a time while all are written as they are (a
		// request log line is mostly plain ASCII); the loop reads the rest
		// one by one as before.
		for i+8 <= len(s) && safe8(load8(s[i:i+8]), st) {
			i += 8
		}
		if i == len(s) {
			break
		}
		if c := s[i]; c < utf8.RuneSelf {
			if safe[st][c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b' && st == EncodingJSON:
				b = append(b, '\\', 'b')
			case c == '\f' && st == EncodingJSON:
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// safe8 reports whether each of the eight bytes of x is one safe[st] holds
// true: printable ASCII other than quote and backslash and, for
// EncodingJSON, <, > and &. Each test is exact for the word as a whole.
func safe8(x uint64, st Style) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	hasZero := func(v uint64) uint64 { return (v - ones) &^ v & highs }
	bad := x&highs | // a byte ≥ 0x80
		(x-0x20*ones)&^x&highs | // a byte < 0x20
		hasZero(x^('"'*ones)) |
		hasZero(x^('\\'*ones))
	if st == EncodingJSON {
		bad |= hasZero(x^('<'*ones)) | hasZero(x^('>'*ones)) | hasZero(x^('&'*ones))
	}
	return bad == 0
}

// load8 reads eight bytes little-endian (the compiler makes it one load).
func load8(s string) uint64 {
	_ = s[7]
	return uint64(s[0]) | uint64(s[1])<<8 | uint64(s[2])<<16 | uint64(s[3])<<24 |
		uint64(s[4])<<32 | uint64(s[5])<<40 | uint64(s[6])<<48 | uint64(s[7])<<56
}
