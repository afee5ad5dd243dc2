//go:build unix

// SIGSTOP freezes the store and the node stops on signals: Unix only.

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/delayproxy"
	"github.com/sessiond/sessiond/internal/redisclustertest"
	"github.com/sessiond/sessiond/internal/testenv"
)

// TestServe_StopBoundedOnHungStore: a node whose store stops answering (a
// frozen Redis) still exits by itself within server.shutdown_delay +
// server.shutdown_timeout of SIGTERM, the sum SD-SERVER-008 and the
// shipped kill deadlines (deploy/stopdeadline_test.go) count. The test
// plays the orchestrator: it SIGKILLs the node at that sum plus a margin
// for the process's own exit. Before, the teardown gave the requests in
// flight one shutdown_timeout, the handlers' store calls a second one,
// then waited without a bound for the background loops (the config-drift
// check's last write, 5 s) and the store's close: 10.8 s for 1s + 3s.
func TestServe_StopBoundedOnHungStore(t *testing.T) {
	t.Parallel()
	port, redis := redisclustertest.StartProcess(t)
	defer redis.Signal(syscall.SIGCONT) // before StartProcess's cleanup kills it
	// A stopped Redis's sockets take the requests without a sign: the
	// proxy, left forwarding, sees what reaches it.
	var seen storeTap
	proxy, err := delayproxy.Start("127.0.0.1:0", fmt.Sprintf("127.0.0.1:%d", port), delayproxy.Options{Tap: seen.tap})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	stopBoundedOnHungStore(t, []string{
		"SESSIOND_STORE_DRIVER=redis",
		"SESSIOND_STORE_DSN=redis://" + proxy.Addr() + "/0",
	}, func() error { return redis.Signal(syscall.SIGSTOP) }, seen.reached)
}

// TestServe_StopBoundedOnHungPostgres: the same on PostgreSQL, which
// stops answering behind a frozen proxy (the test must not stop the
// server it shares): its pool's connections stay open, their queries
// unanswered.
func TestServe_StopBoundedOnHungPostgres(t *testing.T) {
	t.Parallel()
	u := os.Getenv("SESSIOND_TEST_POSTGRES_URL")
	if u == "" {
		testenv.Unset(t, "SESSIOND_TEST_POSTGRES_URL", "the stop on a hung PostgreSQL is not tested")
		return
	}
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	schema := testenv.PostgresSchema(t, u, "stophung")
	proxy, err := delayproxy.Start("127.0.0.1:0", pu.Host, delayproxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	pu.Host = proxy.Addr()
	// pgx gives each request a connection of its own, and its first
	// message there (a new connection's startup, a statement's Parse)
	// waits for an answer before the values are sent: a turnaround each,
	// counted with the node's own checks and loops, which may make up
	// part of the count.
	stopBoundedOnHungStore(t, []string{
		"SESSIOND_STORE_DRIVER=postgres",
		"SESSIOND_STORE_DSN=" + pu.String(),
		"SESSIOND_STORE_NAMESPACE=" + schema,
	}, func() error { proxy.Freeze(); proxy.Reset(); return nil },
		func(int) int { return int(proxy.Stats().Turnarounds) })
}

// frozenSubject is the subject of the i-th request sent to the frozen
// store: what storeTap looks for in the bytes sent to the store.
func frozenSubject(i int) string { return fmt.Sprintf("frozen-%d", i) }

// storeTap keeps what a node sends its store through a delayproxy (Tap),
// per connection. The proxy's turnarounds cannot stand for requests: the
// node's own checks and loops make some, and a client that pipelines
// (rueidis, Redis's) sends many callers' commands as one.
type storeTap struct {
	mu    sync.Mutex
	conns map[string][]byte
}

func (s *storeTap) tap(remote string, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		s.conns = map[string][]byte{}
	}
	s.conns[remote] = append(s.conns[remote], b...)
}

// reached counts the first n frozen requests whose subject was sent to
// the store (whole on a connection, however the chunks cut it).
func (s *storeTap) reached(n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	count := 0
	for i := range n {
		for _, sent := range s.conns {
			if bytes.Contains(sent, []byte(frozenSubject(i))) {
				count++
				break
			}
		}
	}
	return count
}

// stopBoundedOnHungStore starts a node on the store env names, logs in,
// freezes the store, sends requests that wait on it, and checks the node
// exits 0 by itself within shutdown_delay + shutdown_timeout of SIGTERM.
// reached(n) counts the first n requests whose store call was sent since
// the freeze: the test waits for all of them before the SIGTERM, so they
// are in flight on the store, not still on their way.
func stopBoundedOnHungStore(t *testing.T, storeEnv []string, freeze func() error, reached func(n int) int) {
	t.Helper()
	const (
		delay   = time.Second
		timeout = 3 * time.Second
		margin  = 4 * time.Second // the kill deadlines keep 5 s; room for a loaded machine
	)
	n := startNode(t, nodeConfig{env: append([]string{
		"SESSIOND_API_KEY=" + testAPIKey,
		"SESSIOND_SERVER_SHUTDOWN_DELAY=" + delay.String(),
		"SESSIOND_SERVER_SHUTDOWN_TIMEOUT=" + timeout.String(),
	}, storeEnv...)})
	post := func(path, body string) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPost, n.url+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+testAPIKey)
		req.Header.Set("Content-Type", "application/json")
		return http.DefaultClient.Do(req)
	}
	resp, err := post("/v1/sessions", `{"subject":"before"}`)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("login before the freeze: %v %v", resp, err)
	}
	resp.Body.Close()

	if err := freeze(); err != nil {
		t.Fatal(err)
	}
	// Requests in flight on the frozen store when the stop begins.
	var wg sync.WaitGroup
	defer wg.Wait()
	const requests = 4
	for i := range requests {
		wg.Go(func() {
			if resp, err := post("/v1/sessions", fmt.Sprintf(`{"subject":%q}`, frozenSubject(i))); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
	for deadline := time.Now().Add(10 * time.Second); reached(requests) < requests; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of the %d requests reached the frozen store in 10 s; want all in flight before the SIGTERM\n%s", reached(requests), requests, n.log.String())
		}
		time.Sleep(10 * time.Millisecond) // poll what the proxy saw
	}
	signaled := time.Now()
	if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-n.done:
		if err != nil {
			t.Errorf("exit after SIGTERM on a frozen store: %v; want 0\n%s", err, n.log.String())
		}
	case <-time.After(delay + timeout + margin):
		n.cmd.Process.Kill()
		<-n.done
		t.Fatalf("still running %v after SIGTERM with shutdown_delay %v and shutdown_timeout %v on a frozen store: an orchestrator would have killed it\n%s",
			delay+timeout+margin, delay, timeout, n.log.String())
	}
	t.Logf("exit %v after SIGTERM", time.Since(signaled).Round(time.Millisecond))
	if !strings.Contains(n.log.String(), `"msg":"shutdown timeout reached: exiting without waiting further"`) {
		t.Errorf("no log line saying the teardown was cut at shutdown_timeout\n%s", n.log.String())
	}
}

// TestServe_FurtherSignalStopsAtOnce: once the shutdown delay is over
// (or ended by a second signal), a further SIGTERM or SIGINT stops the
// node at once, exit 1, with an ERROR line saying what it cut and a line
// on stderr. A request whose body never arrives holds the graceful stop
// (server.read_timeout and shutdown_timeout are ten minutes): only the
// further signal can end it within the test's bound. Before, the third
// signal was ignored.
func TestServe_FurtherSignalStopsAtOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		delay   string
		signals []syscall.Signal // after the first SIGTERM
	}{
		{"third signal after the delay was cut short", "10m", []syscall.Signal{syscall.SIGINT, syscall.SIGINT}},
		{"second signal without a delay", "0s", []syscall.Signal{syscall.SIGTERM}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			n := startNode(t, nodeConfig{env: []string{
				"SESSIOND_API_KEY=" + testAPIKey,
				"SESSIOND_SERVER_SHUTDOWN_DELAY=" + tc.delay,
				"SESSIOND_SERVER_SHUTDOWN_TIMEOUT=10m",
				"SESSIOND_SERVER_READ_TIMEOUT=10m",
			}})
			// A request in flight that will not finish: its body never
			// comes. A first request on the connection makes sure the
			// server holds it.
			c, err := net.Dial("tcp", n.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			br := bufio.NewReader(c)
			fmt.Fprintf(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
			resp, err := http.ReadResponse(br, nil)
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("/healthz: %v %v", resp, err)
			}
			io.Copy(io.Discard, resp.Body)
			fmt.Fprintf(c, "POST /v1/sessions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n", testAPIKey)
			waitLog := func(what string) {
				t.Helper()
				eventually(t, 30*time.Second, "log line "+what, func() bool { return strings.Contains(n.log.String(), what) })
			}
			// The handler is reading the body when the stop begins.
			awaitBodyRead(t, c, br)
			fmt.Fprintf(c, "{")
			if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			waitLog(`"msg":"shutting down"`)
			for i, sig := range tc.signals {
				if i > 0 {
					waitLog(`"msg":"shutdown delay cut short by a second signal"`)
				}
				if err := n.cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case err := <-n.done:
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != exitFailure {
					t.Errorf("exit after a further signal: %v; want exit status %d\n%s", err, exitFailure, n.log.String())
				}
			case <-time.After(60 * time.Second):
				t.Fatalf("still running 60s after a further signal, with a 10m shutdown_timeout and a request in flight\n%s", n.log.String())
			}
			log := n.log.String()
			if !strings.Contains(log, `"msg":"stopping at once at a further signal: the graceful stop was cut short","cut":"requests in flight"`) {
				t.Errorf("no ERROR line saying the requests in flight were cut\n%s", log)
			}
			if !bytes.Contains([]byte(log), []byte("sessiond: stopped at once by a further signal")) {
				t.Errorf("no line on stderr saying why serve exited 1\n%s", log)
			}
		})
	}
}
