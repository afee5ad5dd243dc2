package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"sync"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/memstore"
)

func testKEK(t *testing.T, b byte) *signing.KEK {
	t.Helper()
	k, err := signing.ParseKEK([]byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32))))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSealedSecret: the one way the server keeps a secret in a meta
// document (the DPoP nonce secret, the DBSC key).
func TestSealedSecret(t *testing.T) {
	ctx := context.Background()
	const doc = "test.secret"
	k1, k2 := testKEK(t, 1), testKEK(t, 2)
	stored := func(t *testing.T, s *memstore.Store) []byte {
		t.Helper()
		raw, _, err := s.GetMeta(ctx, doc)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	sealed := func(raw []byte) bool {
		return bytes.Contains(raw, []byte(`"sealed"`)) && !bytes.Contains(raw, []byte(`"secret"`))
	}

	t.Run("MadeOnceSealedLater", func(t *testing.T) {
		s := memstore.New()
		first, _, err := sealedSecret(ctx, s, doc, false, nil, nil)
		if err != nil || len(first) != secretSize {
			t.Fatalf("first = %d bytes, %v", len(first), err)
		}
		if raw := stored(t, s); !bytes.Contains(raw, []byte(`"secret"`)) {
			t.Fatalf("without a KEK: %s; want in clear", raw)
		}
		again, _, _ := sealedSecret(ctx, s, doc, false, nil, nil)
		withKEK, _, err := sealedSecret(ctx, s, doc, false, k1, nil)
		if err != nil || !bytes.Equal(again, first) || !bytes.Equal(withKEK, first) {
			t.Fatalf("the secret changed: %x %x %x, %v", first, again, withKEK, err)
		}
		if raw := stored(t, s); !sealed(raw) || bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(first))) {
			t.Fatalf("with a KEK: %s; want sealed", raw)
		}
		// Rotated: sealed again with the new KEK, the old one still opens it.
		rotated, _, err := sealedSecret(ctx, s, doc, false, k2, []*signing.KEK{k1})
		if err != nil || !bytes.Equal(rotated, first) {
			t.Fatalf("after rotation = %x, %v; want %x", rotated, err, first)
		}
		if got, _, err := sealedSecret(ctx, s, doc, false, k2, nil); err != nil || !bytes.Equal(got, first) {
			t.Fatalf("sealed with the new KEK only = %x, %v", got, err)
		}
		// Without the KEK it cannot be opened: an error, never a new secret.
		if _, _, err := sealedSecret(ctx, s, doc, false, nil, nil); err == nil {
			t.Fatal("a sealed secret opened without a KEK")
		}
		if _, _, err := sealedSecret(ctx, s, doc, false, k1, nil); err == nil {
			t.Fatal("a sealed secret opened with the wrong KEK")
		}
	})

	t.Run("BareBytesOfAnEarlierRelease", func(t *testing.T) {
		s := memstore.New()
		old := bytes.Repeat([]byte{0xa5}, 32)
		if _, err := s.PutMeta(ctx, doc, old, 0); err != nil {
			t.Fatal(err)
		}
		if _, _, err := sealedSecret(ctx, s, doc, false, k1, nil); !errors.Is(err, sessiond.ErrInvalidArgument) {
			t.Fatalf("bare bytes where none are expected = %v; want ErrInvalidArgument", err)
		}
		got, _, err := sealedSecret(ctx, s, doc, true, k1, nil)
		if err != nil || !bytes.Equal(got, old) {
			t.Fatalf("bare bytes = %x, %v; want %x", got, err, old)
		}
		if raw := stored(t, s); !sealed(raw) {
			t.Fatalf("bare bytes not rewritten sealed: %q", raw)
		}
		if got, _, _ := sealedSecret(ctx, s, doc, true, k1, nil); !bytes.Equal(got, old) {
			t.Fatalf("after the rewrite = %x; want %x", got, old)
		}
	})

	t.Run("Invalid", func(t *testing.T) {
		for name, raw := range map[string]string{
			"short bare":       "0123456789",
			"short secret":     `{"secret":"c2hvcnQ="}`,
			"both":             `{"secret":"` + base64.StdEncoding.EncodeToString(make([]byte, 32)) + `","sealed":{}}`,
			"neither":          `{}`,
			"tampered sealing": `{"sealed":{"kid":"x","ct":"AAAA"}}`,
		} {
			t.Run(name, func(t *testing.T) {
				s := memstore.New()
				if _, err := s.PutMeta(ctx, doc, []byte(raw), 0); err != nil {
					t.Fatal(err)
				}
				if got, _, err := sealedSecret(ctx, s, doc, true, k1, nil); err == nil {
					t.Fatalf("sealedSecret(%s) = %x; want an error", raw, got)
				}
			})
		}
	})

	t.Run("NodesStartingAtOnce", func(t *testing.T) {
		s := memstore.New()
		got := make([][]byte, 8)
		var wg sync.WaitGroup
		for i := range got {
			wg.Go(func() {
				var err error
				if got[i], _, err = sealedSecret(ctx, s, doc, false, k1, nil); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		for i := range got {
			if !bytes.Equal(got[i], got[0]) {
				t.Fatalf("node %d got %x, node 0 %x", i, got[i], got[0])
			}
		}
	})
}

// replayStore is a store of a kind the wiring does not know by name that
// can share used challenges and proofs.
type replayStore struct {
	*memstore.Store
}

// TestReplayGuardWiring: DBSC and DPoP take the replay memory of any store
// that implements sessiond.ReplayGuard, and none from one that does not.
func TestReplayGuardWiring(t *testing.T) {
	type plainStore struct{ sessiond.Store }
	shared := replayStore{memstore.New()}
	if g := replayGuard(shared); g == nil {
		t.Fatal("replayGuard(a ReplayGuard store) = nil")
	}
	if g := replayGuard(plainStore{memstore.New()}); g != nil {
		t.Fatalf("replayGuard(a store without ReplayGuard) = %T; want nil", g)
	}
	cfg := config.Default()
	cfg.Gateway.DBSC = config.DBSCOptional
	none := func(string) string { return "" }
	o, err := dbscOptions(cfg, shared, shared, none, nil)
	if err != nil {
		t.Fatal(err)
	}
	if g, ok := o.Replay.(replayStore); !ok || g.Store != shared.Store {
		t.Fatalf("DBSC Replay = %T; want the store", o.Replay)
	}
	plain := memstore.New()
	if o, err = dbscOptions(cfg, plainStore{plain}, plain, none, nil); err != nil || o.Replay != nil {
		t.Fatalf("DBSC Replay on a store without ReplayGuard = %T, %v; want nil (the node's memory)", o.Replay, err)
	}
}
