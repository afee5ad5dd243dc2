package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/redisstore"
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

// TestSharedSecret_RestoreOldKEKsOnly: a node given the KEK only as an
// old one (step 1 of introducing it, while other nodes already run step
// 2; or one whose current KEK went missing) opens a secret sealed with it.
// When the store loses the document it writes the secret back sealed with
// that KEK, never in clear: a secret kept sealed at rest must not land in
// the store, or its backups, readable. One it read in clear it writes back
// in clear (nothing is sealed before every node can open it).
func TestSharedSecret_RestoreOldKEKsOnly(t *testing.T) {
	ctx := context.Background()
	kek := testKEK(t, 3)
	for _, tc := range []struct {
		name   string
		sealer *signing.KEK // the KEK of the node that made the secret; nil: in clear
	}{{"sealed with it", kek}, {"in clear", nil}} {
		t.Run(tc.name, func(t *testing.T) {
			meta := sessiondtest.NewLosingMeta(memstore.New())
			for _, doc := range []struct {
				name string
				bare bool
			}{{NonceSecretDoc, false}, {DBSCKeyDoc, true}} {
				if _, err := newSharedSecret(ctx, meta, doc.name, doc.bare, tc.sealer, nil); err != nil {
					t.Fatal(err)
				}
				s, err := newSharedSecret(ctx, meta, doc.name, doc.bare, nil, []*signing.KEK{kek})
				if err != nil {
					t.Fatalf("%s: open with the KEK as an old one: %v", doc.name, err)
				}
				meta.Lose()
				if got, err := s.check(ctx); err != nil || got != "this node's secret" {
					t.Fatalf("%s: check after the loss = %q, %v; want this node's secret written back", doc.name, got, err)
				}
				raw, _, err := meta.GetMeta(ctx, doc.name)
				if err != nil {
					t.Fatal(err)
				}
				inClear := bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(s.current())))
				if sealed := bytes.Contains(raw, []byte(kek.ID)); sealed != (tc.sealer != nil) || inClear == (tc.sealer != nil) {
					t.Errorf("%s written back = %s; want sealed with %s: %v", doc.name, raw, kek.ID, tc.sealer != nil)
				}
				if got, _, err := sealedSecret(ctx, meta, doc.name, doc.bare, kek, nil); err != nil || !bytes.Equal(got, s.current()) {
					t.Errorf("%s: the secret written back opens as %x, %v; want %x", doc.name, got, err, s.current())
				}
			}
		})
	}
}

// resetMetas are the stores the reset tests below run on: memory, and
// Redis (the store that loses its data) when its test address is set.
func resetMetas(t *testing.T) []struct {
	name string
	open func(t *testing.T) sessiond.MetaStore
} {
	out := []struct {
		name string
		open func(t *testing.T) sessiond.MetaStore
	}{{"memory", func(*testing.T) sessiond.MetaStore { return memstore.New() }}}
	if u := os.Getenv("SESSIOND_TEST_REDIS_URL"); u != "" {
		out = append(out, struct {
			name string
			open func(t *testing.T) sessiond.MetaStore
		}{"redis", func(t *testing.T) sessiond.MetaStore {
			var b [6]byte
			_, _ = rand.Read(b[:])
			prefix := "storereset-test-" + hex.EncodeToString(b[:])
			st, err := redisstore.New(context.Background(), u, redisstore.Options{Prefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { st.Close(); testenv.DeleteRedisPrefix(t, u, prefix) })
			return st
		}})
	} else {
		testenv.Unset(t, "SESSIOND_TEST_REDIS_URL", "that store is not tested here")
	}
	return out
}

// resetKeys is one node's API key set wired as Run wires it.
func resetKeys(t *testing.T, meta sessiond.MetaStore, clock sessiond.Clock, env sessiond.Secret, secrets *sharedSecrets, log *slog.Logger) *apikey.Keys {
	t.Helper()
	cfg := config.Default()
	cfg.Server.DataDir = t.TempDir()
	keys := apikey.New(meta, clock, time.Second)
	if _, err := seedAPIKey(t.Context(), cfg, env, keys); err != nil {
		t.Fatal(err)
	}
	keys.OnReset(apiKeysReset(cfg, env, keys, nil, secrets, &fanout{slog: log}, log))
	return keys
}

// TestAPIKeysReset_RevokedEnvKey: an operator revoked the SESSIOND_API_KEY
// the running nodes were started with (it leaked), then the store lost its
// data or rolled back. The revocation this node holds is written back, the
// key is not seeded again, and the repair ends there: /readyz passes, one
// WARN says the key must change before a restart, and the key set is not
// rewritten at every reload.
func TestAPIKeysReset_RevokedEnvKey(t *testing.T) {
	cases := []struct {
		name  string
		reset func(t *testing.T, meta *sessiondtest.RollbackMeta)
		// kept: the keys made before the snapshot outlive the reset.
		kept bool
	}{
		{"the store lost its data", func(_ *testing.T, meta *sessiondtest.RollbackMeta) { meta.Lose() }, false},
		{"the store rolled back", func(t *testing.T, meta *sessiondtest.RollbackMeta) { meta.Rollback(t) }, true},
	}
	for _, st := range resetMetas(t) {
		for _, tc := range cases {
			t.Run(st.name+"/"+tc.name, func(t *testing.T) {
				ctx := t.Context()
				meta := sessiondtest.NewRollbackMeta(st.open(t))
				clock := sessiondtest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
				env := sessiond.Secret(strings.Repeat("e", 40))
				var logs syncBuffer
				keys := resetKeys(t, meta, clock, env, &sharedSecrets{}, slog.New(slog.NewTextHandler(&logs, nil)))
				backend, _, err := keys.Create(ctx, "backend", apikey.ScopeAdmin)
				if err != nil {
					t.Fatal(err)
				}
				meta.Snapshot(t)
				list, err := keys.List(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, k := range list {
					if k.Name == "env" {
						if err := keys.Revoke(ctx, k.ID); err != nil {
							t.Fatal(err)
						}
					}
				}
				clock.Advance(time.Second)
				if _, err := keys.Authenticate(ctx, env); !errors.Is(err, apikey.ErrUnauthorized) {
					t.Fatalf("Authenticate(revoked env key) = %v; want ErrUnauthorized", err)
				}

				tc.reset(t, meta)
				meta.ResetPuts()
				for range 5 {
					clock.Advance(time.Second)
					err = keys.Ready(ctx)
				}
				if err != nil {
					t.Errorf("Ready 5 s after the reset = %v; want nil: the node serves with the keys it has", err)
				}
				if got := meta.Puts(apikey.DocName); got > 1 {
					t.Errorf("writes of %s in the 5 reloads after the reset = %d; want at most 1", apikey.DocName, got)
				}
				if got, err := keys.Authenticate(ctx, env); !errors.Is(err, apikey.ErrUnauthorized) {
					t.Errorf("Authenticate(revoked env key) after the reset = %v (scopes %v); want ErrUnauthorized", err, got.Scopes)
				}
				if _, err := keys.Authenticate(ctx, backend); (err == nil) != tc.kept {
					t.Errorf("Authenticate(a key made before the snapshot) = %v; want it kept: %v", err, tc.kept)
				}
				fresh := apikey.New(meta, clock, time.Second) // a node started now
				if _, err := fresh.Ensure(ctx, "env", env); !errors.Is(err, apikey.ErrKeyRevoked) {
					t.Errorf("Ensure(revoked env key) on the stored set = %v; want ErrKeyRevoked", err)
				}
				if got := strings.Count(logs.String(), "SESSIOND_API_KEY is revoked: not seeded again"); got != 1 {
					t.Errorf("WARN lines on the revoked env key = %d; want 1\n%s", got, logs.String())
				}
			})
		}
	}
}

// TestSharedSecret_RestoredWhenKeySetReplaced: the store loses its data;
// a node started on the empty store makes its own DPoP nonce secret and
// seeds a key set, perhaps changing it past the version the running node
// read. The running node tells the loss by the set's other lineage and
// adopts the stored secret, so the two accept each other's nonces.
func TestSharedSecret_RestoredWhenKeySetReplaced(t *testing.T) {
	cases := []struct {
		name   string
		writes int // keys the new node makes before the running one reloads
	}{
		{"below the node's version", 0},
		{"past the node's version", 2},
	}
	for _, st := range resetMetas(t) {
		for _, tc := range cases {
			t.Run(st.name+"/"+tc.name, func(t *testing.T) {
				ctx := t.Context()
				log := slog.New(slog.DiscardHandler)
				meta := sessiondtest.NewLosingMeta(st.open(t))
				clock := sessiondtest.NewClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
				secretA, err := newSharedSecret(ctx, meta, NonceSecretDoc, false, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				a := resetKeys(t, meta, clock, sessiond.Secret(strings.Repeat("a", 40)), &sharedSecrets{list: []*sharedSecret{secretA}}, log)
				clock.Advance(time.Second)
				if err := a.Ready(ctx); err != nil {
					t.Fatal(err)
				}

				meta.Lose()
				secretC, err := newSharedSecret(ctx, meta, NonceSecretDoc, false, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				c := resetKeys(t, meta, clock, sessiond.Secret(strings.Repeat("c", 40)), &sharedSecrets{list: []*sharedSecret{secretC}}, log)
				for range tc.writes {
					if _, _, err := c.Create(ctx, "backend"); err != nil {
						t.Fatal(err)
					}
				}
				for range 3 {
					clock.Advance(time.Second)
					if err := a.Ready(ctx); err != nil {
						t.Fatalf("Ready = %v", err)
					}
				}
				if !bytes.Equal(secretA.current(), secretC.current()) {
					t.Error("the running node and the node started on the empty store hold different DPoP nonce secrets 3 s after the loss; want the stored one on both")
				}
			})
		}
	}
}

// syncBuffer is a log destination safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
