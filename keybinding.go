package sessiond

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Key binding (DPoP, RFC 9449): a session may be bound to a key the client
// holds, named by its RFC 7638 SHA-256 thumbprint. The binding lives in the
// session's Claims as {"cnf":{"jkt":"…"}} (RFC 7800's confirmation claim),
// so every store keeps it without a schema change, it survives Rotate, and
// the jwt strategy carries it in its refresh tokens. Signed access tokens
// also carry it at top level as cnf.jkt (TokenClaims.KeyThumbprint), where
// RFC 9449 resource servers look for it.

// thumbprintLen is the length of a base64url SHA-256 digest without padding.
const thumbprintLen = 43

// KeyThumbprint returns the thumbprint the session is bound to, or "" when
// it is not bound. Unbound sessions pay one bytes.Contains.
func (s *Session) KeyThumbprint() string {
	return claimsThumbprint(s.Claims)
}

func claimsThumbprint(claims json.RawMessage) string {
	if len(claims) == 0 || !bytes.Contains(claims, []byte(`"cnf"`)) {
		return ""
	}
	var c struct {
		Cnf struct {
			JKT string `json:"jkt"`
		} `json:"cnf"`
	}
	if json.Unmarshal(claims, &c) != nil {
		return ""
	}
	return c.Cnf.JKT
}

// checkThumbprint: a base64url SHA-256 digest, nothing else.
func checkThumbprint(jkt string) error {
	if len(jkt) != thumbprintLen {
		return argError("key_thumbprint", "must be a base64url SHA-256 thumbprint (43 characters)")
	}
	for i := 0; i < len(jkt); i++ {
		c := jkt[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return argError("key_thumbprint", "must be a base64url SHA-256 thumbprint (43 characters)")
		}
	}
	return nil
}

// bindClaims adds cnf.jkt to claims (already checked by checkClaims).
func bindClaims(claims json.RawMessage, jkt string) (json.RawMessage, error) {
	if err := checkThumbprint(jkt); err != nil {
		return nil, err
	}
	obj := map[string]json.RawMessage{}
	if len(claims) > 0 {
		if err := json.Unmarshal(claims, &obj); err != nil {
			return nil, argError("claims", "must be a JSON object")
		}
	}
	if _, ok := obj["cnf"]; ok {
		return nil, argError("claims", "must not hold cnf when the session is bound to a key")
	}
	cnf, _ := json.Marshal(map[string]string{"jkt": jkt})
	obj["cnf"] = cnf
	out, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("sessiond: bind key: %w", err)
	}
	if len(out) > MaxClaimsBytes {
		return nil, argError("claims", "are %d bytes with the key binding, over the limit of %d", len(out), MaxClaimsBytes)
	}
	return out, nil
}
