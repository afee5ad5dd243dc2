package sessiond

import (
	"encoding/json"
	"net/netip"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits on caller-supplied values.
const (
	MaxSubjectBytes   = 256
	MaxClaimsBytes    = 4096
	MaxTokenBytes     = 8192
	maxUserAgentBytes = 512
)

// checkSubject accepts a subject of 1–MaxSubjectBytes bytes of valid UTF-8
// without control characters (C0, DEL, C1) or the bidirectional overrides
// and isolates that make text display in another order than it is stored
// (U+202A–U+202E, U+2066–U+2069): a subject is printed in logs, events and
// the CLI, where those could disguise one user as another. Unicode
// normalisation (NFC) needs golang.org/x/text, which this package does not
// import: callers normalise before they call the Manager (see
// docs/lifecycle.md).
func checkSubject(s string) error {
	switch {
	case s == "":
		return argError("subject", "is required")
	case len(s) > MaxSubjectBytes:
		return argError("subject", "is %d bytes, over the limit of %d", len(s), MaxSubjectBytes)
	case !utf8.ValidString(s):
		return argError("subject", "is not valid UTF-8")
	case strings.ContainsFunc(s, isControl):
		return argError("subject", "contains control characters")
	case strings.ContainsFunc(s, isBidiControl):
		return argError("subject", "contains bidirectional override or isolate characters")
	}
	return nil
}

// isControl: C0 controls, DEL and C1 controls.
func isControl(r rune) bool { return r < 0x20 || r >= 0x7f && r <= 0x9f }

// isBidiControl: the embeddings and overrides U+202A–U+202E and the
// isolates U+2066–U+2069.
func isBidiControl(r rune) bool { return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069 }

func checkClaims(c json.RawMessage) (json.RawMessage, error) {
	if len(c) == 0 || string(c) == "null" {
		return nil, nil
	}
	if len(c) > MaxClaimsBytes {
		return nil, argError("claims", "are %d bytes, over the limit of %d", len(c), MaxClaimsBytes)
	}
	if !utf8.Valid(c) {
		return nil, argError("claims", "are not valid UTF-8")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(c, &obj); err != nil {
		return nil, argError("claims", "must be a JSON object")
	}
	if len(obj) == 0 {
		return nil, nil
	}
	// cnf is where a key binding lives (keybinding.go): given as a claim,
	// it would bind the session to whatever key it names, unchecked.
	// KeyThumbprint reads it with encoding/json, which matches member
	// names case-insensitively ("Cnf", "CNF"): every such spelling is cnf.
	// dbsc is where a device binding lives (devicebinding.go), made only
	// by a DBSC registration that proved the key, and read the same way.
	for name := range obj {
		switch {
		case strings.EqualFold(name, "cnf"):
			return nil, argError("claims", "must not hold cnf: bind the session to a key with KeyThumbprint (the API's dpop_proof or dpop_jkt)")
		case strings.EqualFold(name, "dbsc"):
			return nil, argError("claims", "must not hold dbsc: a session is bound to a device by its DBSC registration")
		}
	}
	return append(json.RawMessage(nil), c...), nil
}

// CleanClient checks a client description: IP, when set, must parse, and
// loses any IPv6 zone ("fe80::1%eth0": the zone is any bytes the caller
// sent, of any length, and names nothing outside the caller's host). The
// User-Agent is cut to 512 bytes (at a rune boundary) rather than refused,
// since the caller relays it from a browser it does not control; invalid
// UTF-8 is dropped and NUL replaced (U+FFFD), which every store can then
// hold. Other control characters stay, as evidence of what was sent:
// the console, the CLI and the logs escape them when they print it.
func CleanClient(c Client) (Client, error) {
	if c.IP != "" {
		a, err := netip.ParseAddr(c.IP)
		if err != nil {
			return Client{}, argError("client.ip", "is not an IP address")
		}
		c.IP = a.WithZone("").Unmap().String()
	}
	if !utf8.ValidString(c.UserAgent) {
		c.UserAgent = strings.ToValidUTF8(c.UserAgent, "")
	}
	c.UserAgent = strings.ReplaceAll(c.UserAgent, "\x00", "\ufffd")
	if len(c.UserAgent) > maxUserAgentBytes {
		cut := maxUserAgentBytes
		for cut > 0 && !utf8.RuneStart(c.UserAgent[cut]) {
			cut--
		}
		c.UserAgent = c.UserAgent[:cut]
	}
	return c, nil
}

// CleanText makes text an unauthenticated client sent safe to store and
// log: cut to max bytes at a rune boundary, with invalid UTF-8, control and
// format characters (bidirectional overrides among them) replaced by U+FFFD.
func CleanText(s string, max int) string {
	bad := func(r rune) bool {
		return r == utf8.RuneError || unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
	}
	s = cutText(s, max)
	if !utf8.ValidString(s) || strings.ContainsFunc(s, bad) {
		s = cutText(strings.Map(func(r rune) rune {
			if bad(r) {
				return utf8.RuneError
			}
			return r
		}, strings.ToValidUTF8(s, "\ufffd")), max)
	}
	return s
}

// cutText cuts s to at most max bytes at a rune boundary.
func cutText(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}
