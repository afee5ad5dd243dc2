package server_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/server"
)

// TestRun_RetiredKeyIsNotForged: after the kill switch with rotate_keys,
// the access tokens clients still hold are refused as before (401
// token_invalid), but recorded as session.unknown_id with reason
// retired_key, not forged, so the token-guessing alert does not fire for
// every client after an incident. A forged token is still forged.
func TestRun_RetiredKeyIsNotForged(t *testing.T) {
	ctx := context.Background()
	n := start(t, server.Options{Config: devConfig(t)})
	c := apiClient(t, n)
	login, err := c.CreateSession(ctx, client.CreateRequest{Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.RevokeIncident(ctx, client.Incident{All: true, RotateKeys: true, Reason: "key leak"}); err != nil {
		t.Fatal(err)
	}

	_, err = c.Verify(ctx, login.AccessToken, nil)
	if ce, ok := errors.AsType[*client.Error](err); !ok || ce.Status != http.StatusUnauthorized || ce.Code != "token_invalid" {
		t.Fatalf("Verify(token from before the kill switch) = %v; want 401 token_invalid", err)
	}
	if got := unknownReasons(t, c); len(got) != 1 || got[0] != "retired_key" {
		t.Fatalf("session.unknown_id reasons = %v; want [retired_key]", got)
	}

	fresh, err := c.CreateSession(ctx, client.CreateRequest{Subject: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Verify(ctx, tamper(fresh.AccessToken), nil)
	if ce, ok := errors.AsType[*client.Error](err); !ok || ce.Status != http.StatusUnauthorized || ce.Code != "token_invalid" {
		t.Fatalf("Verify(forged token) = %v; want 401 token_invalid", err)
	}
	if got := unknownReasons(t, c); !slices.Equal(got, []string{"forged", "retired_key"}) {
		t.Fatalf("session.unknown_id reasons = %v; want retired_key and forged", got)
	}
}

// unknownReasons lists the details.reason of the session.unknown_id events.
func unknownReasons(t *testing.T, c *client.Client) []string {
	t.Helper()
	evs, _, err := c.ListEvents(context.Background(), client.EventQuery{Type: sessiond.EventUnknownToken})
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, e := range evs {
		r, _ := e.Details["reason"].(string)
		reasons = append(reasons, r)
	}
	slices.Sort(reasons)
	return reasons
}

// tamper changes one character in the middle of tok's signature: its kid
// is the signer's, its signature wrong.
func tamper(tok sessiond.Secret) sessiond.Secret {
	s := string(tok)
	i := strings.LastIndexByte(s, '.') + 10
	b := byte('A')
	if s[i] == 'A' {
		b = 'B'
	}
	return sessiond.Secret(s[:i] + string(b) + s[i+1:])
}
