package ssf_test

import (
	"encoding/base64"
	"strings"
)

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// tamper flips the payload of a compact JWS to another valid JSON claim
// set while keeping the signature.
func tamper(jws string) string {
	parts := strings.Split(jws, ".")
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	parts[1] = b64(strings.Replace(string(raw), "alice", "alicf", 1))
	return strings.Join(parts, ".")
}
