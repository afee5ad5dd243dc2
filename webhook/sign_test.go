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

// The test vector of the Standard Webhooks reference libraries: a receiver
// using any of them verifies what Sign produces.
func TestSign_ReferenceVector(t *testing.T) {
	key, err := webhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatalf("ParseSecret = %v; want nil", err)
	}
	got := webhook.Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("Sign = %s; want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Date(2030, 3, 4, 5, 6, 7, 0, time.UTC)
	body := []byte(`{"type":"session.revoked","timestamp":"2030-03-04T05:06:07Z","data":{}}`)
	const id = "msg_abc"
	signed := func(ts time.Time) http.Header {
		h := http.Header{}
		h.Set(webhook.HeaderID, id)
		h.Set(webhook.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
		h.Set(webhook.HeaderSignature, webhook.Sign(secret, id, ts, body))
		return h
	}
	with := func(h http.Header, k, v string) http.Header {
		h = h.Clone()
		if v == "" {
			h.Del(k)
		} else {
			h.Set(k, v)
		}
		return h
	}
	other := webhook.Sign([]byte("another secret of 32 bytes......"), id, now, body)
	tests := []struct {
		name   string
		secret []byte
		header http.Header
		body   []byte
		want   error
	}{
		{"valid", secret, signed(now), body, nil},
		{"valid at the edge of tolerance", secret, signed(now.Add(-5 * time.Minute)), body, nil},
		{"valid among several signatures", secret,
			with(signed(now), webhook.HeaderSignature, "v1a,AAAA "+other+" garbage "+signed(now).Get(webhook.HeaderSignature)), body, nil},
		{"tampered body", secret, signed(now), bytes.Replace(body, []byte("revoked"), []byte("created"), 1), webhook.ErrBadSignature},
		{"wrong secret", []byte("another secret of 32 bytes......"), signed(now), body, webhook.ErrBadSignature},
		{"old timestamp", secret, signed(now.Add(-5*time.Minute - time.Second)), body, webhook.ErrBadTimestamp},
		{"future timestamp", secret, signed(now.Add(5*time.Minute + time.Second)), body, webhook.ErrBadTimestamp},
		{"timestamp replaced", secret, with(signed(now), webhook.HeaderTimestamp, strconv.FormatInt(now.Unix()-1, 10)), body, webhook.ErrBadSignature},
		{"id replaced", secret, with(signed(now), webhook.HeaderID, "msg_other"), body, webhook.ErrBadSignature},
		{"timestamp not a number", secret, with(signed(now), webhook.HeaderTimestamp, "2030-03-04T05:06:07Z"), body, webhook.ErrBadTimestamp},
		{"missing id", secret, with(signed(now), webhook.HeaderID, ""), body, webhook.ErrMissingHeader},
		{"missing timestamp", secret, with(signed(now), webhook.HeaderTimestamp, ""), body, webhook.ErrMissingHeader},
		{"missing signature", secret, with(signed(now), webhook.HeaderSignature, ""), body, webhook.ErrMissingHeader},
		{"only other versions", secret, with(signed(now), webhook.HeaderSignature, "v1a,"+strings.TrimPrefix(signed(now).Get(webhook.HeaderSignature), "v1,")), body, webhook.ErrBadSignature},
		{"signature not base64", secret, with(signed(now), webhook.HeaderSignature, "v1,!!!"), body, webhook.ErrBadSignature},
		{"empty secret", nil, signed(now), body, webhook.ErrInvalidSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := webhook.Verify(tt.secret, tt.header, tt.body, 5*time.Minute, now)
			if tt.want == nil && err != nil || !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v; want %v", err, tt.want)
			}
		})
	}
}

func TestVerify_DefaultTolerance(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	now := time.Unix(1_900_000_000, 0)
	h := http.Header{}
	h.Set(webhook.HeaderID, "msg_x")
	h.Set(webhook.HeaderTimestamp, strconv.FormatInt(now.Add(-4*time.Minute).Unix(), 10))
	h.Set(webhook.HeaderSignature, webhook.Sign(secret, "msg_x", now.Add(-4*time.Minute), nil))
	if err := webhook.Verify(secret, h, nil, 0, now); err != nil {
		t.Errorf("Verify(tolerance 0, 4m old) = %v; want nil", err)
	}
	if err := webhook.Verify(secret, h, nil, 0, now.Add(2*time.Minute)); !errors.Is(err, webhook.ErrBadTimestamp) {
		t.Errorf("Verify(tolerance 0, 6m old) = %v; want ErrBadTimestamp", err)
	}
}

func TestParseSecret(t *testing.T) {
	key32 := []byte("0123456789abcdef0123456789abcdef")
	tests := []struct {
		name string
		in   string
		want []byte // nil: an error
	}{
		{"32 bytes", webhook.FormatSecret(key32), key32},
		{"24 bytes", webhook.FormatSecret(key32[:24]), key32[:24]},
		{"64 bytes", webhook.FormatSecret(bytes.Repeat(key32, 2)), bytes.Repeat(key32, 2)},
		{"trailing newline", webhook.FormatSecret(key32) + "\n", key32},
		{"padding dropped", strings.TrimRight(webhook.FormatSecret(key32[:31]), "="), key32[:31]},
		{"no prefix", strings.TrimPrefix(webhook.FormatSecret(key32), "whsec_"), nil},
		{"other prefix", "whsk_" + strings.TrimPrefix(webhook.FormatSecret(key32), "whsec_"), nil},
		{"not base64", "whsec_not*base64", nil},
		{"23 bytes", webhook.FormatSecret(key32[:23]), nil},
		{"65 bytes", webhook.FormatSecret(append(bytes.Repeat(key32, 2), 'x')), nil},
		{"empty", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := webhook.ParseSecret(tt.in)
			switch {
			case tt.want == nil && !errors.Is(err, webhook.ErrInvalidSecret):
				t.Errorf("ParseSecret = %x, %v; want ErrInvalidSecret", got, err)
			case tt.want != nil && (err != nil || !bytes.Equal(got, tt.want)):
				t.Errorf("ParseSecret = %x, %v; want %x", got, err, tt.want)
			}
			if err != nil && len(tt.in) > 12 && strings.Contains(err.Error(), tt.in[6:]) {
				t.Errorf("error %q contains the secret", err)
			}
		})
	}
}
