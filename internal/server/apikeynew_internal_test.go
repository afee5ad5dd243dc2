package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/memstore"
)

// TestBootstrapAPIKey_WarnsOfKeyNewToTheStore: a node started with a
// SESSIOND_API_KEY the store does not hold, beside live keys, adds a
// second admin key every node then accepts (one node's mistyped or old
// value); serve says so at WARN, naming the key's ID, never its secret. A
// first start, and a key the store already holds, are not warned of.
func TestBootstrapAPIKey_WarnsOfKeyNewToTheStore(t *testing.T) {
	cfg := config.Default()
	cfg.Server.DataDir = t.TempDir()
	keys := apikey.New(memstore.New(), nil, time.Second)
	a, b := sessiond.Secret(rand.Text()+rand.Text()), sessiond.Secret(rand.Text()+rand.Text())
	for _, step := range []struct {
		name string
		key  sessiond.Secret
		warn bool
	}{
		{"first start", a, false},
		{"same key again", a, false},
		{"another key", b, true},
		{"that key again", b, false},
	} {
		var logs bytes.Buffer
		if err := bootstrapAPIKey(t.Context(), cfg, step.key, keys, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
			t.Fatalf("%s: bootstrapAPIKey = %v", step.name, err)
		}
		out := logs.String()
		warned := strings.Contains(out, "level=WARN") && strings.Contains(out, "did not hold")
		if warned != step.warn {
			t.Errorf("%s: warned = %v; want %v; the log:\n%s", step.name, warned, step.warn, out)
		}
		if strings.Contains(out, string(step.key)) {
			t.Errorf("%s: the log quotes the key", step.name)
		}
		if step.warn {
			list, err := keys.List(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			last := list[len(list)-1]
			if !strings.Contains(out, "id="+last.ID) || !strings.Contains(out, "other_live_keys=1") {
				t.Errorf("%s: the warning does not name key %s and one other live key:\n%s", step.name, last.ID, out)
			}
		}
	}
}

// concurrentKeyStore is a MetaStore on which another node adds a key of
// its own between the reads of a bootstrapAPIKey, once arm is set.
type concurrentKeyStore struct {
	*memstore.Store
	other *apikey.Keys
	arm   bool
	gets  int
}

func (s *concurrentKeyStore) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	if s.arm {
		s.gets++
		if s.gets == 2 { // after the keys were listed, before Ensure reads them
			s.arm = false
			if _, _, err := s.other.Create(ctx, "other-node", apikey.ScopeAdmin); err != nil {
				return nil, 0, err
			}
		}
	}
	return s.Store.GetMeta(ctx, name)
}

// TestBootstrapAPIKey_KeyAddedMeanwhileByAnotherNode: the warning is about
// this node's SESSIOND_API_KEY, not about whatever key appeared in the set
// while it started (another node's, or one made through the API): a
// restart with the key the store holds says nothing, and a new key names
// its own ID.
func TestBootstrapAPIKey_KeyAddedMeanwhileByAnotherNode(t *testing.T) {
	for _, tc := range []struct {
		name string
		same bool // restart with the key the store holds
	}{
		{"restart with the same key", true},
		{"a new key", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Server.DataDir = t.TempDir()
			mem := memstore.New()
			st := &concurrentKeyStore{Store: mem, other: apikey.New(mem, nil, time.Second)}
			keys := apikey.New(st, nil, time.Second)
			a := sessiond.Secret(rand.Text() + rand.Text())
			if err := bootstrapAPIKey(t.Context(), cfg, a, keys, slog.New(slog.DiscardHandler)); err != nil {
				t.Fatal(err)
			}
			key := a
			if !tc.same {
				key = sessiond.Secret(rand.Text() + rand.Text())
			}
			st.arm = true
			var logs bytes.Buffer
			if err := bootstrapAPIKey(t.Context(), cfg, key, keys, slog.New(slog.NewTextHandler(&logs, nil))); err != nil {
				t.Fatal(err)
			}
			if st.gets < 2 {
				t.Fatalf("the other node never added its key (%d reads)", st.gets)
			}
			out := logs.String()
			warned := strings.Contains(out, "did not hold")
			if warned == tc.same {
				t.Fatalf("warned = %v; want %v; the log:\n%s", warned, !tc.same, out)
			}
			if tc.same {
				return
			}
			list, err := keys.List(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			h := sessiond.HashToken(key)
			for _, k := range list {
				if k.Hash == hex.EncodeToString(h[:]) && !strings.Contains(out, "id="+k.ID+" ") {
					t.Errorf("the warning does not name this node's key %s:\n%s", k.ID, out)
				}
			}
		})
	}
}
