package httpapi

import (
	"encoding/binary"
	"unicode/utf8"

	"github.com/sessiond/sessiond"
)

// The verify body is the hottest request sessiond reads, and it is small
// and flat: {"access_token":"…"} plus, at most, the client object and a
// DPoP proof. decodeVerifyBody reads that shape in one pass with no
// reflection. It accepts only what is unambiguous: the exact field names,
// each at most once, string values without escapes holding valid UTF-8,
// and nothing after the object. Anything else (an escape, a number, null,
// an unknown or case-variant key, a duplicate, invalid UTF-8, a syntax
// error) makes it decline, and the request goes through checkJSON and
// encoding/json as every other body does, which accept or refuse it and
// word the error. So what it accepts, the strict path accepts too, with
// the same result (FuzzDecodeVerifyBody holds it to that).

// Bits of the fields seen, to decline a duplicate.
const (
	vAccessToken = 1 << iota
	vClient
	vProof
	vHTM
	vHTU
	vIP
	vUserAgent
)

// decodeVerifyBody fills req from body and reports true, or reports false
// (req untouched) when the body is anything but the plain shape.
func decodeVerifyBody(body []byte, req *verifyRequest) bool {
	p := flatParser{b: body}
	// Field values as offsets into body; the strings are cut from one
	// copy of body at the end.
	var spans [7][2]int
	var seen int
	if !p.object(func(key []byte) bool {
		bit, ok := verifyField(key)
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		if bit == vClient {
			return p.object(func(key []byte) bool {
				var bit int
				switch string(key) {
				case "ip":
					bit = vIP
				case "user_agent":
					bit = vUserAgent
				default:
					return false
				}
				if seen&bit != 0 {
					return false
				}
				seen |= bit
				return p.str(&spans[bitIndex(bit)])
			})
		}
		return p.str(&spans[bitIndex(bit)])
	}) {
		return false
	}
	p.space()
	if p.i != len(p.b) {
		return false
	}
	if seen&^vClient == 0 {
		return true // {} or {"client":{}}: nothing to copy
	}
	s := string(body) // one copy for every field: body's buffer is reused
	field := func(bit int) string {
		sp := spans[bitIndex(bit)]
		return s[sp[0]:sp[1]]
	}
	req.AccessToken = sessiond.Secret(field(vAccessToken))
	req.Client.IP = field(vIP)
	req.Client.UserAgent = field(vUserAgent)
	req.Proof = field(vProof)
	req.HTM = field(vHTM)
	req.HTU = field(vHTU)
	return true
}

func verifyField(key []byte) (int, bool) {
	switch string(key) {
	case "access_token":
		return vAccessToken, true
	case "client":
		return vClient, true
	case "dpop_proof":
		return vProof, true
	case "htm":
		return vHTM, true
	case "htu":
		return vHTU, true
	}
	return 0, false
}

func bitIndex(bit int) int {
	for i := 0; ; i++ {
		if bit == 1<<i {
			return i
		}
	}
}

// flatParser reads objects of string fields. Every method reports false
// at anything it does not accept.
type flatParser struct {
	b []byte
	i int
}

func (p *flatParser) space() { p.i = skipJSONSpace(p.b, p.i) }

// object reads {"key": value, …}, calling member at each value with the
// key (which aliases the body). member reads the value.
func (p *flatParser) object(member func(key []byte) bool) bool {
	p.space()
	if p.i >= len(p.b) || p.b[p.i] != '{' {
		return false
	}
	p.i++
	p.space()
	if p.i < len(p.b) && p.b[p.i] == '}' {
		p.i++
		return true
	}
	for {
		p.space()
		var k [2]int
		if !p.str(&k) {
			return false
		}
		p.space()
		if p.i >= len(p.b) || p.b[p.i] != ':' {
			return false
		}
		p.i++
		p.space()
		if !member(p.b[k[0]:k[1]]) {
			return false
		}
		p.space()
		if p.i >= len(p.b) {
			return false
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return true
		default:
			return false
		}
	}
}

// str reads a string without escapes or control characters that is valid
// UTF-8, and records where its content starts and ends.
func (p *flatParser) str(span *[2]int) bool {
	if p.i >= len(p.b) || p.b[p.i] != '"' {
		return false
	}
	start := p.i + 1
	// Eight bytes at a time while none needs a look (a token is hundreds
	// of plain ASCII bytes); the loop below reads the rest as it always has.
	j := start
	for ; j+8 <= len(p.b) && plain8(binary.LittleEndian.Uint64(p.b[j:])); j += 8 {
	}
	ascii := true
	for ; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			if !ascii && !utf8.Valid(p.b[start:j]) {
				return false
			}
			span[0], span[1] = start, j
			p.i = j + 1
			return true
		case c == '\\' || c < 0x20:
			return false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return false
}

// plain8 reports whether none of the eight bytes of x is a quote, a
// backslash, a control character or a non-ASCII byte: the bytes str skips
// without a look. Each test is exact for the word as a whole.
func plain8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	hasZero := func(v uint64) uint64 { return (v - ones) &^ v & highs }
	return (x&highs | // a byte ≥ 0x80
		(x-0x20*ones)&^x&highs | // a byte < 0x20
		hasZero(x^('"'*ones)) |
		hasZero(x^('\\'*ones))) == 0
}
