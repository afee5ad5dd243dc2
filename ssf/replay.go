package ssf

import (
	"crypto/sha256"
	"encoding/hex"
)

// replayKey is the ReplayGuard key of a received SET: its issuer and jti
// (RFC 8417 makes a jti unique per issuer), hashed, so the key is short
// and printable whatever the jti. Not the receiver: two receivers of one
// issuer (a push and a poll one, say) must not act on one SET twice.
func replayKey(iss, jti string) string {
	h := sha256.Sum256([]byte("set\x00" + iss + "\x00" + jti))
	return "ssf.jti." + hex.EncodeToString(h[:])
}
