package server

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

// TestRestoreDeployment: after the store lost its documents, the node's
// deployment identity goes back before its ring, so a node started later
// gets the same default issuer; one already there is left alone.
func TestRestoreDeployment(t *testing.T) {
	ctx := context.Background()
	meta := sessiondtest.NewLosingMeta(memstore.New())
	d, err := loadDeployment(ctx, meta)
	if err != nil {
		t.Fatal(err)
	}
	meta.Lose()
	if restored, err := restoreDeployment(ctx, meta, d); err != nil || !restored {
		t.Fatalf("restoreDeployment on a lost document = %v, %v; want true, nil", restored, err)
	}
	if got, err := loadDeployment(ctx, meta); err != nil || got != d {
		t.Errorf("loadDeployment after the restore = %+v, %v; want %+v", got, err, d)
	}
	if restored, err := restoreDeployment(ctx, meta, deployment{ID: "other"}); err != nil || restored {
		t.Errorf("restoreDeployment over an existing document = %v, %v; want false, nil", restored, err)
	}
}

// TestReadiness: /readyz fails while the store does not answer, and while
// a shared document it lost cannot be written back; it passes once the
// node re-created it.
func TestReadiness(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name    string
		down    bool // the store does not answer a ping
		seedErr bool // the lost API key set cannot be seeded again
		want    string
	}{
		{"ready", false, false, ""},
		{"store down", true, false, "store down"},
		{"key set lost, seeded again", false, false, ""},
		{"key set lost, not seeded again", false, true, "not re-created"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := &pingStore{Store: memstore.New(), down: tc.down}
			meta := sessiondtest.NewLosingMeta(store.Store.(sessiond.MetaStore))
			keys := apikey.New(meta, nil, time.Nanosecond)
			env := sessiond.Secret(strings.Repeat("e", 40))
			cfg := config.Default()
			cfg.Server.DataDir = t.TempDir()
			if _, err := seedAPIKey(ctx, cfg, env, keys); err != nil {
				t.Fatal(err)
			}
			reset := apiKeysReset(cfg, env, keys, nil, nil, &fanout{slog: slog.New(slog.DiscardHandler)}, slog.New(slog.DiscardHandler))
			keys.OnReset(func(ctx context.Context, r apikey.Reset) error {
				if tc.seedErr {
					return errors.New("no writes")
				}
				return reset(ctx, r)
			})
			if strings.HasPrefix(tc.name, "key set lost") {
				meta.Lose()
			}
			err := readiness(store, keys, (*signing.Keys)(nil))(ctx)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("readiness = %v; want %q", err, tc.want)
			}
		})
	}
}

type pingStore struct {
	sessiond.Store
	down bool
}

func (s *pingStore) Ping(ctx context.Context) error {
	if s.down {
		return errors.New("store down")
	}
	return s.Store.Ping(ctx)
}

// TestSharedSecret_Restore: after the store lost a shared secret (the
// DPoP nonce secret, the DBSC key), the first running node writes its own
// back and the others, finding it, have nothing to do; a node that
// started on the empty store first made its own, which every running node
// adopts, so all of them end with the stored one.
func TestSharedSecret_Restore(t *testing.T) {
	ctx := context.Background()
	kek, err := signing.ParseKEK([]byte(base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", signing.KEKSize)))))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		kek  *signing.KEK
	}{{"Clear", nil}, {"Sealed", kek}} {
		t.Run(tc.name, func(t *testing.T) {
			log := slog.New(slog.DiscardHandler)
			meta := sessiondtest.NewLosingMeta(memstore.New())
			node := func() (*sharedSecret, *sharedSecrets, *[]byte) {
				s, err := newSharedSecret(ctx, meta, NonceSecretDoc, false, tc.kek, nil)
				if err != nil {
					t.Fatal(err)
				}
				var adopted []byte
				s.onChange = func(b []byte) { adopted = b }
				r := &sharedSecrets{}
				r.add(s)
				return s, r, &adopted
			}
			a, ra, _ := node()
			b, rb, _ := node()
			held := a.current()
			if string(b.current()) != string(held) {
				t.Fatal("two nodes on one store hold different secrets")
			}
			if err := ra.restore(ctx, nil, log); err != nil {
				t.Fatalf("restore with nothing lost = %v", err)
			}

			meta.Lose()
			if got, err := a.check(ctx); err != nil || got != "this node's secret" {
				t.Fatalf("first check after the loss = %q, %v; want this node's secret written back", got, err)
			}
			if got, err := b.check(ctx); err != nil || got != "" {
				t.Errorf("second node's check = %q, %v; want nothing to do", got, err)
			}
			if c, _, _ := node(); string(c.current()) != string(held) {
				t.Error("a node started after the write-back made a secret of its own")
			}

			meta.Lose()
			c, _, _ := node() // started on the empty store before the others noticed
			if got, err := a.check(ctx); err != nil || got != "adopted the secret another node wrote back" {
				t.Fatalf("check after a new node made its own = %q, %v; want it adopted", got, err)
			}
			if err := rb.restore(ctx, nil, log); err != nil {
				t.Fatal(err)
			}
			for name, s := range map[string]*sharedSecret{"a": a, "b": b} {
				if string(s.current()) != string(c.current()) {
					t.Errorf("node %s holds another secret than the stored one", name)
				}
			}
		})
	}
}
