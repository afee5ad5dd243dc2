package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
)

// driftGauge returns the sessiond_config_drift line of n's /metrics.
func driftGauge(t *testing.T, n *node) string {
	t.Helper()
	res, err := http.Get("http://" + n.addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "sessiond_config_drift ") {
			return l
		}
	}
	return ""
}

// TestConfigDrift_RunningNodeNotices: a node already serving learns, at
// its next check, that a node started after it holds other lifetimes
// (its access tokens outlive what the running node issues), and that the
// drift is over once that node has stopped.
func TestConfigDrift_RunningNodeNotices(t *testing.T) {
	for _, st := range sharedStores(t) {
		t.Run(st.name, func(t *testing.T) {
			t.Parallel()
			cfg := devConfig(t)
			st.configure(t, &cfg)
			const every = 20 * time.Millisecond
			a := start(t, server.Options{Config: cfg, DriftInterval: every})
			if g := driftGauge(t, a); g != "sessiond_config_drift 0" {
				t.Fatalf("alone: %q; want sessiond_config_drift 0", g)
			}
			cfgB := cfg
			cfgB.Server.DataDir = t.TempDir()
			cfgB.Lifetime.Access = config.Duration(2 * time.Hour)
			b := start(t, server.Options{Config: cfgB, DriftInterval: every})
			// Eventually, not at once: b takes a's entry as live only if a
			// wrote it within driftLive intervals (60 ms here), which a
			// loaded machine can miss at b's first check.
			eventually(t, 10*time.Second, "the node started with another lifetimes.access counts the drift", func() bool { return driftGauge(t, b) == "sessiond_config_drift 1" })
			eventually(t, 10*time.Second, "the running node counts the drift", func() bool { return driftGauge(t, a) == "sessiond_config_drift 1" })
			if err := b.stop(); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "the drift ends with the other node", func() bool { return driftGauge(t, a) == "sessiond_config_drift 0" })
		})
	}
}

// TestConfigDrift_SingleNodeStore: SQLite serves one process (a second
// serve on its file is refused), so there is no other node to compare
// with, and no node_settings document is written every 30 s for it.
func TestConfigDrift_SingleNodeStore(t *testing.T) {
	cfg := devConfig(t)
	a := start(t, server.Options{Config: cfg, DriftInterval: time.Millisecond})
	if g := driftGauge(t, a); g != "sessiond_config_drift 0" {
		t.Errorf("single node: %q; want sessiond_config_drift 0", g)
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	st, err := server.OpenStore(context.Background(), cfg, slog.New(slog.DiscardHandler), server.OpenMode{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// The entry a stopping node removes would leave an empty document.
	if raw, _, err := st.(sessiond.MetaStore).GetMeta(context.Background(), server.NodeSettingsDoc); !errors.Is(err, sessiond.ErrNotFound) {
		t.Errorf("GetMeta(%s) = %s, %v; want sessiond.ErrNotFound (never written)", server.NodeSettingsDoc, raw, err)
	}
}
