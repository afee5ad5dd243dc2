package apikey_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

func TestKeys(t *testing.T) {
	ctx := context.Background()
	store := memstore.New()
	clock := sessiondtest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	node1 := apikey.New(store, clock, time.Second)
	node2 := apikey.New(store, clock, time.Second)

	secret, key, err := node1.Create(ctx, "backend")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(secret), "sdak_") || len(secret) < 60 {
		t.Errorf("generated key has the wrong shape")
	}
	if id, err := node2.Authenticate(ctx, secret); err != nil || id != key.ID {
		t.Fatalf("Authenticate on another node = %q, %v; want %q", id, err, key.ID)
	}
	list, _ := node1.List(ctx)
	if len(list) != 1 || strings.Contains(list[0].Hash, string(secret)) || list[0].Hash == string(secret) {
		t.Fatalf("List = %+v; want one key stored as a hash", list)
	}

	envKey := sessiond.Secret(strings.Repeat("k", 40))
	k1, err := node1.Ensure(ctx, "env", envKey)
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := node1.Ensure(ctx, "env", envKey) // idempotent across restarts
	if k1.ID != k2.ID {
		t.Errorf("Ensure twice made two keys")
	}
	if _, err := node1.Ensure(ctx, "env", "short"); !errors.Is(err, sessiond.ErrInvalidArgument) {
		t.Errorf("Ensure(short) = %v; want ErrInvalidArgument", err)
	}

	if err := node1.Revoke(ctx, key.ID); err != nil {
		t.Fatal(err)
	}
	// node2 may use its cached set for up to a second.
	clock.Advance(time.Second)
	if _, err := node2.Authenticate(ctx, secret); !errors.Is(err, apikey.ErrUnauthorized) {
		t.Fatalf("revoked key on another node after the refresh interval = %v; want ErrUnauthorized", err)
	}
	if err := node1.Revoke(ctx, "key_nope"); !errors.Is(err, sessiond.ErrNotFound) {
		t.Errorf("Revoke(unknown) = %v; want ErrNotFound", err)
	}
	for _, bad := range []sessiond.Secret{"", "x", sessiond.Secret(strings.Repeat("a", 5000)), secret + "x"} {
		if _, err := node1.Authenticate(ctx, bad); !errors.Is(err, apikey.ErrUnauthorized) {
			t.Errorf("Authenticate(bad) = %v; want ErrUnauthorized", err)
		}
	}
	store.Close()
	clock.Advance(2 * time.Second)
	if _, err := node1.Authenticate(ctx, envKey); !errors.Is(err, sessiond.ErrStoreUnavailable) {
		t.Errorf("Authenticate with the store down = %v; want ErrStoreUnavailable (fail closed)", err)
	}
}
