package gatewaytest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
)

// TestPerformance measures, with wrk, GET /sessiond/check with a valid
// cookie on the shipped binary against a bare net/http handler in the same
// run, and a page through NGINX with and without auth_request. It is a
// measurement, not a check (no threshold): run it on purpose,
//
//	SESSIOND_PERF=1 go test ./gatewaytest -run TestPerformance -v
//
// and read the table it logs (docs/gateway.md, Performance).
func TestPerformance(t *testing.T) {
	if os.Getenv("SESSIOND_PERF") != "1" {
		t.Skip("set SESSIOND_PERF=1 to measure")
	}
	bins := need(t, "nginx", "wrk")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()
	ports := testenv.FreePorts(t, 3)
	sd, ngx := ports[0], ports[1]
	dir := t.TempDir()
	st := &stack{sessiond: "http://" + sd, logs: map[string]*testenv.SyncBuffer{}}
	defer st.dump(t)

	// The bare handler: an empty 200, as a valid check answers (without
	// the identity headers), served by net/http in this process.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bare := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusOK)
	})}
	go bare.Serve(ln)
	defer bare.Close()
	bareAddr := ln.Addr().String()

	bin := testenv.Sessiond(t)
	cfg := filepath.Join(dir, "sessiond.yaml")
	writeFile(t, cfg, fmt.Sprintf(`environment: development
strategy: hybrid
server: {listen: %s, data_dir: %s}
store: {driver: memory}
lifetimes: {access: 15m}
cookie: {name: sessiond, refresh_name: sessiond-refresh, secure: false}
gateway: {enabled: true, login_url: /login}
`, sd, filepath.Join(dir, "data")))
	// The request log (one JSON line per request) goes to /dev/null, not
	// through a pipe into this process, which serves the bare handler.
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	cmd := exec.CommandContext(ctx, bin, "serve", "--config", cfg, "--insecure-dev")
	cmd.Env = append(os.Environ(), "SESSIOND_API_KEY="+apiKey)
	cmd.Stdout, cmd.Stderr = devnull, devnull
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() }()
	waitHTTP(t, ctx, st, "sessiond", st.sessiond+"/healthz")

	// A session, as the cookie a backend would relay.
	var created struct {
		SetCookie []string `json:"set_cookie"`
	}
	testenv.CallAPI(t, http.MethodPost, st.sessiond+"/v1/sessions", apiKey, `{"subject":"alice","set_cookie":true}`, &created)
	if len(created.SetCookie) == 0 {
		t.Fatal("no set_cookie")
	}
	cookie, _, _ := strings.Cut(created.SetCookie[0], ";")

	// NGINX: the same page (the bare handler) with and without auth_request.
	ngxDir := filepath.Join(dir, "nginx")
	conf := testenv.NginxConf("warn", fmt.Sprintf(`    upstream page     { server %s; keepalive 64; }
    upstream sessiond { server %s; keepalive 64; }
    server {
        listen %s;
        location = /_sessiond_check {
            internal;
            proxy_pass http://sessiond/sessiond/check;
            proxy_pass_request_body off;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URI $request_uri;
        }
        location /with {
            auth_request /_sessiond_check;
            auth_request_set $sessiond_subject $upstream_http_x_sessiond_subject;
            proxy_set_header X-Sessiond-Subject $sessiond_subject;
            proxy_pass http://page;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
        location /without {
            proxy_pass http://page;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
`, bareAddr, sd, ngx))
	st.start(t, ctx, "nginx", nil, bins["nginx"], testenv.NginxArgs(t, ngxDir, conf)...)
	waitHTTP(t, ctx, st, "nginx", "http://"+ngx+"/without")
	for _, u := range []string{st.sessiond + "/sessiond/check", "http://" + ngx + "/with"} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		req.Header.Set("Cookie", cookie)
		res, err := http.DefaultClient.Do(req)
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("GET %s with the cookie = %v %v; want 200", u, res, err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}

	targets := []struct{ name, url string }{
		{"bare net/http handler", "http://" + bareAddr + "/"},
		{"GET /sessiond/check, valid cookie", st.sessiond + "/sessiond/check"},
		{"GET /healthz (same server, no session)", st.sessiond + "/healthz"},
		{"NGINX page without auth_request", "http://" + ngx + "/without"},
		{"NGINX page with auth_request", "http://" + ngx + "/with"},
	}
	rounds := 3
	if n, err := strconv.Atoi(os.Getenv("SESSIOND_PERF_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	results := map[string][]float64{}
	lat := map[string][]string{}
	for range rounds { // interleaved, so drift in the machine's load hits all alike
		for _, tg := range targets {
			out, err := exec.CommandContext(ctx, bins["wrk"], "-t2", "-c32", "-d5s", "--latency", "-H", "Cookie: "+cookie, tg.url).CombinedOutput()
			if err != nil {
				t.Fatalf("wrk %s: %v\n%s", tg.url, err, out)
			}
			m := regexp.MustCompile(`Requests/sec:\s+([\d.]+)`).FindSubmatch(out)
			if m == nil || strings.Contains(string(out), "Non-2xx") {
				t.Fatalf("wrk %s:\n%s", tg.url, out)
			}
			rps, _ := strconv.ParseFloat(string(m[1]), 64)
			results[tg.name] = append(results[tg.name], rps)
			if p := regexp.MustCompile(`(?m)^\s+99%\s+(\S+)`).FindSubmatch(out); p != nil {
				lat[tg.name] = append(lat[tg.name], string(p[1]))
			}
		}
	}
	median := func(v []float64) float64 {
		s := slices.Clone(v)
		slices.Sort(s)
		return s[len(s)/2]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "wrk -t2 -c32 -d5s, %d interleaved rounds, median req/s (all rounds; p99 latency per round)\n", rounds)
	for _, tg := range targets {
		fmt.Fprintf(&b, "%-36s %9.0f  %v  p99 %v\n", tg.name, median(results[tg.name]), results[tg.name], lat[tg.name])
	}
	fmt.Fprintf(&b, "check / bare: %.2f\n", median(results[targets[1].name])/median(results[targets[0].name]))
	fmt.Fprintf(&b, "NGINX with / without auth_request: %.2f\n", median(results[targets[4].name])/median(results[targets[3].name]))
	t.Log("\n" + b.String())
}
