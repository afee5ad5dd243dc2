package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/webhook"
)

// TestDriftSettings_SecretsNotGuessable: whoever holds a copy of the
// store (a backup, a replica) and the code, but not the KEK, cannot test
// a guess of a webhook's secret or URL against node_settings: a secret
// typed by hand would fall to a dictionary. Without a KEK they are not
// recorded at all.
func TestDriftSettings_SecretsNotGuessable(t *testing.T) {
	kek := mustKEK(t, "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	guessKEK := mustKEK(t, "ZmVkY2JhOTg3NjU0MzIxMGZlZGNiYTk4NzY1NDMyMTA=")
	hook := webhook.Endpoint{Name: "siem", URL: "https://siem:Summer2026@siem.example/hook", Secret: []byte("correct horse battery staple, horse!")}
	cfg := config.Default()
	for _, c := range []struct {
		name string
		kek  bool
	}{{"with a KEK", true}, {"without a KEK", false}} {
		t.Run(c.name, func(t *testing.T) {
			victim := driftSettings(cfg, nil, nil, []webhook.Endpoint{hook})
			if c.kek {
				victim = driftSettings(cfg, kek, nil, []webhook.Endpoint{hook})
			}
			// The attacker's right guess, hashed every way open to them.
			for _, k := range [][]byte{nil, []byte("guess")} {
				attempt := driftSettings(cfg, nil, nil, []webhook.Endpoint{hook})
				if k != nil {
					attempt = driftSettings(cfg, guessKEK, nil, []webhook.Endpoint{hook})
				}
				for _, p := range []string{"webhooks.siem.secret", "webhooks.siem.url"} {
					if v, ok := victim[p]; ok && v == attempt[p] {
						t.Errorf("%s = %q: a guess of the value is confirmed without the KEK", p, v)
					}
				}
			}
		})
	}
}

// driftNode is one node's configDrift on a shared meta store, with its
// own clock and log.
type driftNode struct {
	*configDrift
	log *bytes.Buffer
}

func newDriftNode(meta sessiond.MetaStore, clock sessiond.Clock, maxSessions int) driftNode {
	cfg := config.Default()
	cfg.Limits.MaxSessions = maxSessions
	var buf bytes.Buffer
	return driftNode{newConfigDrift(meta, driftSettings(cfg, nil, nil, nil), "test", time.Second, clock, slog.New(slog.NewJSONHandler(&buf, nil))), &buf}
}

// TestConfigDrift_ClockSkew: each node's liveness is judged by what the
// reader sees change, not by the writer's clock. A node whose clock is
// minutes behind was taken as gone by the others (never compared), and
// one whose clock was ahead deleted every other node's entry.
func TestConfigDrift_ClockSkew(t *testing.T) {
	for _, skew := range []time.Duration{-5 * time.Minute, 15 * time.Minute} {
		t.Run(skew.String(), func(t *testing.T) {
			ctx := context.Background()
			meta := memstore.New()
			clock := sessiondtest.NewClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
			a := newDriftNode(meta, clock, 0)
			b := newDriftNode(meta, clock.Offset(skew), 3)
			for range 4 {
				for _, n := range []driftNode{a, b} {
					if err := n.check(ctx); err != nil {
						t.Fatal(err)
					}
				}
				clock.Advance(time.Second)
			}
			for name, n := range map[string]driftNode{"a": a, "b (skewed)": b} {
				if got := n.Differing(); got != 1 {
					t.Errorf("node %s: Differing() = %d; want 1 (limits.max_sessions)", name, got)
				}
			}
		})
	}
}

// TestConfigDrift_BoundedDocument: entries of nodes that never stopped
// cleanly (a crash loop, each start a new ID) are capped, so that the
// document every node rewrites stays small.
func TestConfigDrift_BoundedDocument(t *testing.T) {
	ctx := context.Background()
	meta := memstore.New()
	clock := sessiondtest.NewClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	// Checked after every start: the bound holds whatever the count, and
	// a node at the bound drops only the one entry it makes room for.
	for i := range driftMaxNodes + 3 {
		if err := newDriftNode(meta, clock, 0).check(ctx); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Millisecond) // each entry seen at its own time
		raw, _, err := meta.GetMeta(ctx, NodeSettingsDoc)
		if err != nil {
			t.Fatal(err)
		}
		var doc nodeSettings
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		if want := min(i+1, driftMaxNodes); len(doc.Nodes) != want {
			t.Fatalf("after %d starts node_settings holds %d entries (%d bytes); want %d", i+1, len(doc.Nodes), len(raw), want)
		}
	}
}

// blockingMeta answers GetMeta only when its context ends, recording
// whether that context had a deadline; or fails every call with err.
type blockingMeta struct {
	sessiond.MetaStore
	err         error
	mu          sync.Mutex
	hadDeadline bool
}

func (m *blockingMeta) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	if m.err != nil {
		return nil, 0, m.err
	}
	_, ok := ctx.Deadline()
	m.mu.Lock()
	m.hadDeadline = ok
	m.mu.Unlock()
	if !ok {
		return nil, 0, errors.New("no deadline: a hung store would hold this check for ever")
	}
	<-ctx.Done()
	return nil, 0, ctx.Err()
}

// TestConfigDrift_CheckHasDeadline: the check a node makes before it
// serves (and every 30 s) gives up on a store that does not answer,
// rather than holding the start.
func TestConfigDrift_CheckHasDeadline(t *testing.T) {
	m := &blockingMeta{}
	d := newConfigDrift(m, map[string]string{}, "test", time.Second, sessiond.SystemClock{}, slog.New(slog.DiscardHandler))
	d.timeout = time.Millisecond
	if err := d.check(context.Background()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("check on a hung store = %v; want context.DeadlineExceeded", err)
	}
}

// TestConfigDrift_FailuresLoggedOnce: a store failing for an hour logs
// one WARN, not one every 30 s, and one INFO when comparing works again.
func TestConfigDrift_FailuresLoggedOnce(t *testing.T) {
	m := &blockingMeta{err: fmt.Errorf("store down: %w", sessiond.ErrStoreUnavailable)}
	n := newDriftNode(m, sessiond.SystemClock{}, 0)
	for range 5 {
		n.tick(context.Background())
	}
	if got := strings.Count(n.log.String(), "cannot compare"); got != 1 {
		t.Errorf("5 failed checks logged %d WARN lines; want 1:\n%s", got, n.log)
	}
	n.meta = memstore.New()
	n.tick(context.Background())
	if !strings.Contains(n.log.String(), "can compare with the other nodes again") {
		t.Errorf("no line when the checks work again:\n%s", n.log)
	}
}

// TestConfigDrift_StopRemovesEntry: a node that stops cleanly takes its
// entry out of node_settings at once, so that the others stop comparing
// with it then, not 90 s later; its run's end waits for the removal.
func TestConfigDrift_StopRemovesEntry(t *testing.T) {
	meta := memstore.New()
	clock := sessiondtest.NewClock(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC))
	a, b := newDriftNode(meta, clock, 0), newDriftNode(meta, clock, 3)
	for _, n := range []driftNode{a, b} {
		if err := n.check(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	entries := func() int {
		raw, _, err := meta.GetMeta(t.Context(), NodeSettingsDoc)
		if err != nil {
			t.Fatal(err)
		}
		var doc nodeSettings
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		return len(doc.Nodes)
	}
	if got := entries(); got != 2 {
		t.Fatalf("node_settings holds %d entries after two checks; want 2", got)
	}
	ctx, stop := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { b.run(ctx); close(done) }()
	stop()
	<-done
	if got := entries(); got != 1 {
		t.Errorf("node_settings holds %d entries after a node stopped; want 1", got)
	}
}
