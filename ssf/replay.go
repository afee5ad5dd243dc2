package ssf

import (
	"crypto/sha256"
	"encoding/hex"
)

// replayKey is the ReplayGuard key of a received SET: its receiver, issuer
// and jti, hashed, so the key is short and printable whatever the jti.
func replayKey(receiver, iss, jti string) string {
	h := sha256.Sum256([]byte(receiver + "\x00" + iss + "\x00" + jti))
	return "ssf.jti." + hex.EncodeToString(h[:])
}
