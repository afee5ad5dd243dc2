package webhook_test

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/webhook"
)

// FuzzParseSecret: a secret that parses is 24 to 64 bytes and survives
// FormatSecret → ParseSecret unchanged; a refusal is ErrInvalidSecret and
// never holds the text given.
func FuzzParseSecret(f *testing.F) {
	f.Add("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	f.Add("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n")
	f.Add("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw==")
	f.Add("whsec_" + strings.Repeat("A", 86))
	f.Add("whsec_")
	f.Add("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	f.Fuzz(func(t *testing.T, s string) {
		key, err := webhook.ParseSecret(s)
		if err != nil {
			if !errors.Is(err, webhook.ErrInvalidSecret) || key != nil {
				t.Fatalf("ParseSecret(%q) = %x, %v; want ErrInvalidSecret", s, key, err)
			}
			if enc, ok := strings.CutPrefix(strings.TrimSpace(s), "whsec_"); ok && len(enc) >= 8 && strings.Contains(err.Error(), enc) {
				t.Fatalf("ParseSecret error %q holds the secret", err)
			}
			return
		}
		if len(key) < webhook.MinSecretBytes || len(key) > webhook.MaxSecretBytes {
			t.Fatalf("ParseSecret(%q) = %d bytes", s, len(key))
		}
		again, err := webhook.ParseSecret(webhook.FormatSecret(key))
		if err != nil || !bytes.Equal(again, key) {
			t.Fatalf("ParseSecret(FormatSecret(%x)) = %x, %v", key, again, err)
		}
	})
}

// FuzzVerify: what Sign writes verifies, with any id and body; any other
// header set is refused with one of the sentinels, and a signature made
// for another id, timestamp or body never verifies.
func FuzzVerify(f *testing.F) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_900_000_000, 0)
	f.Add("msg_1", "1900000000", "v1,AAAA", []byte(`{}`))
	f.Add("msg_1", "+1900000000", "v1a,x v1,AAAA", []byte(``))
	f.Add("", "", "", []byte(nil))
	f.Add("msg.1", "01900000000", "v1,", []byte("x"))
	f.Fuzz(func(t *testing.T, id, ts, sigs string, body []byte) {
		h := http.Header{}
		h.Set(webhook.HeaderID, id)
		h.Set(webhook.HeaderTimestamp, ts)
		h.Set(webhook.HeaderSignature, sigs)
		err := webhook.Verify(secret, h, body, 0, now)
		if err != nil && !errors.Is(err, webhook.ErrMissingHeader) && !errors.Is(err, webhook.ErrBadTimestamp) && !errors.Is(err, webhook.ErrBadSignature) {
			t.Fatalf("Verify = %v; want a sentinel", err)
		}
		if err == nil {
			// Accepted: the timestamp is unix seconds within tolerance.
			unix, perr := strconv.ParseInt(ts, 10, 64)
			if d := now.Sub(time.Unix(unix, 0)); perr != nil || d > webhook.DefaultTolerance || d < -webhook.DefaultTolerance {
				t.Fatalf("Verify accepted timestamp %q", ts)
			}
		}
		if id == "" || strings.ContainsAny(id, "\r\n") {
			return
		}
		// Signed now: verifies; with the body changed: does not.
		h.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Unix(), 10))
		h.Set(webhook.HeaderSignature, webhook.Sign(secret, h.Get(webhook.HeaderID), now, body))
		if err := webhook.Verify(secret, h, body, 0, now); err != nil {
			t.Fatalf("Verify(Sign(id %q, body %q)) = %v", id, body, err)
		}
		if err := webhook.Verify(secret, h, append(body, 'x'), 0, now); !errors.Is(err, webhook.ErrBadSignature) {
			t.Fatalf("Verify of a changed body = %v; want ErrBadSignature", err)
		}
	})
}
