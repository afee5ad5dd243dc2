package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks headers.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// DefaultTolerance is how far a webhook-timestamp may be from the
// receiver's clock, either way, before Verify refuses it as a replay.
const DefaultTolerance = 5 * time.Minute

// Secret sizes the Standard Webhooks specification allows for HMAC keys.
const (
	MinSecretBytes = 24
	MaxSecretBytes = 64
)

const secretPrefix = "whsec_"

// Verify errors, matched with errors.Is.
var (
	ErrMissingHeader = errors.New("missing webhook header")
	ErrBadTimestamp  = errors.New("webhook timestamp outside tolerance")
	ErrBadSignature  = errors.New("no matching webhook signature")
	ErrInvalidSecret = errors.New("invalid webhook secret")
)

// Sign returns the webhook-signature header value for a message: "v1,"
// and the base64 HMAC-SHA256 of id.timestamp.body under secret, with the
// timestamp in unix seconds.
func Sign(secret []byte, id string, ts time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(mac(secret, id, ts.Unix(), body))
}

func mac(secret []byte, id string, unix int64, body []byte) []byte {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte(id))
	h.Write([]byte{'.'})
	h.Write(strconv.AppendInt(nil, unix, 10))
	h.Write([]byte{'.'})
	h.Write(body)
	return h.Sum(nil)
}

// Verify checks a received webhook: the three headers are present, the
// timestamp is within tolerance of now (either way; tolerance ≤ 0 means
// DefaultTolerance), and one of the space-separated v1 signatures matches
// body under secret. body must be the raw request body, before any JSON
// decoding. Other signature versions (v1a…) are ignored. The error matches
// ErrMissingHeader, ErrBadTimestamp or ErrBadSignature.
func Verify(secret []byte, header http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	if len(secret) == 0 {
		return fmt.Errorf("webhook: verify: %w: empty", ErrInvalidSecret)
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	id, tsText, sigs := header.Get(HeaderID), header.Get(HeaderTimestamp), header.Get(HeaderSignature)
	for _, h := range []struct{ name, v string }{{HeaderID, id}, {HeaderTimestamp, tsText}, {HeaderSignature, sigs}} {
		if h.v == "" {
			return fmt.Errorf("webhook: verify: %w: %s", ErrMissingHeader, h.name)
		}
	}
	unix, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("webhook: verify: %w: not unix seconds", ErrBadTimestamp)
	}
	if d := now.Sub(time.Unix(unix, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("webhook: verify: %w: %s away from now", ErrBadTimestamp, d.Round(time.Second))
	}
	want := mac(secret, id, unix, body)
	for sig := range strings.FieldsSeq(sigs) {
		version, value, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(value)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return fmt.Errorf("webhook: verify: %w", ErrBadSignature)
}

// ParseSecret decodes a secret in the Standard Webhooks form: "whsec_" and
// the base64 of the key. Surrounding white space (a file's trailing
// newline) is ignored. The key must be 24 to 64 bytes. The error matches
// ErrInvalidSecret and never contains the secret.
func ParseSecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	enc, ok := strings.CutPrefix(s, secretPrefix)
	if !ok {
		return nil, fmt.Errorf("webhook: %w: does not start with %q", ErrInvalidSecret, secretPrefix)
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		// Some generators drop the padding.
		if key, err = base64.RawStdEncoding.DecodeString(enc); err != nil {
			return nil, fmt.Errorf("webhook: %w: not base64 after the prefix", ErrInvalidSecret)
		}
	}
	if err := checkSecret(key); err != nil {
		return nil, fmt.Errorf("webhook: %w", err)
	}
	return key, nil
}

// FormatSecret returns key in the "whsec_" form receivers configure.
func FormatSecret(key []byte) string {
	return secretPrefix + base64.StdEncoding.EncodeToString(key)
}

func checkSecret(key []byte) error {
	if len(key) < MinSecretBytes || len(key) > MaxSecretBytes {
		return fmt.Errorf("%w: key is %d bytes; want %d to %d", ErrInvalidSecret, len(key), MinSecretBytes, MaxSecretBytes)
	}
	return nil
}
