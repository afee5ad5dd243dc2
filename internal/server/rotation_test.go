package server_test

import (
	"context"
	"testing"

	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/server"
)

// TestRun_OtherNodeAcceptsNewKeyAtOnce (issue 18, gap 2): node A rotates
// the signing keys (the kill switch's rotate_keys makes a new signer at
// once) and signs a token; node B, on the same store, accepts it
// immediately instead of answering token_invalid until its 2 s poll,
// because a token naming an unknown kid makes it reload the ring first.
func TestRun_OtherNodeAcceptsNewKeyAtOnce(t *testing.T) {
	ctx := context.Background()
	cfg := devConfig(t) // both nodes on one SQLite database
	a := start(t, server.Options{Config: cfg})
	b := start(t, server.Options{Config: cfg})
	ca, cb := apiClient(t, a), apiClient(t, b)
	before, err := ca.JWKS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ca.RevokeIncident(ctx, client.Incident{Subjects: []string{"mallory"}, RotateKeys: true, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if after, _ := ca.JWKS(ctx); string(after) == string(before) {
		t.Fatal("the incident did not change node A's keys")
	}
	login, err := ca.CreateSession(ctx, client.CreateRequest{Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cb.Verify(ctx, login.AccessToken, nil); err != nil {
		t.Fatalf("node B rejects node A's token from the new key: %v", err)
	}
}
