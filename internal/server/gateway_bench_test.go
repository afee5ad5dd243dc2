package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/servertest"
)

// The gateway's forward-auth check over HTTP, measured as verify is
// (bench_test.go): the real server in process with its JSON request log
// (discarded), against a bare handler, 32 keep-alive clients, the same
// cookies. Run both in one go:
//
//	go test ./internal/server -run x -bench 'HTTP(CheckBare|GatewayCheck)' -benchtime 20000x -count 6

func startGateway(b *testing.B) string {
	b.Helper()
	return servertest.Run(b, server.Options{Config: servertest.GatewayConfig(b), APIKey: benchKey, InsecureDev: true})
}

// gatewayCookies creates 500 sessions of 100 subjects and returns their
// access cookies (name=value), as a backend relays them with set_cookie.
func gatewayCookies(b *testing.B, base string) []string {
	var out []string
	for i := range 500 {
		body := fmt.Sprintf(`{"subject":"user-%d","set_cookie":true}`, i%100)
		res := apiRequest(b, http.MethodPost, base+"/v1/sessions", benchKey, "application/json", strings.NewReader(body))
		var v struct {
			SetCookie []string `json:"set_cookie"`
		}
		err := json.NewDecoder(res.Body).Decode(&v)
		res.Body.Close()
		if err != nil || len(v.SetCookie) == 0 {
			b.Fatalf("create: %v %d", err, res.StatusCode)
		}
		c, _, _ := strings.Cut(v.SetCookie[0], ";")
		out = append(out, c)
	}
	return out
}

// driveGet sends GET url with cookies[i] round-robin from 32 goroutines.
func driveGet(b *testing.B, url string, cookies []string) {
	driveRequests(b, func(i int) *http.Request {
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		req.Header.Set("Cookie", cookies[i%len(cookies)])
		req.Header.Set("User-Agent", "bench")
		return req
	})
}

// BenchmarkHTTPCheckBare is the baseline: an empty 200 from a bare handler.
func BenchmarkHTTPCheckBare(b *testing.B) {
	addr := serveBare(b, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	driveGet(b, "http://"+addr+"/sessiond/check", gatewayCookies(b, startGateway(b)))
}

// BenchmarkHTTPGatewayCheck is GET /sessiond/check with a valid cookie.
func BenchmarkHTTPGatewayCheck(b *testing.B) {
	base := startGateway(b)
	cookies := gatewayCookies(b, base)
	for _, c := range cookies { // steady state: each token verified once
		req, _ := http.NewRequest(http.MethodGet, base+"/sessiond/check", nil)
		req.Header.Set("Cookie", c)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		res.Body.Close()
	}
	driveGet(b, base+"/sessiond/check", cookies)
}
