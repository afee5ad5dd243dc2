package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/config"
)

// TestServe_DrainOnSIGTERM: a node told to stop (SIGTERM, as Kubernetes,
// systemd and docker stop send it) keeps serving for
// server.shutdown_delay with /readyz at 503 and Connection: close on its
// answers, before its listener closes. Keep-alive clients that stop
// sending once /readyz says 503 (a load balancer's probe) lose no request:
// no verify fails, and no refresh answer is lost (the next refresh of that
// chain would be a reuse, which ends the session).
func TestServe_DrainOnSIGTERM(t *testing.T) {
	t.Parallel()
	for _, b := range backends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			// The default delay, as the harness sets none for other tests.
			n := startNode(t, nodeConfig{env: append(b.env(t), "SESSIOND_API_KEY="+testAPIKey,
				"SESSIOND_SERVER_SHUTDOWN_DELAY="+config.Default().Server.ShutdownDelay.String())})
			tr := &http.Transport{MaxIdleConnsPerHost: 16}
			defer tr.CloseIdleConnections()
			hc := &http.Client{Transport: tr, Timeout: 20 * time.Second}
			call := func(path string, in any, out any) (*http.Response, error) {
				body, _ := json.Marshal(in)
				req, _ := http.NewRequest(http.MethodPost, n.url+path, bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+testAPIKey)
				req.Header.Set("Content-Type", "application/json")
				resp, err := hc.Do(req)
				if err != nil {
					return nil, err
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				if out != nil && resp.StatusCode/100 == 2 {
					if err := json.Unmarshal(b, out); err != nil {
						return resp, err
					}
				}
				return resp, nil
			}
			type tokens struct {
				AccessToken  string `json:"access_token"`
				RefreshToken string `json:"refresh_token"`
			}

			const workers = 4
			chains := make([]tokens, workers)
			for i := range chains {
				if resp, err := call("/v1/sessions", map[string]string{"subject": fmt.Sprintf("drain-%d", i)}, &chains[i]); err != nil || resp.StatusCode != http.StatusCreated {
					t.Fatalf("login: %v %v", resp, err)
				}
			}

			// The balancer: it polls /readyz and stops routing here at
			// the first answer that is not 200.
			var gone atomic.Bool
			var closeMarked atomic.Int64
			notReady := make(chan time.Time, 1)
			pollDone := make(chan struct{})
			go func() {
				defer close(pollDone)
				for !gone.Load() {
					resp, err := hc.Get(n.url + "/readyz")
					if err != nil {
						t.Errorf("/readyz refused before it answered 503: %v", err)
						gone.Store(true)
						notReady <- time.Time{}
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusServiceUnavailable {
						notReady <- time.Now()
						gone.Store(true)
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
			}()

			var wg sync.WaitGroup
			var served atomic.Int64
			failures := make(chan string, 64)
			for i := range workers {
				wg.Go(func() {
					tok := chains[i]
					for k := 0; !gone.Load(); k++ {
						path, in, out := "/v1/sessions/verify", any(map[string]string{"access_token": tok.AccessToken}), any(nil)
						var next tokens
						if k%4 == 3 {
							path, in, out = "/v1/sessions/refresh", map[string]string{"refresh_token": tok.RefreshToken}, &next
						}
						resp, err := call(path, in, out)
						switch {
						case err != nil:
							failures <- fmt.Sprintf("%s: %v", path, err)
							return
						case resp.StatusCode != http.StatusOK:
							failures <- fmt.Sprintf("%s = %d", path, resp.StatusCode)
							return
						}
						served.Add(1)
						if resp.Close {
							closeMarked.Add(1)
						}
						if next.RefreshToken != "" {
							tok = next
						}
					}
				})
			}
			for served.Load() < 50 {
				time.Sleep(10 * time.Millisecond)
			}
			signaled := time.Now()
			if err := n.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			var at time.Time
			select {
			case at = <-notReady:
			case <-time.After(30 * time.Second):
				gone.Store(true)
				t.Error("/readyz did not answer 503 within 30s of SIGTERM")
			}
			// Still serving while not ready: what a balancer that is
			// slower than the probe sends meanwhile is answered.
			if !at.IsZero() {
				if resp, err := call("/v1/sessions/verify", map[string]string{"access_token": chains[0].AccessToken}, nil); err != nil || resp.StatusCode != http.StatusOK {
					t.Errorf("verify after /readyz turned 503 = %v, %v; want 200 (the listener closed with the node not ready)", resp, err)
				} else if !resp.Close {
					t.Error("verify while draining: no Connection: close")
				}
			}
			wg.Wait()
			<-pollDone
			close(failures)
			for f := range failures {
				t.Errorf("request failed during the stop: %s", f)
			}
			select {
			case err := <-n.done:
				if err != nil {
					t.Errorf("sessiond exited with %v after SIGTERM\n%s", err, n.log.String())
				}
			case <-time.After(60 * time.Second):
				t.Fatal("sessiond did not stop within 60s of SIGTERM")
			}
			t.Logf("%d requests served (%d marked Connection: close); /readyz 503 %v after SIGTERM; exit %v after SIGTERM",
				served.Load(), closeMarked.Load(), at.Sub(signaled).Round(time.Millisecond), time.Since(signaled).Round(time.Millisecond))
		})
	}
}

// TestServe_SecondSignalEndsDelay: a second signal during the shutdown
// delay (Ctrl-C pressed again) ends it at once; the stop stays graceful
// (exit 0). The delay is ten minutes: only the second signal can end it
// within the test's bound.
func TestServe_SecondSignalEndsDelay(t *testing.T) {
	t.Parallel()
	n := startNode(t, nodeConfig{env: []string{"SESSIOND_SERVER_SHUTDOWN_DELAY=10m"}})
	if err := n.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(n.log.String(), `"msg":"shutting down"`); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no shutting down line within 30s of SIGINT\n%s", n.log.String())
		}
	}
	if resp, err := http.Get(n.url + "/readyz"); err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz during the delay = %v, %v; want 503", resp, err)
	} else {
		resp.Body.Close()
	}
	if err := n.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-n.done:
		if err != nil {
			t.Errorf("exit after a second SIGINT: %v\n%s", err, n.log.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("still running 60s after a second SIGINT, with a 10m shutdown delay\n%s", n.log.String())
	}
	if !strings.Contains(n.log.String(), "shutdown delay cut short by a second signal") {
		t.Errorf("no log line for the delay cut short\n%s", n.log.String())
	}
}
