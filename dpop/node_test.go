package dpop_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/dpop"

	"github.com/sessiond/sessiond/internal/testenv"
)

// nodeProofs runs testdata/node/proofs.mjs: proofs made by the npm dpop
// package, an implementation written independently of this one.
func nodeProofs(t *testing.T, htu, nonce, token string) map[string]string {
	t.Helper()
	return testenv.DPoPNode(t, "proofs.mjs", htu, nonce, token)
}

// proofIAT reads iat from a proof without verifying it, to pin the test clock
// to the moment the proofs were made (no dependence on how long node took).
func proofIAT(t *testing.T, proof string) time.Time {
	t.Helper()
	parts := strings.Split(proof, ".")
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct{ IAT int64 }
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return time.Unix(c.IAT, 0)
}

func TestVerifier_NodeProofs(t *testing.T) {
	const htu = "https://api.example.test/v1/things"
	const token = "at-from-sessiond"
	nonceClock := &fakeClock{t: time.Now()}
	nonces := dpop.NewRotatingNonces(nonceClock, time.Hour)
	nonce, _ := nonces.Current(context.Background())
	p := nodeProofs(t, htu, nonce, token)
	iat := proofIAT(t, p["ok"])
	for _, v := range p {
		if strings.Count(v, ".") == 2 && proofIAT(t, v).After(iat) {
			iat = proofIAT(t, v)
		}
	}
	nonceClock.t = iat

	get := dpop.Request{Method: "GET", URL: htu}
	withToken := dpop.Request{Method: "GET", URL: htu, AccessToken: token, JKT: p["jkt"]}
	tests := []struct {
		name   string
		proof  string
		req    dpop.Request
		nonces bool
		later  time.Duration // clock moved past iat
		want   error
	}{
		{"ES256", p["ok"], get, false, 0, nil},
		{"RS256", p["ok_rs256"], dpop.Request{Method: "GET", URL: htu, JKT: p["rs_jkt"]}, false, 0, nil},
		{"query and fragment in htu ignored", p["ok_query"], get, false, 0, nil},
		{"ath and bound key", p["ok_ath"], withToken, false, 0, nil},
		{"server nonce", p["ok_nonce"], get, true, 0, nil},
		{"wrong method", p["wrong_method"], get, false, 0, dpop.ErrMethod},
		{"wrong URL", p["wrong_url"], get, false, 0, dpop.ErrURL},
		{"wrong host", p["wrong_host"], get, false, 0, dpop.ErrURL},
		{"stale iat", p["ok"], get, false, dpop.DefaultMaxAge + time.Second, dpop.ErrIssuedAt},
		{"wrong ath", p["wrong_ath"], withToken, false, 0, dpop.ErrAccessTokenHash},
		{"no ath while a token is presented", p["ok"], withToken, false, 0, dpop.ErrAccessTokenHash},
		{"another key", p["other_key"], withToken, false, 0, dpop.ErrKeyMismatch},
		{"nonce required but missing", p["ok"], get, true, 0, dpop.ErrUseNonce},
		{"unknown nonce", p["bad_nonce"], get, true, 0, dpop.ErrUseNonce},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := dpop.Options{Clock: &fakeClock{t: iat.Add(tc.later)}}
			if tc.nonces {
				opts.Nonces = nonces
			}
			v, err := dpop.New(opts)
			if err != nil {
				t.Fatal(err)
			}
			got, err := v.Verify(context.Background(), tc.proof, tc.req)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if tc.req.JKT == "" && got.JKT != p["jkt"] {
					t.Fatalf("jkt %q, the npm package computed %q", got.JKT, p["jkt"])
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify err = %v, want %v", err, tc.want)
			}
		})
	}

	t.Run("replayed jti", func(t *testing.T) {
		v, _ := dpop.New(dpop.Options{Clock: &fakeClock{t: iat}})
		ctx := context.Background()
		if _, err := v.Verify(ctx, p["ok_ath"], withToken); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, p["ok_ath"], withToken); !errors.Is(err, dpop.ErrReplayed) {
			t.Fatalf("replay err = %v, want ErrReplayed", err)
		}
	})
}

// TestVerifier_NodeNonceRetry: a deployment that requires server nonces
// (SharedNonces, as sessiond serve with dpop.require_nonce) refuses the npm
// client's first proof, which has no nonce, with use_dpop_nonce; the
// client's retry with the nonce it was handed is accepted, also by another
// node with the same secret.
func TestVerifier_NodeNonceRetry(t *testing.T) {
	const htu = "https://api.example.test/v1/sessions"
	ctx := context.Background()
	clock := &fakeClock{t: time.Now()}
	secret := []byte("0123456789abcdef0123456789abcdef")
	a, b := nonceNode(t, secret, time.Hour, clock), nonceNode(t, secret, time.Hour, clock)
	req := dpop.Request{Method: "GET", URL: htu}

	first := nodeProofs(t, htu, "", "token")
	clock.t = proofIAT(t, first["ok"])
	_, err := a.Verify(ctx, first["ok"], req)
	if !errors.Is(err, dpop.ErrUseNonce) || errors.Is(err, dpop.ErrInvalidProof) {
		t.Fatalf("proof without the required nonce: err = %v; want ErrUseNonce only", err)
	}
	nonce, err := a.Nonce(ctx) // what the DPoP-Nonce header carries
	if err != nil || nonce == "" {
		t.Fatalf("Nonce = %q, %v", nonce, err)
	}

	retry := nodeProofs(t, htu, nonce, "token")
	clock.t = proofIAT(t, retry["ok_nonce"])
	if _, err := b.Verify(ctx, retry["ok_nonce"], req); err != nil {
		t.Fatalf("retry with the nonce, on another node: %v", err)
	}
	if _, err := a.Verify(ctx, retry["bad_nonce"], req); !errors.Is(err, dpop.ErrUseNonce) {
		t.Fatalf("retry with a wrong nonce: err = %v; want ErrUseNonce", err)
	}
}
