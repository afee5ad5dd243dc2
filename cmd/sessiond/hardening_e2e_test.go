package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
)

// TestE2E_AuthFailuresBounded: on the real server, many requests without a
// valid API key (with a 30 KB path) add a bounded number of events, log
// lines and webhook deliveries, each of bounded size (issue 14, defect 2).
func TestE2E_AuthFailuresBounded(t *testing.T) {
	_, secretFile := writeSecret(t, t.TempDir())
	n := startNode(t, nodeConfig{env: []string{"SESSIOND_API_KEY=" + testAPIKey},
		// An endpoint that takes every event; nothing listens there, so
		// deliveries stay in the outbox to be counted.
		yaml: fmt.Sprintf("environment: development\nwebhooks:\n  - url: http://127.0.0.1:9/hook\n    secret_file: %s\n", secretFile)})
	ctx := context.Background()
	long := "/v1/subjects/" + strings.Repeat("%1b%5b2J", 4000) + "/sessions"
	const sent = 300
	for i := range sent {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.url+long, nil)
		if i%2 == 0 {
			req.Header.Set("Authorization", "Bearer "+strings.Repeat("w", 40))
		}
		req.Header.Set("User-Agent", "evil\u202etxt.exe")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("request %d failed", i) // the error repeats the 30 KB URL
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("request %d = %d; want 401 or 429", i, resp.StatusCode)
		}
	}
	admin := n.client()
	events, _, err := admin.ListEvents(ctx, client.EventQuery{Type: "api_key.auth_failed", Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) < 1 || len(events) > 2 {
		t.Fatalf("%d bad requests from one address wrote %d events; want 1 or 2", sent, len(events))
	}
	for _, e := range events {
		if p, _ := e.Details["path"].(string); len(p) > 256 || !strings.HasPrefix(p, "/v1/subjects/") {
			t.Errorf("event path is %d bytes: %q", len(p), p)
		}
		if e.Details["count"] == nil || strings.Contains(e.Client.UserAgent, "\u202e") {
			t.Errorf("event has no count: %v", e.Details)
		}
	}
	total := 0
	for _, state := range []string{"pending", "delivered", "dead"} {
		ds, err := admin.ListDeliveries(ctx, state, 1000)
		if err != nil {
			t.Fatal(err)
		}
		total += len(ds)
	}
	if total > 4 {
		t.Errorf("%d bad requests queued %d webhook deliveries; want a handful", sent, total)
	}
	n.stop() // the log is buffered: a graceful stop writes all of it
	if lines := strings.Count(n.log.String(), `"type":"api_key.auth_failed"`); lines > 2 {
		t.Errorf("%d bad requests wrote %d WARN event lines; want at most 2", sent, lines)
	}
	if size := len(n.log.String()); size > sent*1024 {
		t.Errorf("log is %d bytes after %d requests; the path is repeated", size, sent)
	}
}

// TestE2E_RevokedEnvKeyStaysRevoked: a SESSIOND_API_KEY revoked with the
// CLI does not come back when the server restarts with it (issue 14,
// defect 5): the server refuses to start and says why.
func TestE2E_RevokedEnvKeyStaysRevoked(t *testing.T) {
	env := []string{"SESSIOND_API_KEY=" + testAPIKey}
	n := startNode(t, nodeConfig{env: env})
	list, _, _ := n.cli("apikey", "list")
	var id string
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[1] == "env" {
			id = f[0]
		}
	}
	if id == "" || !strings.Contains(list, "admin") {
		t.Fatalf("apikey list = %q; want the env key, admin", list)
	}
	if _, errOut, code := n.cli("apikey", "revoke", id); code != 0 {
		t.Fatalf("apikey revoke = %d %s", code, errOut)
	}
	n.stop()

	cmd := exec.Command(binary(t), "serve", "--listen", "127.0.0.1:0", "--data", n.dataDir)
	cmd.Env = append(cleanEnv(), env...)
	done := make(chan struct{})
	var out []byte
	go func() { out, _ = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("sessiond started with a revoked SESSIOND_API_KEY:\n%s", out)
	}
	if cmd.ProcessState.ExitCode() == 0 || !strings.Contains(string(out), "revoked") || !strings.Contains(string(out), id) {
		t.Errorf("restart with the revoked key: exit %d\n%s\nwant a refusal naming %s", cmd.ProcessState.ExitCode(), out, id)
	}
	// The key works nowhere: a fresh key on the same store is refused too.
	n2 := startNode(t, nodeConfig{dataDir: n.dataDir})
	c, _ := client.New(n2.url, sessiond.Secret(testAPIKey))
	if _, err := c.ListSessions(context.Background(), "x"); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("revoked env key after restart = %v; want unauthorized", err)
	}
}

// TestE2E_OperatorActionsRecorded: the kill switch records the operator's
// reason and the acting key always (not only with --rotate-keys) and
// counts its sessions in the metric; 'sessions revoke' is an admin
// revocation, not a logout (issue 15); a key limited to verify cannot
// create sessions.
func TestE2E_OperatorActionsRecorded(t *testing.T) {
	n := startNode(t, nodeConfig{env: []string{"SESSIOND_API_KEY=" + testAPIKey}})
	ctx := context.Background()
	admin := n.client()
	one, err := admin.CreateSession(ctx, client.CreateRequest{Subject: "erin"})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := admin.CreateSession(ctx, client.CreateRequest{Subject: "frank"}); err != nil {
			t.Fatal(err)
		}
	}
	if out, errOut, code := n.cli("sessions", "revoke", string(one.Session.ID)); code != 0 {
		t.Fatalf("sessions revoke = %d %s %s", code, out, errOut)
	}
	if out, errOut, code := n.cli("incident", "revoke", "--subject", "frank", "--reason", "laptop stolen"); code != 0 {
		t.Fatalf("incident revoke = %d %s %s", code, out, errOut)
	}
	revoked, _, err := admin.ListEvents(ctx, client.EventQuery{Type: "session.revoked", SessionID: one.Session.ID})
	if err != nil || len(revoked) != 1 || revoked[0].Details["reason"] != "admin" {
		t.Errorf("session.revoked after 'sessions revoke' = %+v, %v; want reason admin", revoked, err)
	} else if revoked[0].Details["api_key_id"] == nil {
		t.Errorf("session.revoked records no acting key: %v", revoked[0].Details)
	}
	inc, _, err := admin.ListEvents(ctx, client.EventQuery{Type: "incident.revoked"})
	if err != nil || len(inc) != 1 || inc[0].Details["reason"] != "laptop stolen" || inc[0].Details["api_key_id"] == nil {
		t.Errorf("incident.revoked = %+v, %v; want the reason and the acting key", inc, err)
	}
	// The log is buffered (flushed every 100 ms): wait for the line.
	eventually(t, 5*time.Second, "the server log records the incident's reason", func() bool {
		return strings.Contains(n.log.String(), "laptop stolen")
	})
	metrics, err := http.Get(n.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer metrics.Body.Close()
	raw, _ := io.ReadAll(metrics.Body)
	if !strings.Contains(string(raw), `sessiond_sessions_revoked_total{reason="incident"} 2`) {
		t.Errorf("metrics lack 2 incident revocations:\n%s", grepLines(string(raw), "revoked_total"))
	}

	key, errOut, code := n.cli("apikey", "create", "--name", "resource-server")
	if code != 0 || !strings.Contains(errOut, "verify") {
		t.Fatalf("apikey create = %d %q", code, errOut)
	}
	c, _ := client.New(n.url, sessiond.Secret(strings.TrimSpace(key)))
	eventually(t, 5*time.Second, "new key accepted", func() bool {
		// Until the server has loaded the key it is refused, and refusals
		// from one address are soon rate limited (429): neither means the
		// key works yet.
		_, err := c.CreateSession(ctx, client.CreateRequest{Subject: "mallory"})
		return !errors.Is(err, client.ErrUnauthorized) && !errors.Is(err, client.ErrRateLimited)
	})
	if _, err := c.CreateSession(ctx, client.CreateRequest{Subject: "mallory"}); !errors.Is(err, client.ErrInsufficientScope) {
		t.Errorf("create with a verify key = %v; want insufficient_scope", err)
	}
	if _, err := c.Verify(ctx, one.AccessToken, nil); !errors.Is(err, sessiond.ErrRevoked) {
		t.Errorf("verify with a verify key = %v; want it to run (session_revoked)", err)
	}

	// The API shows and sets scopes too, and records who did it.
	k, secret, err := admin.CreateAPIKey(ctx, "backend", "sessions:write")
	if err != nil || secret == "" || len(k.Scopes) != 1 {
		t.Fatalf("CreateAPIKey = %+v, %v", k, err)
	}
	if k, err = admin.SetAPIKeyScopes(ctx, k.ID, "sessions:write", "verify"); err != nil || len(k.Scopes) != 2 {
		t.Errorf("SetAPIKeyScopes = %+v, %v", k, err)
	}
	if _, err := c.ListAPIKeys(ctx); !errors.Is(err, client.ErrInsufficientScope) {
		t.Errorf("ListAPIKeys with a verify key = %v; want insufficient_scope", err)
	}
	if err := admin.RevokeAPIKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	changed, _, err := admin.ListEvents(ctx, client.EventQuery{Type: "api_key.scopes_changed"})
	if err != nil || len(changed) != 1 || changed[0].Details["key_id"] != k.ID || changed[0].Details["api_key_id"] == nil {
		t.Errorf("api_key.scopes_changed = %+v, %v; want the key and the acting key", changed, err)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
