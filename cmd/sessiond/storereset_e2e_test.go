package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/dpop"

	"github.com/sessiond/sessiond/internal/dbscclient"
	"github.com/sessiond/sessiond/internal/testenv"
)

// TestE2E_RedisRestartedEmpty: a Redis without persistence restarts empty
// under two running nodes, taking the API key set and the signing key ring
// with it. Each node seeds the key set again with its SESSIOND_API_KEY and
// writes its ring back, as a fresh start would, so within a few seconds
// and without a restart: the key works again on both nodes, /readyz
// answers 200, a new login on one node verifies on the other, a node
// started afterwards agrees with both (same ring, same default issuer),
// each node logged the loss and recorded store.reset_detected, and a key
// made through the API before stays lost.
func TestE2E_RedisRestartedEmpty(t *testing.T) {
	t.Parallel()
	testenv.Programs(t, "the Redis restart test", " (apt-get install redis-server)", "redis-server")
	srv := newStoreServer(t, "redis")
	srv.extra = []string{"--appendonly", "no"} // no persistence: a restart comes back empty
	srv.stop()
	srv.start()
	env := []string{"SESSIOND_API_KEY=" + testAPIKey, "SESSIOND_STORE_DRIVER=redis", "SESSIOND_STORE_DSN=" + srv.dsn()}
	a, b := twoNodes(t, env)
	ca, cb := a.client(), b.client()
	ctx := context.Background()

	if _, err := ca.CreateSession(ctx, client.CreateRequest{Subject: "before"}); err != nil {
		t.Fatalf("login before the restart: %v", err)
	}
	_, made, err := ca.CreateAPIKey(ctx, "made-before")
	if err != nil {
		t.Fatal(err)
	}

	srv.stop()
	srv.start()

	start := time.Now()
	for _, n := range []*node{a, b} {
		eventually(t, 15*time.Second, n.url+": SESSIOND_API_KEY works again after Redis restarted empty", func() bool {
			return testenv.CallAPI(t, "POST", n.url+"/v1/sessions", testAPIKey, `{"subject":"after"}`, nil) == 201
		})
		eventually(t, 15*time.Second, n.url+": /readyz answers 200", func() bool { return n.client().Ready(ctx) == nil })
	}
	t.Logf("both nodes serve again %v after Redis came back", time.Since(start).Round(time.Millisecond))

	c := startNode(t, nodeConfig{env: env}) // a node started on the store the others mended
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node a:\n%s\nnode c:\n%s", a.log.String(), c.log.String())
		}
	})
	nodes := map[string]*client.Client{"a": ca, "b": cb, "c": c.client()}
	for from, cf := range nodes {
		login, err := cf.CreateSession(ctx, client.CreateRequest{Subject: "after-" + from})
		if err != nil {
			t.Fatalf("login on node %s after the restart: %v", from, err)
		}
		for on, co := range nodes {
			eventually(t, 10*time.Second, "node "+on+" verifies node "+from+"'s token", func() bool {
				_, err := co.Verify(ctx, login.AccessToken, nil)
				if err != nil {
					t.Logf("node %s verifying node %s's token: %v", on, from, err)
				}
				return err == nil
			})
		}
	}

	lostKey, err := client.New(a.url, made)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lostKey.Verify(ctx, "x", nil); !errors.Is(err, client.ErrUnauthorized) {
		t.Errorf("a key made through the API before the restart: %v; want 401 (lost with the store)", err)
	}
	// Each node seeds its key; the ring is written back by the first
	// node to find it gone, and the other finds it as it held it.
	ringLines := 0
	for name, n := range map[string]*node{"a": a, "b": b} {
		count := func(doc string) int {
			found := 0
			for _, line := range strings.Split(n.log.String(), "\n") {
				if strings.Contains(line, `"level":"ERROR"`) && strings.Contains(line, "vanished from the store") && strings.Contains(line, doc) {
					found++
				}
			}
			return found
		}
		if got := count(`"document":"api_keys"`); got != 1 {
			t.Errorf("node %s logged %d ERROR lines naming the API key set as vanished; want 1", name, got)
		}
		if got := count(`"document":"signing_keys"`); got > 1 {
			t.Errorf("node %s logged %d ERROR lines naming the signing key ring as vanished; want at most 1", name, got)
		} else {
			ringLines += got
		}
	}
	if ringLines == 0 {
		t.Error("no node logged an ERROR line naming the signing key ring as vanished")
	}
	evs, _, err := ca.ListEvents(ctx, client.EventQuery{Type: "store.reset_detected"})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) < 2 {
		t.Errorf("store.reset_detected events = %d; want one per node and lost document (at least 2)", len(evs))
	}
}

// TestE2E_RedisRestartedEmptySharedDocuments: the other documents nodes
// share, when a Redis without persistence restarts empty under two
// running nodes (DPoP nonces required, the gateway with DBSC). An
// incident's watermark, the DPoP nonce secret and the DBSC key live in
// each node's memory: each node writes its own back, so a node started
// afterwards reads them instead of making its own. Then a token issued
// before the incident is refused on every node, a DPoP nonce one node
// issued is accepted by the others, and a DBSC registration offered by
// one node completes on another. Each node logs one ERROR line per
// document; the Shared Signals streams stay lost, and say so.
func TestE2E_RedisRestartedEmptySharedDocuments(t *testing.T) {
	t.Parallel()
	testenv.Programs(t, "the Redis restart test", " (apt-get install redis-server)", "redis-server")
	srv := newStoreServer(t, "redis")
	srv.extra = []string{"--appendonly", "no"}
	srv.stop()
	srv.start()
	env := []string{"SESSIOND_API_KEY=" + testAPIKey, "SESSIOND_STORE_DRIVER=redis", "SESSIOND_STORE_DSN=" + srv.dsn(),
		"SESSIOND_ENVIRONMENT=development", "SESSIOND_DPOP_REQUIRE_NONCE=true",
		"SESSIOND_COOKIE_SECURE=false", "SESSIOND_COOKIE_NAME=sid", "SESSIOND_COOKIE_REFRESH_NAME=rt",
		"SESSIOND_GATEWAY_ENABLED=true", "SESSIOND_GATEWAY_LOGIN_URL=/login", "SESSIOND_GATEWAY_DBSC=optional"}
	a, b := twoNodes(t, env)
	ca := a.client()
	ctx := context.Background()

	victim, err := ca.CreateSession(ctx, client.CreateRequest{Subject: "victim"})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // watermarks are compared in whole seconds
	if _, err := ca.RevokeIncident(ctx, client.Incident{All: true}); err != nil {
		t.Fatalf("incident: %v", err)
	}
	refused := func(n *node, what string) {
		t.Helper()
		var err error
		// Until refused: the node that did not run the incident hears
		// of it over the store's feed, a moment later on a busy machine.
		eventually(t, 10*time.Second, n.url+": a refusal", func() bool {
			_, err = n.client().Verify(ctx, victim.AccessToken, nil)
			var e *client.Error
			return errors.As(err, &e) && e.Status < 500
		})
		if e := (*client.Error)(nil); !errors.As(err, &e) || e.Status != 401 {
			t.Errorf("%s %s: verify = %v; want 401", n.url, what, err)
		}
	}
	refused(a, "refuses a token issued before the incident")
	refused(b, "refuses a token issued before the incident")

	srv.stop()
	srv.start()
	for _, n := range []*node{a, b} {
		eventually(t, 15*time.Second, n.url+": noticed the store lost its data", func() bool {
			return testenv.CallAPI(t, "POST", n.url+"/v1/sessions", testAPIKey, `{"subject":"after"}`, nil) == 201 &&
				vanishedLines(n, "api_keys") == 1
		})
	}
	c := startNode(t, nodeConfig{env: env}) // reads what the others put back
	t.Cleanup(func() {
		if t.Failed() {
			for name, n := range map[string]*node{"a": a, "b": b, "c": c} {
				for _, line := range strings.Split(n.log.String(), "\n") {
					if strings.Contains(line, `"level":"ERROR"`) || strings.Contains(line, `"level":"WARN"`) {
						t.Logf("node %s: %s", name, line)
					}
				}
			}
		}
	})
	nodes := map[string]*node{"a": a, "b": b, "c": c}
	for name, n := range nodes {
		refused(n, "node "+name+" refuses a token issued before the incident, after Redis restarted empty")
	}

	p := testenv.Prover(t, nil)
	for from, nf := range nodes {
		first := createBoundE2E(t, nf, p, "")
		if first.status != 401 || first.nonce == "" {
			t.Fatalf("node %s without a nonce: %+v; want 401 with a DPoP-Nonce", from, first)
		}
		for on, no := range nodes {
			if got := createBoundE2E(t, no, p, first.nonce); got.status != 201 {
				t.Errorf("node %s refuses node %s's DPoP nonce after Redis restarted empty: %d %s", on, from, got.status, got.code)
			}
		}
	}

	for from, nf := range nodes {
		for on, no := range nodes {
			hc, login := gatewayLogin(t, nf.url, "dbsc-"+from+on)
			d, err := dbscclient.New(hc, no.url, "ES256")
			if err != nil {
				t.Fatal(err)
			}
			res, err := d.Register(login)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Errorf("DBSC registration offered by node %s, completed on node %s = %d; want 200", from, on, res.StatusCode)
			}
		}
	}

	// The first node to find a document gone writes it back; the other
	// may find it as it held it, and has nothing to say.
	evs, _, err := ca.ListEvents(ctx, client.EventQuery{Type: "store.reset_detected"})
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{"revocation_watermarks", "dpop_nonce", "gateway.dbsc_key"} {
		lines := 0
		for name, n := range map[string]*node{"a": a, "b": b} {
			got := vanishedLines(n, doc)
			if got > 1 {
				t.Errorf("node %s logged %d ERROR lines naming %s as vanished; want at most 1", name, got, doc)
			}
			lines += got
		}
		if lines == 0 {
			t.Errorf("no node logged an ERROR line naming %s as vanished", doc)
		}
		if !slices.ContainsFunc(evs, func(e client.Event) bool { return e.Details["document"] == doc }) {
			t.Errorf("no store.reset_detected event names %s", doc)
		}
	}
	if got := vanishedLines(c, ""); got != 0 {
		t.Errorf("node c, started after, logged %d ERROR lines naming a document as vanished; want 0", got)
	}
}

// vanishedLines counts n's ERROR lines saying doc vanished from the store.
func vanishedLines(n *node, doc string) int {
	found := 0
	for _, line := range strings.Split(n.log.String(), "\n") {
		if strings.Contains(line, `"level":"ERROR"`) && strings.Contains(line, "vanished from the store") &&
			strings.Contains(line, `"document":"`+doc) {
			found++
		}
	}
	return found
}

// dpopAnswerE2E is what a create request with a DPoP proof got back.
type dpopAnswerE2E struct {
	status int
	code   string
	nonce  string
}

// createBoundE2E asks node n for a session bound to p's key, the proof
// made with nonce.
func createBoundE2E(t *testing.T, n *node, p *dpop.Prover, nonce string) dpopAnswerE2E {
	t.Helper()
	const htu = "https://app.example/oauth/token"
	proof, err := p.Proof("POST", htu, "", nonce)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"subject": "dana", "dpop_proof": proof, "htm": "POST", "htu": htu})
	req, _ := http.NewRequest("POST", n.url+"/v1/sessions", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var problem struct{ Code string }
	_ = json.NewDecoder(resp.Body).Decode(&problem)
	return dpopAnswerE2E{resp.StatusCode, problem.Code, resp.Header.Get("DPoP-Nonce")}
}

// gatewayLogin logs subject in through base's gateway with a login code
// and returns the browser and the login answer (which offers DBSC).
func gatewayLogin(t *testing.T, base, subject string) (*http.Client, *http.Response) {
	t.Helper()
	var out struct {
		LoginURL string `json:"login_url"`
	}
	if got := testenv.CallAPI(t, "POST", base+"/v1/sessions", testAPIKey, `{"subject":"`+subject+`","login_code":true}`, &out); got != 201 {
		t.Fatalf("login code on %s = %d", base, got)
	}
	hc, _ := testenv.CookieClient(nil)
	res, err := hc.Get(base + out.LoginURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login on %s = %d; want 303", base, res.StatusCode)
	}
	return hc, res
}
