package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/dpop"
)

// phoneClock is a device's clock, off by a settable amount.
type phoneClock struct{ off atomic.Int64 }

func (c *phoneClock) Now() time.Time { return time.Now().Add(time.Duration(c.off.Load())) }

// TestE2E_PhoneClockOff: through the binary, a phone holding an ES256
// DPoP key whose clock went 3 hours behind after login has every proof
// refused, with a detail naming the iat, and its session untouched; once
// it takes the server's time from an answer's Date header (as
// docs/lifecycle.md, "Native and mobile apps", tells it to) the same
// refresh token refreshes.
func TestE2E_PhoneClockOff(t *testing.T) {
	n := startNode(t, nodeConfig{})
	ctx := context.Background()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	clock := &phoneClock{}
	prover, err := dpop.NewProver(key, clock)
	if err != nil {
		t.Fatal(err)
	}
	phone, err := client.New(n.url, n.apiKey(), client.WithDPoP(prover))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := phone.CreateSession(ctx, client.CreateRequest{Subject: "phone"})
	if err != nil {
		t.Fatal(err)
	}
	clock.off.Store(int64(-3 * time.Hour))
	_, err = phone.Refresh(ctx, tok.RefreshToken, nil)
	var e *client.Error
	if !errors.As(err, &e) || !errors.Is(err, client.ErrInvalidDPoPProof) || !strings.Contains(e.Detail, "iat") {
		t.Fatalf("refresh with the phone's clock 3h behind = %v; want invalid_dpop_proof naming the iat", err)
	}
	// The server's time, from the Date header of any answer.
	res, err := http.Get(n.url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	server, err := http.ParseTime(res.Header.Get("Date"))
	if err != nil {
		t.Fatalf("Date header %q: %v", res.Header.Get("Date"), err)
	}
	device := clock.Now()
	clock.off.Add(int64(server.Sub(device)))
	next, err := phone.Refresh(ctx, tok.RefreshToken, nil)
	if err != nil {
		t.Fatalf("refresh with iat from the server's time, after the refused one = %v; want new tokens", err)
	}
	if _, err := phone.Verify(ctx, next.AccessToken, &sessiond.Client{}); err != nil {
		t.Fatalf("verify of the new access token = %v", err)
	}
}
