package server

import (
	"bytes"
	"crypto/rand"
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
