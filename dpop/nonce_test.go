package dpop_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/dpop"
)

func TestSharedNonces(t *testing.T) {
	ctx := context.Background()
	secret := bytes.Repeat([]byte{7}, 32)
	clock := &fakeClock{t: t0}
	a, err := dpop.NewSharedNonces(secret, time.Minute, clock)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := dpop.NewSharedNonces(secret, time.Minute, clock) // another node, same secret
	other, _ := dpop.NewSharedNonces(bytes.Repeat([]byte{8}, 32), time.Minute, clock)

	n, _ := a.Current(ctx)
	if m, _ := b.Current(ctx); m != n {
		t.Fatalf("two nodes with one secret disagree: %q, %q", n, m)
	}
	foreign, _ := other.Current(ctx)
	if foreign == n {
		t.Fatal("two secrets give the same nonce")
	}
	valid := func(name string, s *dpop.SharedNonces, nonce string, want bool) {
		t.Helper()
		if got, err := s.Valid(ctx, nonce); err != nil || got != want {
			t.Errorf("%s: Valid = %v, %v; want %v", name, got, err, want)
		}
	}
	valid("own nonce", a, n, true)
	valid("the other node's nonce", b, n, true)
	valid("another deployment's nonce", a, foreign, false)
	valid("empty", a, "", false)
	valid("malformed", a, "not a nonce", false)
	valid("one character changed", a, n[:len(n)-1]+string(n[len(n)-1]^1), false)
	valid("oversized", a, strings.Repeat(n, 100), false)

	clock.Add(time.Minute) // the next bucket: the previous nonce still works
	valid("previous bucket", b, n, true)
	if m, _ := a.Current(ctx); m == n {
		t.Fatal("the nonce did not change with the bucket")
	}
	clock.Add(time.Minute) // two buckets later: expired
	valid("expired bucket", b, n, false)
}

// nonceNode is one node's Verifier that requires server nonces made with
// the deployment's shared secret, as sessiond serve with
// dpop.require_nonce.
func nonceNode(t *testing.T, secret []byte, period time.Duration, clock sessiond.Clock) *dpop.Verifier {
	t.Helper()
	s, err := dpop.NewSharedNonces(secret, period, clock)
	if err != nil {
		t.Fatal(err)
	}
	v, err := dpop.New(dpop.Options{Clock: clock, Nonces: s})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestNewSharedNonces_BadInput(t *testing.T) {
	if _, err := dpop.NewSharedNonces(make([]byte, 31), 0, nil); err == nil {
		t.Error("a 31-byte secret was accepted")
	}
	if _, err := dpop.NewSharedNonces(make([]byte, 32), time.Millisecond, nil); err == nil {
		t.Error("a 1ms period was accepted")
	}
}

// The Verifier with shared nonces: a proof without a nonce is answered
// with ErrUseNonce, and the retry with the nonce another node hands out is
// accepted.
func TestVerifier_SharedNonces(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{t: t0}
	secret := bytes.Repeat([]byte{9}, 32)
	a, b := nonceNode(t, secret, time.Minute, clock), nonceNode(t, secret, time.Minute, clock)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	req := dpop.Request{Method: "GET", URL: reqURL}
	if _, err := a.Verify(ctx, sign(t, ec, jose.ES256, nil, baseClaims()), req); !errors.Is(err, dpop.ErrUseNonce) {
		t.Fatalf("without a nonce: %v; want ErrUseNonce", err)
	}
	n, _ := a.Nonce(ctx)
	if _, err := b.Verify(ctx, sign(t, ec, jose.ES256, nil, with(baseClaims(), "nonce", n)), req); err != nil {
		t.Fatalf("node B refuses node A's nonce: %v", err)
	}
}
