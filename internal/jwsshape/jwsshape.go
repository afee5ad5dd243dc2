// Package jwsshape checks that a string is spelt as sessiond writes a JWS
// in compact serialisation (RFC 7515 §7.1): base64url characters only, in
// three non-empty dot-separated segments, no longer than a limit. The
// server's codec (jwttoken) and the Go verifier both run it before any
// decoding, so the two refuse the same spellings: encoding/base64 skips
// '\r' and '\n' even in strict mode, and a JSON serialisation or a
// five-part JWE would otherwise reach the parser.
package jwsshape

// Fault says what is wrong with a token's shape; OK when nothing is.
type Fault int

// The faults, in the order Check looks for them.
const (
	OK Fault = iota
	Empty
	TooLarge
	Charset
	Segments
)

func (f Fault) String() string {
	switch f {
	case OK:
		return "ok"
	case Empty:
		return "empty"
	case TooLarge:
		return "too large"
	case Charset:
		return "not base64url and dots"
	case Segments:
		return "not three non-empty segments"
	}
	return "unknown fault"
}

// Check returns the fault of s, a compact JWS at most maxBytes long.
func Check(s string, maxBytes int) Fault {
	switch {
	case len(s) == 0:
		return Empty
	case len(s) > maxBytes:
		return TooLarge
	}
	dots, last := 0, -1
	for i := 0; i < len(s); i++ {
		switch b := s[i]; {
		case b >= 'a' && b <= 'z', b >= 'A' && b <= 'Z', b >= '0' && b <= '9', b == '-', b == '_':
		case b == '.':
			if i == last+1 {
				return Segments // an empty segment
			}
			dots, last = dots+1, i
		default:
			return Charset
		}
	}
	if dots != 2 || last == len(s)-1 {
		return Segments
	}
	return OK
}
