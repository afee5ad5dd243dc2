package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/webhook"

	"github.com/sessiond/sessiond/internal/testenv"
)

// receiver is a real local webhook receiver that fails its first `fail`
// attempts, and keeps every request it got.
type receiver struct {
	mu     sync.Mutex
	fail   int
	got    []received
	secret []byte
	srv    *http.Server
	ln     net.Listener
}

type received struct {
	id, eventType string
	verified      bool
	body          string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	err := webhook.Verify(rc.secret, r.Header, body, 5*time.Minute, time.Now())
	rc.mu.Lock()
	defer rc.mu.Unlock()
	typ := ""
	if i := strings.Index(string(body), `"type":"`); i >= 0 {
		rest := string(body)[i+8:]
		typ = rest[:strings.IndexByte(rest, '"')]
	}
	rc.got = append(rc.got, received{id: r.Header.Get("webhook-id"), eventType: typ, verified: err == nil, body: string(body)})
	if rc.fail > 0 {
		rc.fail--
		http.Error(w, "not yet", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (rc *receiver) listen(t testing.TB, addr string) string {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	rc.ln = ln
	rc.srv = &http.Server{Handler: rc}
	go rc.srv.Serve(ln)
	t.Cleanup(func() { rc.srv.Close() })
	return ln.Addr().String()
}

// delivered returns, per webhook-id, the attempts of events of typ, and
// whether every signature verified.
func (rc *receiver) delivered(typ string) (map[string]int, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	ids := map[string]int{}
	ok := true
	for _, g := range rc.got {
		if g.eventType == typ {
			ids[g.id]++
			ok = ok && g.verified
		}
	}
	return ids, ok
}

func writeSecret(t testing.TB, dir string) ([]byte, string) {
	key := make([]byte, 32)
	rand.Read(key)
	p := testenv.WriteFile(t, dir, fmt.Sprintf("wh-%x.secret", key[:4]), webhook.FormatSecret(key)+"\n")
	return key, p
}

// TestE2E_SecurityOperations drives the security-operations features of
// the real server on each store: session limit, reuse detection, anomaly
// revocation, the event log (API and CLI), the kill switch, signed
// webhooks from the durable outbox (with failing, down and dead receivers)
// and the metrics that moved.
func TestE2E_SecurityOperations(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			flaky := &receiver{fail: 2}
			flakyKey, flakySecret := writeSecret(t, dir)
			flaky.secret = flakyKey
			flakyAddr := flaky.listen(t, "127.0.0.1:0")

			// An endpoint that is down until after a restart.
			lateKey, lateSecret := writeSecret(t, dir)
			late := &receiver{secret: lateKey}
			lateAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))

			deadKey, deadSecret := writeSecret(t, dir)
			dead := &receiver{secret: deadKey, fail: 1 << 30}
			deadAddr := dead.listen(t, "127.0.0.1:0")

			yaml := fmt.Sprintf(`environment: development
lifetimes:
  reuse_interval: 0s
limits:
  max_sessions: 3
  policy: evict_oldest
webhooks:
  - url: http://%s/hook
    events: [session.refresh_token_reused, session.revoked_by_incident, session.anomaly]
    secret_file: %s
    max_attempts: 8
  - url: http://%s/hook
    events: [session.revoked_by_incident]
    secret_file: %s
    max_attempts: 20
  - url: http://%s/hook
    events: [session.refresh_token_reused]
    secret_file: %s
    max_attempts: 2
`, flakyAddr, flakySecret, lateAddr, lateSecret, deadAddr, deadSecret)
			env := append(b.env(t), "SESSIOND_API_KEY="+testAPIKey)
			n := startNode(t, nodeConfig{env: env, yaml: yaml})
			c := n.client()
			ctx := context.Background()
			ua := sessiond.Client{IP: "203.0.113.20", UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"}

			// Session limit: five logins against a limit of three.
			var logins []*client.TokenResponse
			for range 5 {
				l, err := c.CreateSession(ctx, client.CreateRequest{Subject: "alice", Client: ua})
				if err != nil {
					t.Fatal(err)
				}
				logins = append(logins, l)
			}
			if live, _ := c.ListSessions(ctx, "alice"); len(live) != 3 {
				t.Fatalf("%d live sessions after 5 logins with max_sessions 3", len(live))
			}
			if _, err := c.Verify(ctx, logins[0].AccessToken, nil); !errors.Is(err, sessiond.ErrRevoked) {
				t.Errorf("oldest session after the limit = %v; want session_revoked", err)
			}

			// Refresh-token reuse.
			l := logins[4]
			if _, err := c.Refresh(ctx, l.RefreshToken, &ua); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Refresh(ctx, l.RefreshToken, &ua); !errors.Is(err, sessiond.ErrRefreshReused) {
				t.Fatalf("reuse = %v", err)
			}

			// Anomaly: a refresh from another device revokes (default action).
			thief := sessiond.Client{IP: "198.51.100.66", UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}
			if _, err := c.Refresh(ctx, logins[3].RefreshToken, &thief); !errors.Is(err, sessiond.ErrRevoked) {
				t.Errorf("refresh from another device = %v; want session_revoked", err)
			}

			// The kill switch, for bob, with notification.
			bob, _ := c.CreateSession(ctx, client.CreateRequest{Subject: "bob"})
			nrev, err := c.RevokeIncident(ctx, client.Incident{Subjects: []string{"bob"}, Reason: "test incident", Notify: true})
			if err != nil || nrev != 1 {
				t.Fatalf("incident = %d, %v; want 1", nrev, err)
			}
			if _, err := c.Verify(ctx, bob.AccessToken, nil); !errors.Is(err, sessiond.ErrRevoked) {
				t.Errorf("bob after the incident = %v", err)
			}
			if nrev, _ := c.RevokeIncident(ctx, client.Incident{Subjects: []string{"bob"}, Reason: "again"}); nrev != 0 {
				t.Errorf("second incident revoked %d; want 0 (idempotent)", nrev)
			}

			// The event log.
			evs, _, err := c.ListEvents(ctx, client.EventQuery{Type: sessiond.EventRefreshReused})
			if err != nil || len(evs) != 1 || evs[0].SessionID != l.Session.ID || evs[0].Subject != "alice" {
				t.Fatalf("reuse events = %+v, %v", evs, err)
			}
			evs, _, _ = c.ListEvents(ctx, client.EventQuery{Subject: "alice", Type: sessiond.EventSessionRevoked})
			reasons := map[string]int{}
			for _, e := range evs {
				reasons[fmt.Sprint(e.Details["reason"])]++
			}
			if reasons["limit"] != 2 || reasons["reuse"] != 1 || reasons["anomaly"] != 1 {
				t.Errorf("revocation reasons in the log = %v; want limit 2, reuse 1, anomaly 1", reasons)
			}
			out, _, code := n.cli("events", "--type", "session.revoked_by_incident")
			if code != 0 || !strings.Contains(out, "subject=bob") {
				t.Errorf("sessiond events = %d %q", code, out)
			}
			// Paging visits every event once.
			seen := map[string]bool{}
			for q := (client.EventQuery{Limit: 3}); ; {
				page, next, err := c.ListEvents(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range page {
					if seen[e.ID] {
						t.Fatalf("event %s on two pages", e.ID)
					}
					seen[e.ID] = true
				}
				if next == "" {
					break
				}
				q.Cursor = next
			}
			if len(seen) < 12 {
				t.Errorf("paged through %d events; want them all (at least 12)", len(seen))
			}

			// Webhooks: the flaky receiver gets each event after its failures,
			// duplicates carry one webhook-id, signatures verify.
			defer func() {
				if t.Failed() {
					for _, st := range []string{"pending", "delivered", "dead"} {
						ds, err := c.ListDeliveries(ctx, st, 50)
						t.Logf("deliveries %s: %+v %v", st, ds, err)
					}
					flaky.mu.Lock()
					t.Logf("flaky receiver got %d requests", len(flaky.got))
					for _, g := range flaky.got {
						t.Logf("  %s %s verified=%v", g.id, g.eventType, g.verified)
					}
					flaky.mu.Unlock()
					for _, line := range strings.Split(n.log.String(), "\n") {
						if strings.Contains(line, "webhook") || strings.Contains(line, "deliver") || strings.Contains(line, "ERROR") {
							t.Log(line)
						}
					}
				}
			}()
			eventually(t, 60*time.Second, "reuse and incident webhooks delivered", func() bool {
				r, _ := flaky.delivered("session.refresh_token_reused")
				i, _ := flaky.delivered("session.revoked_by_incident")
				a, _ := flaky.delivered("session.anomaly")
				return len(r) == 1 && len(i) == 1 && len(a) == 2 && sum(r)+sum(i)+sum(a) >= 6
			})
			for _, typ := range []string{"session.refresh_token_reused", "session.revoked_by_incident"} {
				ids, ok := flaky.delivered(typ)
				if len(ids) != 1 || !ok {
					t.Errorf("%s: %d distinct webhook-ids (attempts %v), signatures ok=%v; want one id, all verified", typ, len(ids), ids, ok)
				}
			}
			// The refresh from another device fired two rules (browser change:
			// step_up; device change: revoke): two events, two webhook-ids.
			// The receiver refused the first two attempts, whichever they
			// were: those were retried under the same webhook-id.
			if ids, ok := flaky.delivered("session.anomaly"); len(ids) != 2 || !ok {
				t.Errorf("anomaly webhooks: %v, verified %v; want two ids", ids, ok)
			}
			retried := 0
			for _, typ := range []string{"session.refresh_token_reused", "session.revoked_by_incident", "session.anomaly"} {
				ids, _ := flaky.delivered(typ)
				for _, n := range ids {
					retried += n - 1
				}
			}
			if retried != 2 {
				t.Errorf("%d retried attempts under an existing webhook-id; want the 2 refused ones", retried)
			}
			eventually(t, 60*time.Second, "dead delivery listed", func() bool {
				ds, err := c.ListDeliveries(ctx, "dead", 10)
				return err == nil && len(ds) == 1 && ds[0].Attempts == 2
			})

			// The late receiver was down; restart sessiond, then bring it up.
			n.stop()
			late.listen(t, lateAddr)
			n2 := startNode(t, nodeConfig{dataDir: n.dataDir, env: env, yaml: yaml})
			eventually(t, 180*time.Second, "incident webhook delivered across a restart", func() bool {
				ids, ok := late.delivered("session.revoked_by_incident")
				return len(ids) == 1 && ok
			})

			// Metrics moved as the scenario says. The dispatcher counts a
			// delivery once the receiver's answer is back, a moment after
			// the receiver saw it.
			want := []string{`sessiond_webhook_deliveries_total{endpoint="1-` + lateAddr + `",outcome="delivered"} 1`,
				`sessiond_sessions_active{strategy="hybrid"}`, `go_goroutines`}
			for end := time.Now().Add(30 * time.Second); len(metricsLack(t, n2.url, want...)) > 0 && time.Now().Before(end); {
				time.Sleep(20 * time.Millisecond)
			}
			wantMetrics(t, n2.url, want...)
		})
	}
}

// wantMetrics fails t for each of want that the /metrics page of the node
// at base does not contain.
func wantMetrics(t *testing.T, base string, want ...string) {
	t.Helper()
	for _, w := range metricsLack(t, base, want...) {
		t.Errorf("/metrics lacks %q", w)
	}
}

// metricsLack returns those of want that the /metrics page of the node at
// base does not contain.
func metricsLack(t *testing.T, base string, want ...string) []string {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var lack []string
	for _, w := range want {
		if !strings.Contains(string(body), w) {
			lack = append(lack, w)
		}
	}
	return lack
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// TestE2E_Metrics checks, on a fresh node, that counters move exactly as a
// scripted scenario says.
func TestE2E_Metrics(t *testing.T) {
	n := startNode(t, nodeConfig{env: []string{"SESSIOND_API_KEY=" + testAPIKey, "SESSIOND_LIFETIMES_REUSE_INTERVAL=0s"}})
	c := n.client()
	ctx := context.Background()
	a, _ := c.CreateSession(ctx, client.CreateRequest{Subject: "m1"})
	c.CreateSession(ctx, client.CreateRequest{Subject: "m2"})
	c.Refresh(ctx, a.RefreshToken, nil)
	c.Refresh(ctx, a.RefreshToken, nil) // reuse
	c.Verify(ctx, "garbage-token", nil)
	bad, _ := client.New(n.url, sessiond.Secret(strings.Repeat("w", 40)))
	bad.ListSessions(ctx, "m1")
	wantMetrics(t, n.url,
		"sessiond_sessions_created_total 2",
		"sessiond_sessions_refreshed_total 1",
		"sessiond_refresh_reuse_total 1",
		`sessiond_sessions_revoked_total{reason="reuse"} 1`,
		`sessiond_verify_total{outcome="token_invalid"} 1`,
		`sessiond_sessions_active{strategy="hybrid"} 1`,
		// In memory: m2's refresh token and the one the refresh issued
		// (the grant cache), and the session the reuse revoked.
		`sessiond_inprocess_entries{set="refresh_cache"} 2`,
		`sessiond_inprocess_entries{set="revoked_set"} 1`)
	evs, _, err := c.ListEvents(ctx, client.EventQuery{Type: "api_key.auth_failed"})
	if err != nil || len(evs) != 1 || evs[0].Client.IP != "127.0.0.1" {
		t.Errorf("auth failure events = %+v, %v; want one from 127.0.0.1", evs, err)
	}
}
