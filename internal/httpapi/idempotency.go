package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/sessiond/sessiond"
)

// idempotencyKeyHeader is the header of the IETF draft "The
// Idempotency-Key HTTP Header Field" (draft-ietf-httpapi-idempotency-key-header):
// a login sent with it may be sent again after a lost answer without
// leaving a second session (sessiond.LoginRetry).
const idempotencyKeyHeader = "Idempotency-Key"

// loginRetry reads the Idempotency-Key of a login: the zero LoginRetry
// without one. Its scope is the API key that sent it, and a retry must
// repeat the handoff members too. The draft's value is a Structured
// Field String ("…"); a bare value, as many clients send, is taken as
// it is.
func loginRetry(r *http.Request, handoff *handoffRequest) (sessiond.LoginRetry, error) {
	vs := r.Header.Values(idempotencyKeyHeader)
	if len(vs) == 0 {
		return sessiond.LoginRetry{}, nil
	}
	if len(vs) > 1 {
		return sessiond.LoginRetry{}, badRequest("Idempotency-Key must be sent once")
	}
	key, ok := sfString(strings.TrimSpace(vs[0]))
	if !ok || key == "" {
		return sessiond.LoginRetry{}, badRequest("Idempotency-Key must be a non-empty string")
	}
	if len(key) > sessiond.MaxLoginRetryKey {
		return sessiond.LoginRetry{}, badRequest("Idempotency-Key must be at most 255 characters")
	}
	extra, err := json.Marshal(handoff)
	if err != nil {
		return sessiond.LoginRetry{}, err
	}
	return sessiond.LoginRetry{Key: key, Scope: ActingKeyID(r.Context()), Request: extra}, nil
}

// sfString decodes an RFC 8941 String ("…" with \" and \\ escapes,
// printable ASCII), or returns a bare value of printable ASCII as it is.
func sfString(v string) (string, bool) {
	if !strings.HasPrefix(v, `"`) {
		for i := 0; i < len(v); i++ {
			if v[i] < 0x21 || v[i] > 0x7e || v[i] == '"' {
				return "", false
			}
		}
		return v, true
	}
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		switch c := v[i]; {
		case c == '\\':
			i++
			if i == len(v) || v[i] != '"' && v[i] != '\\' {
				return "", false
			}
			b.WriteByte(v[i])
		case c == '"':
			return b.String(), i == len(v)-1
		case c < 0x20 || c > 0x7e:
			return "", false
		default:
			b.WriteByte(c)
		}
	}
	return "", false // unterminated
}
