package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/verifier"

	"github.com/sessiond/sessiond/internal/testenv"
)

// The verifier end-to-end tests run two `sessiond serve` nodes on one
// shared store (PostgreSQL, then Redis), a Go verifier (package verifier,
// in this process) and a Node.js verifier (sdk/node, its own process), both
// following node B's revocation stream while revocations are made on node A.

var (
	nodeBuildOnce sync.Once
	nodeModule    string
	nodeBuildErr  error
)

// nodeVerifierModule builds sdk/node into a directory of its own,
// sdk/node/.e2e-build (the package's own test may be building dist/ at the
// same time), and returns the path of its entry point.
func nodeVerifierModule(t testing.TB) string {
	t.Helper()
	sdk, _ := filepath.Abs("../../sdk/node")
	testenv.Missing(t, "the Node.js verifier", testenv.NodeModules("sdk/node", "jose")...)
	nodeBuildOnce.Do(func() {
		out := filepath.Join(sdk, ".e2e-build")
		b, err := exec.Command("node", filepath.Join(sdk, "node_modules/typescript/bin/tsc"), "-p", filepath.Join(sdk, "tsconfig.json"),
			"--outDir", out).CombinedOutput()
		if err != nil {
			nodeBuildErr = fmt.Errorf("tsc: %v\n%s", err, b)
			return
		}
		nodeModule = filepath.Join(out, "index.js")
	})
	if nodeBuildErr != nil {
		t.Fatal(nodeBuildErr)
	}
	return nodeModule
}

// nodeVerifier is the Node.js verifier process.
type nodeVerifier struct {
	t    testing.TB
	cmd  *exec.Cmd
	url  string
	hc   *http.Client
	log  *testenv.SyncBuffer
	done chan error
}

func startNodeVerifier(t testing.TB, sessiondURL string, maxStaleness time.Duration) *nodeVerifier {
	t.Helper()
	mod := nodeVerifierModule(t)
	nv := &nodeVerifier{t: t, log: &testenv.SyncBuffer{}, done: make(chan error, 1),
		hc: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
	nv.cmd = exec.Command("node", "testdata/node-verifier.mjs")
	nv.cmd.Env = append(cleanEnv(), "VERIFIER_MODULE="+mod, "SESSIOND_URL="+sessiondURL, "SESSIOND_API_KEY="+testAPIKey,
		"SESSIOND_ISSUER="+verifierIssuer, "SESSIOND_AUDIENCE="+verifierAudience,
		"MAX_STALENESS_MS="+strconv.FormatInt(maxStaleness.Milliseconds(), 10))
	nv.cmd.Stderr = nv.log
	stdout, _ := nv.cmd.StdoutPipe()
	if err := nv.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { nv.done <- nv.cmd.Wait() }()
	t.Cleanup(func() {
		_ = nv.cmd.Process.Kill()
		<-nv.done
	})
	port := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "listening "); ok {
				port <- p
			}
		}
		io.Copy(io.Discard, stdout)
	}()
	select {
	case p := <-port:
		nv.url = "http://127.0.0.1:" + p
	case err := <-nv.done:
		t.Fatalf("node verifier exited: %v\n%s", err, nv.log.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("node verifier did not start in 30s\n%s", nv.log.String())
	}
	return nv
}

// check returns "ok", or the verifier's reason for refusing the token.
func (nv *nodeVerifier) check(token string) string {
	nv.t.Helper()
	resp, err := nv.hc.Post(nv.url+"/check", "text/plain", strings.NewReader(token))
	if err != nil {
		nv.t.Fatalf("node verifier: %v\n%s", err, nv.log.String())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func goVerifier(t testing.TB, sessiondURL string, edit func(*verifier.Options)) *verifier.Verifier {
	t.Helper()
	o := verifier.Options{URL: sessiondURL, APIKey: sessiond.Secret(testAPIKey), Issuer: verifierIssuer, Audience: verifierAudience}
	if edit != nil {
		edit(&o)
	}
	v, err := verifier.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { v.Close() })
	return v
}

func goCheck(v *verifier.Verifier, token string) string {
	_, err := v.Verify(context.Background(), token)
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, verifier.ErrStale):
		return "stale"
	case errors.Is(err, sessiond.ErrRevoked):
		return "revoked"
	case errors.Is(err, sessiond.ErrInvalidToken):
		return "invalid_token"
	}
	return err.Error()
}

// revocationLatencies creates n sessions on node A, checks both verifiers
// accept them, then revokes each on A and measures, per verifier, the time
// from the revoke call's answer to the first check that rejects it (each
// verifier is checked back to back; the Node figure includes one HTTP round
// trip to its process; each is checked again 0.2 ms after a miss, so the
// checks do not starve the servers of CPU). It fails if a verifier never rejects a session.
func revocationLatencies(t testing.TB, ca *client.Client, gv *verifier.Verifier, nv *nodeVerifier, n int) (goLat, nodeLat []time.Duration) {
	t.Helper()
	ctx := context.Background()
	type login struct {
		id  sessiond.SessionID
		tok string
	}
	logins := make([]login, n)
	for i := range n {
		l, err := ca.CreateSession(ctx, client.CreateRequest{Subject: fmt.Sprintf("v-%d", i%20)})
		if err != nil {
			t.Fatal(err)
		}
		logins[i] = login{l.Session.ID, string(l.AccessToken)}
		if g, nd := goCheck(gv, string(l.AccessToken)), nv.check(string(l.AccessToken)); g != "ok" || nd != "ok" {
			t.Fatalf("session %d before revocation: Go verifier %q, Node verifier %q; want ok", i, g, nd)
		}
	}
	for i, l := range logins {
		if err := ca.RevokeSession(ctx, l.id); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		var wg sync.WaitGroup
		var gd, nd time.Duration
		var gerr, nerr string
		wg.Add(2)
		go func() {
			defer wg.Done()
			for r := goCheck(gv, l.tok); r != "revoked"; r = goCheck(gv, l.tok) {
				time.Sleep(200 * time.Microsecond) // leave the CPU to the servers
				if time.Since(start) > 30*time.Second {
					gerr = r
					return
				}
			}
			gd = time.Since(start)
		}()
		go func() {
			defer wg.Done()
			for r := nv.check(l.tok); r != "revoked"; r = nv.check(l.tok) {
				time.Sleep(200 * time.Microsecond)
				if time.Since(start) > 30*time.Second {
					nerr = r
					return
				}
			}
			nd = time.Since(start)
		}()
		wg.Wait()
		if gerr != "" || nerr != "" {
			t.Fatalf("session %d revoked on node A: within 30s the Go verifier says %q, the Node verifier %q; want both revoked", i, gerr, nerr)
		}
		goLat, nodeLat = append(goLat, gd), append(nodeLat, nd)
	}
	return goLat, nodeLat
}

func logLatencies(t testing.TB, name string, d []time.Duration) {
	t.Helper()
	t.Logf("%s: revoke answered on node A → rejected by a verifier on node B, n=%d: p50 %v, p99 %v, max %v",
		name, len(d), percentile(d, 0.5), percentile(d, 0.99), percentile(d, 1))
}

func hybridEnv(b backend, t testing.TB) []string {
	return append(b.env(t), "SESSIOND_API_KEY="+testAPIKey, "SESSIOND_STRATEGY=hybrid",
		"SESSIOND_JWT_ISSUER="+verifierIssuer, "SESSIOND_JWT_AUDIENCE="+verifierAudience)
}

// The issuer and audience the verifier tests configure on both ends: by
// default each deployment gets its own (urn:sessiond:<id>), which a
// verifier must be told.
const (
	verifierIssuer   = "https://sessiond.verifier.test"
	verifierAudience = "verifier-test-api"
)

// followers starts two hybrid nodes on b's shared store, and a Go and a
// Node verifier (MaxStaleness 30s) that follow node B's stream; it returns
// a client of node A and the two verifiers.
func followers(t testing.TB, b backend) (*client.Client, *verifier.Verifier, *nodeVerifier) {
	t.Helper()
	na, nb := twoNodes(t, hybridEnv(b, t))
	return na.client(), goVerifier(t, nb.url, nil), startNodeVerifier(t, nb.url, 30*time.Second)
}

// TestE2E_Verifiers: 200 sessions revoked on node A are rejected by a Go
// and a Node verifier that follow node B's stream. The latency is logged,
// never asserted (BenchmarkVerifierRevocation records it).
func TestE2E_Verifiers(t *testing.T) {
	t.Parallel()
	for _, b := range sharedBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ca, gv, nv := followers(t, b)
			goLat, nodeLat := revocationLatencies(t, ca, gv, nv, 200)
			logLatencies(t, b.name+" Go verifier", goLat)
			logLatencies(t, b.name+" Node verifier", nodeLat)
		})
	}
}

// BenchmarkVerifierRevocation records the revoke → rejection distribution
// of TestE2E_Verifiers (200 revocations per run) as metrics; ns/op is
// meaningless.
//
//	SESSIOND_TEST_POSTGRES_URL=… SESSIOND_TEST_REDIS_URL=… go test ./cmd/sessiond -run x -bench VerifierRevocation -benchtime 1x
func BenchmarkVerifierRevocation(b *testing.B) {
	for _, be := range sharedBackends(b) {
		b.Run(be.name, func(b *testing.B) {
			ca, gv, nv := followers(b, be)
			var goLat, nodeLat []time.Duration
			for range b.N {
				g, n := revocationLatencies(b, ca, gv, nv, 200)
				goLat, nodeLat = append(goLat, g...), append(nodeLat, n...)
			}
			for name, d := range map[string][]time.Duration{"go": goLat, "node": nodeLat} {
				b.ReportMetric(float64(percentile(d, 0.50).Microseconds()), name+"-p50-µs")
				b.ReportMetric(float64(percentile(d, 0.99).Microseconds()), name+"-p99-µs")
				b.ReportMetric(float64(percentile(d, 1).Microseconds()), name+"-max-µs")
			}
		})
	}
}

// status is the Node verifier's Status.
func (nv *nodeVerifier) status() (snapshots int, stale bool) {
	nv.t.Helper()
	resp, err := nv.hc.Get(nv.url + "/status")
	if err != nil {
		nv.t.Fatal(err)
	}
	defer resp.Body.Close()
	var st struct {
		Snapshots int  `json:"snapshots"`
		Stale     bool `json:"stale"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		nv.t.Fatal(err)
	}
	return st.Snapshots, st.Stale
}

// TestE2E_VerifierOutage: node B, which the verifiers follow, is killed;
// sessions are revoked on node A meanwhile. Past MaxStaleness the
// verifiers apply their policy (reject, or accept with a warning); when B
// is back they catch up through Last-Event-ID (no snapshot) and reject
// every session revoked during the outage.
func TestE2E_VerifierOutage(t *testing.T) {
	t.Parallel()
	// MaxStaleness must exceed the server's heartbeat interval (10 s).
	const maxStale = 12 * time.Second
	for _, b := range sharedBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			env := hybridEnv(b, t)
			na := startNode(t, nodeConfig{env: env})
			listen := []string{"--listen", "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))}
			dataB := t.TempDir()
			nb := startNode(t, nodeConfig{env: env, dataDir: dataB, args: listen})
			fast := func(o *verifier.Options) { o.MaxStaleness = maxStale; o.IdleTimeout = 15 * time.Second }
			reject := goVerifier(t, nb.url, fast)
			accept := goVerifier(t, nb.url, func(o *verifier.Options) { fast(o); o.WhenStale = verifier.AcceptWhenStale })
			nv := startNodeVerifier(t, nb.url, maxStale)
			ca := na.client()
			ctx := context.Background()
			login := func(sub string) (sessiond.SessionID, string) {
				l, err := ca.CreateSession(ctx, client.CreateRequest{Subject: sub})
				if err != nil {
					t.Fatal(err)
				}
				return l.Session.ID, string(l.AccessToken)
			}
			_, keep := login("kept")
			type sess struct {
				id  sessiond.SessionID
				tok string
			}
			var during []sess
			for i := range 5 {
				id, tok := login(fmt.Sprintf("gone-%d", i))
				during = append(during, sess{id, tok})
			}
			for _, tok := range append([]string{keep}, during[0].tok) {
				if g, a, n := goCheck(reject, tok), goCheck(accept, tok), nv.check(tok); g != "ok" || a != "ok" || n != "ok" {
					t.Fatalf("before the outage: %q %q %q; want ok", g, a, n)
				}
			}

			nb.kill()
			for _, s := range during {
				if err := ca.RevokeSession(ctx, s.id); err != nil {
					t.Fatal(err)
				}
			}
			// Each verifier times its own staleness from what it last
			// heard: accept can turn stale after reject does, so wait
			// for all three.
			eventually(t, 30*time.Second, "verifiers stale while node B is down", func() bool {
				c, err := accept.Verify(ctx, keep)
				return goCheck(reject, keep) == "stale" && nv.check(keep) == "stale" && err == nil && c.Stale
			})
			// Accept-with-warning accepts, flagged; it cannot know of the
			// revocations made during the outage: that is its trade-off.
			for _, tok := range []string{keep, during[0].tok} {
				c, err := accept.Verify(ctx, tok)
				if err != nil || !c.Stale {
					t.Errorf("AcceptWhenStale during the outage: %+v, %v; want accepted and flagged stale", c, err)
				}
			}

			startNode(t, nodeConfig{env: env, dataDir: dataB, args: listen})
			eventually(t, 30*time.Second, "catch-up after node B is back", func() bool {
				for _, s := range during {
					if goCheck(reject, s.tok) != "revoked" || goCheck(accept, s.tok) != "revoked" || nv.check(s.tok) != "revoked" {
						return false
					}
				}
				return goCheck(reject, keep) == "ok" && nv.check(keep) == "ok"
			})
			if c, err := accept.Verify(ctx, keep); err != nil || c.Stale {
				t.Errorf("AcceptWhenStale after catch-up: %+v, %v; want fresh", c, err)
			}
			for name, n := range map[string]int{"reject": reject.Status().Snapshots, "accept": accept.Status().Snapshots} {
				if n != 1 {
					t.Errorf("Go verifier (%s) loaded %d snapshots; want 1: the catch-up must come through Last-Event-ID", name, n)
				}
			}
			if n, _ := nv.status(); n != 1 {
				t.Errorf("Node verifier loaded %d snapshots; want 1", n)
			}
		})
	}
}

// TestE2E_VerifierIncident: an incident revocation of all sessions with
// rotate_keys, made on node A, makes both verifiers (on node B) reject
// every token issued before it; a login after it is accepted.
func TestE2E_VerifierIncident(t *testing.T) {
	t.Parallel()
	for _, b := range sharedBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			ca, gv, nv := followers(t, b)
			ctx := context.Background()
			var old []string
			for i := range 20 {
				l, err := ca.CreateSession(ctx, client.CreateRequest{Subject: fmt.Sprintf("inc-%d", i%4)})
				if err != nil {
					t.Fatal(err)
				}
				old = append(old, string(l.AccessToken))
				if g, n := goCheck(gv, old[i]), nv.check(old[i]); g != "ok" || n != "ok" {
					t.Fatalf("before the incident: %q %q", g, n)
				}
			}
			if _, err := ca.RevokeIncident(ctx, client.Incident{All: true, RotateKeys: true, Reason: "e2e"}); err != nil {
				t.Fatal(err)
			}
			rejected := func(r string) bool { return r == "revoked" || r == "invalid_token" }
			eventually(t, 30*time.Second, "every old token rejected by both verifiers", func() bool {
				for _, tok := range old {
					if !rejected(goCheck(gv, tok)) || !rejected(nv.check(tok)) {
						return false
					}
				}
				return true
			})
			time.Sleep(1100 * time.Millisecond) // auth_time has whole seconds: log in a second after the incident
			l, err := ca.CreateSession(ctx, client.CreateRequest{Subject: "inc-0"})
			if err != nil {
				t.Fatal(err)
			}
			eventually(t, 30*time.Second, "a login after the incident accepted (new signing key)", func() bool {
				return goCheck(gv, string(l.AccessToken)) == "ok" && nv.check(string(l.AccessToken)) == "ok"
			})
			for _, tok := range old {
				if g, n := goCheck(gv, tok), nv.check(tok); !rejected(g) || !rejected(n) {
					t.Errorf("old token after the new key arrived: %q %q", g, n)
				}
			}
		})
	}
}
