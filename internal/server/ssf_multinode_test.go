package server_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
)

const (
	specAccountDisabled = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
	// ssfCrossNode is the contract: a SET received on one node
	// ends the sessions on every node within one second.
	ssfCrossNode = time.Second
)

// refusedOn polls verify of token on node B (c) every 10 ms until it
// answers revoked, logs how long that took after since (the SET what
// reached node A then), and fails t if it took more than ssfCrossNode. It
// gives up after ten seconds (a hang, not a measure).
func refusedOn(t *testing.T, c *client.Client, token sessiond.Secret, since time.Time, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := c.Verify(t.Context(), token, nil)
		if errors.Is(err, sessiond.ErrRevoked) {
			d := time.Since(since)
			t.Logf("%s: node B refused the token after %v", what, d)
			if d > ssfCrossNode {
				t.Errorf("%s: reached node B after %v; want within %v", what, d, ssfCrossNode)
			}
			return
		}
		if err != nil && !errors.Is(err, sessiond.ErrRevoked) {
			t.Fatalf("verify on node B: %v; want valid until revoked", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("node B still accepts the token ten seconds after the SET")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// login creates a session on c and verifies it on every other client, so
// their verify caches hold it (the case the feed must reach).
func login(t *testing.T, c *client.Client, subject string, others ...*client.Client) *client.TokenResponse {
	t.Helper()
	res, err := c.CreateSession(t.Context(), client.CreateRequest{Subject: subject})
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range others {
		if _, err := o.Verify(t.Context(), res.AccessToken, nil); err != nil {
			t.Fatalf("fresh token refused on another node: %v", err)
		}
	}
	return res
}

// TestSSF_ReceiverEndsSessionsOnEveryNode: two nodes on one PostgreSQL or
// Redis store. A transmitter written for the test pushes a CAEP
// session-revoked (one session) and a RISC account-disabled (every session
// of the subject) to node A; node B refuses the affected access tokens
// (hybrid, verified on B before) within one second, and keeps the others.
// A forged SET pushed to A changes nothing on B. Then node A's poller
// fetches an account-disabled from the transmitter's poll endpoint, with
// the same result on B.
func TestSSF_ReceiverEndsSessionsOnEveryNode(t *testing.T) {
	for _, st := range sharedStores(t) {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			tr := newSSFTransmitter(t)
			var mu sync.Mutex
			queue := map[string]string{}
			var handedOut time.Time
			poll := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				var req struct {
					Ack []string `json:"ack"`
				}
				_ = json.NewDecoder(r.Body).Decode(&req)
				mu.Lock()
				defer mu.Unlock()
				for _, j := range req.Ack {
					delete(queue, j)
				}
				if len(queue) > 0 && handedOut.IsZero() {
					handedOut = time.Now()
				}
				_ = json.NewEncoder(w).Encode(map[string]any{"sets": queue, "moreAvailable": false})
			}))
			t.Cleanup(poll.Close)

			receiver := config.SSFReceiver{Name: "idp", Issuer: "https://idp.example.com", JWKSURL: tr.jwks.URL,
				Audience: "https://sessiond.example.com", SubjectFormat: "email", SubjectTemplate: "idp:{value}"}
			cfg := devConfig(t)
			st.configure(t, &cfg)
			pushRc, pollRc := receiver, receiver
			pushRc.Path = "/ssf/push/idp"
			pollRc.Name, pollRc.Delivery, pollRc.PollURL = "idp-poll", config.SSFDeliveryPoll, poll.URL
			pollRc.PollInterval = config.Duration(20 * time.Millisecond)
			cfgA := cfg
			cfgA.SSF.Receivers = []config.SSFReceiver{pushRc, pollRc}
			na := start(t, server.Options{Config: cfgA})
			cfgB := cfg
			cfgB.Server.DataDir = t.TempDir()
			nb := start(t, server.Options{Config: cfgB})
			ca, cb := apiClient(t, na), apiClient(t, nb)
			push := "http://" + na.addr + "/ssf/push/idp"
			if cfg.Strategy != sessiond.StrategyHybrid {
				t.Fatalf("strategy %s; the test is about hybrid, the default", cfg.Strategy)
			}

			email := func(addr string) map[string]any { return map[string]any{"format": "email", "email": addr} }
			alive := func(c *client.Client, tok sessiond.Secret) bool {
				_, err := c.Verify(t.Context(), tok, nil)
				return err == nil
			}

			// A forged SET pushed to A changes nothing on B.
			carol := login(t, ca, "idp:carol@example.com", cb)
			_, forger, _ := ed25519.GenerateKey(rand.Reader)
			if code, e := pushSET(t, push, "", tr.set(t, forger, "forged-1", specAccountDisabled, email("carol@example.com"))); code != http.StatusBadRequest {
				t.Fatalf("forged SET: push = %d %q; want 400", code, e)
			}

			// session-revoked naming one session ends that one only.
			one := login(t, ca, "idp:alice@example.com", cb)
			other := login(t, ca, "idp:alice@example.com", cb)
			sub := map[string]any{"format": "complex", "user": email("alice@example.com"),
				"session": map[string]any{"format": "opaque", "id": string(one.Session.ID)}}
			sent := time.Now()
			if code, e := pushSET(t, push, "", tr.set(t, tr.key, "sr-1", specSessionRevoked, sub)); code != http.StatusAccepted {
				t.Fatalf("session-revoked: push = %d %q; want 202", code, e)
			}
			refusedOn(t, cb, one.AccessToken, sent, "session-revoked pushed to node A")
			if !alive(cb, other.AccessToken) {
				t.Error("session-revoked naming one session ended another of the subject on node B")
			}

			// account-disabled ends every session of the subject.
			bob1 := login(t, ca, "idp:bob@example.com", cb)
			bob2 := login(t, cb, "idp:bob@example.com", ca)
			sent = time.Now()
			if code, e := pushSET(t, push, "", tr.set(t, tr.key, "ad-1", specAccountDisabled, email("bob@example.com"))); code != http.StatusAccepted {
				t.Fatalf("account-disabled: push = %d %q; want 202", code, e)
			}
			for _, tok := range []sessiond.Secret{bob1.AccessToken, bob2.AccessToken} {
				refusedOn(t, cb, tok, sent, "account-disabled pushed to node A")
			}
			if !alive(cb, carol.AccessToken) {
				t.Error("a forged SET, or another subject's, ended carol's session on node B")
			}

			// Poll delivery: node A fetches the SET.
			dave1 := login(t, ca, "idp:dave@example.com", cb)
			dave2 := login(t, cb, "idp:dave@example.com", ca)
			mu.Lock()
			queue["poll-1"] = tr.set(t, tr.key, "poll-1", specAccountDisabled, email("dave@example.com"))
			mu.Unlock()
			var polledAt time.Time
			eventually(t, 10*time.Second, "node A polls the SET", func() bool {
				mu.Lock()
				defer mu.Unlock()
				polledAt = handedOut
				return !polledAt.IsZero()
			})
			for _, tok := range []sessiond.Secret{dave1.AccessToken, dave2.AccessToken} {
				refusedOn(t, cb, tok, polledAt, "account-disabled polled by node A")
			}
			eventually(t, 10*time.Second, "node A acknowledges the polled SET", func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(queue) == 0
			})
			if !alive(ca, carol.AccessToken) || !alive(cb, carol.AccessToken) {
				t.Error("carol's session ended")
			}
		})
	}
}
