package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// driftWarnings returns the settings named by each "node settings differ"
// line of n's log, one entry a line.
func driftWarnings(t *testing.T, n *node) [][]string {
	t.Helper()
	var out [][]string
	for _, l := range strings.Split(n.log.String(), "\n") {
		var line struct {
			Msg      string   `json:"msg"`
			Settings []string `json:"settings"`
		}
		if json.Unmarshal([]byte(l), &line) == nil && strings.HasPrefix(line.Msg, "node settings differ") {
			out = append(out, line.Settings)
		}
	}
	return out
}

// TestE2E_NodeSettingsDrift: nodes of one deployment (real processes on a
// shared store) each with their own configuration. A node started with
// reuse detection off, another session limit and another webhook secret
// than the running node's served beside it without a word: a replayed
// refresh token it was shown was refused without ending the session, and
// a subject went past the limit through it. Now it logs, before it
// serves, the settings that differ (never their values) and reports their
// number as sessiond_config_drift; settings each node may hold its own
// (timeouts, log level, per-node rate limits, caches) are not reported;
// and a node stopped takes its entry with it, so that the next one, with
// the running node's settings, sees no drift.
func TestE2E_NodeSettingsDrift(t *testing.T) {
	t.Parallel()
	for _, b := range sharedBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			// A webhook's secret and URL are compared only with a KEK:
			// without one their hash would confirm a guess.
			env := append(b.env(t), "SESSIOND_API_KEY="+testAPIKey, "SESSIOND_KEK=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
			dir := t.TempDir()
			_, secret := writeSecret(t, dir)
			_, otherSecret := writeSecret(t, dir)
			yaml := func(extra, secretFile string) string {
				if !strings.Contains(extra, "limits:") {
					extra += "limits: {max_sessions: 3, policy: reject}\n"
				}
				return fmt.Sprintf(`environment: development
webhooks:
  - name: siem
    url: http://127.0.0.1:9/hook
    secret_file: %s
%s`, secretFile, extra)
			}
			base := yaml("", secret)
			a := startNode(t, nodeConfig{env: env, yaml: base})
			if w := driftWarnings(t, a); len(w) != 0 {
				t.Errorf("first node: drift warnings %q; want none", w)
			}
			wantMetrics(t, a.url, "sessiond_config_drift 0\n")

			// Last month's file: reuse detection off, no limit, the
			// webhook's old secret; its own listener settings and log level.
			stale := startNode(t, nodeConfig{env: env, yaml: yaml(`refresh: {reuse_detection: false}
limits: {max_sessions: 0, policy: reject}
log: {level: debug}
server: {read_timeout: 20s}
`, otherSecret)})
			want := []string{"limits.max_sessions", "refresh.reuse_detection", "webhooks.siem.secret"}
			if w := driftWarnings(t, stale); len(w) != 1 || !slices.Equal(w[0], want) {
				t.Errorf("stale node: drift warnings %q; want one naming %q", w, want)
			}
			if strings.Contains(stale.log.String(), strings.TrimSpace(string(must(os.ReadFile(otherSecret))))) {
				t.Error("stale node's log holds its webhook secret")
			}
			wantMetrics(t, stale.url, fmt.Sprintf("sessiond_config_drift %d\n", len(want)))
			stale.stop()

			// Per-node settings only: no drift, and the stopped node's
			// entry is gone, so it is not compared with either.
			tuned := startNode(t, nodeConfig{env: env, yaml: yaml(`log: {level: debug}
server: {read_timeout: 20s, max_body_bytes: 65536}
verify_cache_size: 100
refresh: {cache_size: 10}
rate_limit: {per_client_ip: {requests: 5, per: 1s, burst: 10}}
`, secret)})
			if w := driftWarnings(t, tuned); len(w) != 0 {
				t.Errorf("node with per-node settings only: drift warnings %q; want none", w)
			}
			wantMetrics(t, tuned.url, "sessiond_config_drift 0\n")
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
