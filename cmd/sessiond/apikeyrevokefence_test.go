package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/memstore"
)

// TestCLI_APIKeyRevokeStopsLateWrite: when apikey create's write gave up
// and revoking the key failed too, its message sends the operator to
// `apikey revoke ID`. Should the write not have landed yet, that answers
// that no key has the ID, and must leave none live however late the
// write lands: it writes the set all the same (its version moves on), so
// the write, a compare-and-swap on the version it read, can no longer
// land; or, landing first, it is found and revoked. A mistyped ID is
// still an error and adds nothing to the set. The first key ever made
// (no set stored yet) is fenced too: before, an empty store was not
// written and that write landed live after revoke said it no longer could.
func TestCLI_APIKeyRevokeStopsLateWrite(t *testing.T) {
	for _, tc := range []struct {
		name       string
		landOnRead bool // the write lands while revoke reads the set
		typo       bool // revoke an ID nobody made
		first      bool // no key set is stored before the lost create
		wantErr    bool
		wantOut    string
	}{
		{name: "lands after revoke answered", wantErr: true},
		{name: "lands while revoke reads the set", landOnRead: true, wantOut: "revoked"},
		{name: "a mistyped ID", typo: true, wantErr: true},
		{name: "the first key ever, lands after revoke answered", first: true, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			meta := &lingeringMeta{Store: memstore.New()}
			defer meta.Close()
			ctx := context.Background()
			if !tc.first {
				if _, _, err := apikey.New(meta.Store, nil, 0).Create(ctx, "other"); err != nil {
					t.Fatal(err)
				}
			}
			// apikey create's write gives up; its clean-up is not run
			// (it failed too).
			_, key, err := apikey.New(meta, nil, 0).Create(ctx, "victim", apikey.DefaultScopes...)
			if err == nil || key.ID == "" {
				t.Fatalf("Create = %v, %q; want a write that gave up", err, key.ID)
			}
			id := key.ID
			if tc.typo {
				id = "key_mistypedmistyped"
			}
			before, err := apikey.New(meta.Store, nil, 0).List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			meta.landOnRead = tc.landOnRead
			var stdout, stderr bytes.Buffer
			a := &app{stdout: &stdout, stderr: &stderr}
			err = a.revokeAPIKey(ctx, meta, id)
			meta.land()
			if got := strings.TrimSpace(stdout.String()); (err != nil) != tc.wantErr || (tc.wantOut != "" && got != tc.wantOut+" "+id) {
				t.Errorf("revokeAPIKey(%s) = %v, stdout %q; want error %v, stdout %q", id, err, stdout.String(), tc.wantErr, tc.wantOut)
			}
			if err != nil && !strings.Contains(err.Error(), "no API key has the ID "+id) {
				t.Errorf("revokeAPIKey(%s) = %v; want it to say no key has the ID", id, err)
			}
			keys, err := apikey.New(meta.Store, nil, 0).List(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				if k.Name == "victim" && k.RevokedAt.IsZero() {
					t.Errorf("key %s is live in the store (the late write landed: %v): a key nobody received", k.ID, meta.landed)
				}
			}
			if tc.typo || !tc.landOnRead {
				if !errors.Is(meta.landed, sessiond.ErrConflict) {
					t.Errorf("the late write landed (%v); want a conflict", meta.landed)
				}
				if len(keys) != len(before) {
					t.Errorf("the set has %d keys after revoking %s; want the %d before", len(keys), id, len(before))
				}
			}
		})
	}
}
