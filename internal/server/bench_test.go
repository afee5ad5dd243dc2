package server_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/servertest"
)

// The HTTP benchmarks run the real server (server.Run) and a bare net/http
// handler in this process on loopback, and drive each with the same load:
// 32 concurrent keep-alive clients. ns/op is the inverse of throughput, so
// bare ns/op ÷ verify ns/op is verify's share of the bare handler's
// throughput. The client load runs on the same two cores, as the same
// generator does for both.

const benchKey = "sdak_bench_0123456789abcdefghijklmnopqrstuvwxyz"

func startServer(b *testing.B, strategy sessiond.Strategy) string {
	b.Helper()
	cfg := servertest.Config(b)
	cfg.Strategy = strategy
	return servertest.Run(b, server.Options{Config: cfg, APIKey: benchKey})
}

func httpClient() *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, MaxConnsPerHost: 64}, Timeout: 10 * time.Second}
}

// drive posts bodies[i] round-robin from 32 goroutines.
func drive(b *testing.B, url string, key string, bodies [][]byte) {
	driveRequests(b, func(i int) *http.Request {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(bodies[i%len(bodies)]))
		req.Header.Set("Content-Type", "application/json")
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		return req
	})
}

// driveRequests sends newRequest(i) for i = 1, 2, … from 32 goroutines
// (keep-alive clients) and fails on any answer but 200.
func driveRequests(b *testing.B, newRequest func(i int) *http.Request) {
	hc := httpClient()
	var n atomic.Int64
	b.SetParallelism(16) // × GOMAXPROCS(2) = 32 clients
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := hc.Do(newRequest(int(n.Add(1))))
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}

// serveBare serves h on a loopback port until the benchmark ends and
// returns its address.
func serveBare(b *testing.B, h http.HandlerFunc) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	b.Cleanup(func() { srv.Close() })
	return ln.Addr().String()
}

// BenchmarkHTTPBare is the baseline: a bare net/http handler answering a
// fixed JSON body of the size of a verify answer.
func BenchmarkHTTPBare(b *testing.B) {
	body := []byte(`{"active":true,"session":{"id":"uj4x4wbqvvdo3yauygr7hk34gq","subject":"alice","strategy":"hybrid","created_at":"2026-11-26T13:10:50.194575Z","last_active_at":"2026-11-26T13:10:50.194575Z","idle_expires_at":"2026-11-26T14:40:50.194575Z","expires_at":"2026-11-26T21:10:50.194575Z","persistent":false,"client":{"ip":"","user_agent":""},"claims":{}}}`)
	addr := serveBare(b, func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	})
	// The same requests the verify benchmark sends: same token sizes, same
	// Authorization header.
	drive(b, "http://"+addr+"/", benchKey, verifyBodies(b, startServer(b, sessiond.StrategyHybrid)))
}

func benchVerify(b *testing.B, strategy sessiond.Strategy) {
	base := startServer(b, strategy)
	bodies := verifyBodies(b, base)
	// Steady state: each token has been seen once (its one signature check,
	// about 70 µs, is then amortised over the token's lifetime of requests).
	hc := httpClient()
	for _, body := range bodies {
		req, _ := http.NewRequest(http.MethodPost, base+"/v1/sessions/verify", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+benchKey)
		resp, err := hc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	drive(b, base+"/v1/sessions/verify", benchKey, bodies)
}

// verifyBodies creates 500 sessions of 100 subjects on the server at base
// and returns verify request bodies for their access tokens: many
// sessions, each token presented many times, as real clients do.
func verifyBodies(b *testing.B, base string) [][]byte {
	c, err := client.New(base, benchKey)
	if err != nil {
		b.Fatal(err)
	}
	var bodies [][]byte
	for i := range 500 {
		iss, err := c.CreateSession(context.Background(), client.CreateRequest{Subject: fmt.Sprintf("user-%d", i%100)})
		if err != nil {
			b.Fatal(err)
		}
		bodies = append(bodies, []byte(`{"access_token":"`+string(iss.AccessToken)+`"}`))
	}
	return bodies
}

func BenchmarkHTTPVerifyHybrid(b *testing.B)   { benchVerify(b, sessiond.StrategyHybrid) }
func BenchmarkHTTPVerifyDatabase(b *testing.B) { benchVerify(b, sessiond.StrategyDatabase) }

func TestMain(m *testing.M) { os.Exit(m.Run()) }
