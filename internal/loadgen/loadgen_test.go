package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRun_Scenarios(t *testing.T) {
	var requests atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.Header.Get("Authorization") != "Bearer k" || r.Method != http.MethodPost {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		BareHandler().ServeHTTP(w, r)
	}))
	defer srv.Close()
	tests := []struct {
		scenario Scenario
		ops      []string
		sessions int
	}{
		{Verify, []string{"verify"}, 5},
		{Refresh, []string{"refresh"}, 0},
		{Create, []string{"create"}, 0},
		{Mixed, []string{"create", "refresh", "verify"}, 5},
	}
	for _, tt := range tests {
		t.Run(string(tt.scenario), func(t *testing.T) {
			before := requests.Load()
			res, err := Run(context.Background(), Options{URL: srv.URL, APIKey: "k", Scenario: tt.scenario,
				Concurrency: 3, Duration: 300 * time.Millisecond, Sessions: 5})
			if err != nil {
				t.Fatal(err)
			}
			if res.Errors != 0 || len(res.ErrorsByKind) != 0 {
				t.Errorf("errors = %d %v; want none", res.Errors, res.ErrorsByKind)
			}
			if res.Requests < 100 { // a mixed run needs 100 per connection for a create
				t.Skipf("only %d requests in 300 ms: machine too busy to check the mix", res.Requests)
			}
			var names []string
			var sum int64
			for _, o := range res.Operations {
				names = append(names, o.Operation)
				sum += o.Requests
			}
			if strings.Join(names, ",") != strings.Join(tt.ops, ",") {
				t.Errorf("operations %v; want %v", names, tt.ops)
			}
			if sum != res.Requests {
				t.Errorf("operations add up to %d requests; total says %d", sum, res.Requests)
			}
			// The server saw the measured requests plus the setup ones.
			setup := int64(tt.sessions * 2) // create + warm-up verify each
			if tt.scenario == Refresh || tt.scenario == Mixed {
				setup += 3 // one chain per connection
			}
			if got := requests.Load() - before; got != res.Requests+setup {
				t.Errorf("server saw %d requests; the result counts %d measured + %d setup", got, res.Requests, setup)
			}
			if res.Sessions != tt.sessions {
				t.Errorf("Sessions = %d; want %d", res.Sessions, tt.sessions)
			}
			l := res.Latency
			if !(l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max && l.Max > 0 && res.RequestsPerSecond > 0) {
				t.Errorf("implausible figures: %+v, %.1f req/s", l, res.RequestsPerSecond)
			}
		})
	}
}

func TestRun_CountsErrors(t *testing.T) {
	t.Run("refused key", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusUnauthorized)
		}))
		defer srv.Close()
		res, err := Run(context.Background(), Options{URL: srv.URL, APIKey: "wrong", Scenario: Create,
			Concurrency: 2, Duration: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests == 0 || res.Errors != res.Requests || res.ErrorsByKind["401"] != res.Requests {
			t.Errorf("%d requests, %d errors %v; want every request counted as a 401", res.Requests, res.Errors, res.ErrorsByKind)
		}
	})
	t.Run("connections cut", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				io.CopyN(io.Discard, c, 10)
				c.Close()
			}
		}()
		res, err := Run(context.Background(), Options{URL: "http://" + ln.Addr().String(), Scenario: Create,
			Concurrency: 2, Duration: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests == 0 || res.ErrorsByKind["transport"] != res.Requests {
			t.Errorf("%d requests, errors %v; want every request a transport error", res.Requests, res.ErrorsByKind)
		}
	})
	t.Run("wrong answer to a refresh", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == pathRefresh {
				w.Write([]byte(`{"not":"tokens"}`))
				return
			}
			BareHandler().ServeHTTP(w, r)
		}))
		defer srv.Close()
		res, err := Run(context.Background(), Options{URL: srv.URL, Scenario: Refresh, Concurrency: 1,
			Duration: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		if res.ErrorsByKind["bad_answer"] == 0 {
			t.Errorf("errors %v; want bad_answer counted", res.ErrorsByKind)
		}
	})
}

func TestRun_SetupFails(t *testing.T) {
	tests := []struct {
		name     string
		scenario Scenario
		handler  http.HandlerFunc
	}{
		{"refused key", Verify, func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusUnauthorized) }},
		{"no access token", Verify, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{}`))
		}},
		{"token not verified", Mixed, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == pathVerify {
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			BareHandler().ServeHTTP(w, r)
		}},
		{"no refresh token", Refresh, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusCreated)
			w.Write([]byte(`{"access_token":"a","refresh_token":null}`))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			_, err := Run(context.Background(), Options{URL: srv.URL, Scenario: tt.scenario, Concurrency: 2,
				Duration: time.Second, Sessions: 3})
			if !errors.Is(err, ErrSetup) {
				t.Errorf("Run = %v; want ErrSetup", err)
			}
		})
	}
}

// A capped rate sends no more than the rate allows: each connection has
// one slot per interval, so a run of D seconds sends at most
// Rate·D + Concurrency requests, however fast the server answers.
func TestRun_Rate(t *testing.T) {
	srv := httptest.NewServer(BareHandler())
	defer srv.Close()
	const rate, conc, dur = 200.0, 4, 500 * time.Millisecond
	res, err := Run(context.Background(), Options{URL: srv.URL, Scenario: Verify,
		Concurrency: conc, Duration: dur, Sessions: 2, Rate: rate})
	if err != nil {
		t.Fatal(err)
	}
	if max := int64(rate*dur.Seconds()) + conc; res.Requests > max || res.Requests == 0 {
		t.Errorf("capped at %.0f/s for %v: %d requests; want 1 to %d", rate, dur, res.Requests, max)
	}
	if res.Errors != 0 {
		t.Errorf("errors = %v; want none", res.ErrorsByKind)
	}
}

func TestRun_InvalidOptions(t *testing.T) {
	good := Options{URL: "http://127.0.0.1:1", Scenario: Verify}
	tests := []struct {
		name string
		edit func(*Options)
	}{
		{"unknown scenario", func(o *Options) { o.Scenario = "delete" }},
		{"negative concurrency", func(o *Options) { o.Concurrency = -1 }},
		{"huge concurrency", func(o *Options) { o.Concurrency = 1 << 20 }},
		{"negative duration", func(o *Options) { o.Duration = -time.Second }},
		{"negative sessions", func(o *Options) { o.Sessions = -5 }},
		{"negative rate", func(o *Options) { o.Rate = -1 }},
		{"NaN rate", func(o *Options) { o.Rate = math.NaN() }},
		{"infinite rate", func(o *Options) { o.Rate = math.Inf(1) }},
		{"no URL", func(o *Options) { o.URL = "" }},
		{"ftp URL", func(o *Options) { o.URL = "ftp://127.0.0.1/" }},
		{"URL with credentials", func(o *Options) { o.URL = "http://u:p@127.0.0.1/" }},
		{"URL with query", func(o *Options) { o.URL = "http://127.0.0.1/?x=1" }},
		{"unparsable URL", func(o *Options) { o.URL = "http://[::1" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := good
			tt.edit(&o)
			if _, err := Run(context.Background(), o); !errors.Is(err, ErrInvalidOptions) {
				t.Errorf("Run = %v; want ErrInvalidOptions", err)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	tests := []struct {
		p    float64
		want time.Duration
	}{
		{0.50, 50 * time.Millisecond},
		{0.90, 90 * time.Millisecond},
		{0.99, 99 * time.Millisecond},
		{1, 100 * time.Millisecond},
		{0, time.Millisecond},
	}
	for _, tt := range tests {
		if got := percentile(d, tt.p); got != tt.want {
			t.Errorf("percentile(1..100 ms, %v) = %v; want %v", tt.p, got, tt.want)
		}
	}
	if got := percentile([]time.Duration{7}, 0.99); got != 7 {
		t.Errorf("percentile of one sample = %v; want it", got)
	}
	if s := summarise(nil); s != (Latency{}) {
		t.Errorf("summarise(nil) = %+v; want zero", s)
	}
	s := summarise([]time.Duration{3 * time.Millisecond, time.Millisecond, 2 * time.Millisecond})
	if s.Mean != 2 || s.P50 != 2 || s.Max != 3 {
		t.Errorf("summarise(3,1,2 ms) = %+v; want mean 2, p50 2, max 3", s)
	}
}

func TestWriteText(t *testing.T) {
	res := &Result{Scenario: Mixed, URL: "http://x", Concurrency: 2, Seconds: 1, Sessions: 4,
		Stats: Stats{Requests: 10, Errors: 1, ErrorsByKind: map[string]int64{"401": 1}},
		Operations: []OperationStats{{Operation: "create", Stats: Stats{Requests: 1}},
			{Operation: "verify", Stats: Stats{Requests: 9, Errors: 1, ErrorsByKind: map[string]int64{"401": 1}}}}}
	var b strings.Builder
	if err := res.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"sessiond bench mixed: http://x, 2 connections, 1.0s, 4 sessions\n", "total", "(401: 1)", "create", "verify"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text output lacks %q:\n%s", want, b.String())
		}
	}
	res.Client = true
	b.Reset()
	if err := res.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if want := "4 sessions, with a browser's client\n"; !strings.Contains(b.String(), want) {
		t.Errorf("text output with a client lacks %q:\n%s", want, b.String())
	}
}

// TestRun_Client: with Client every request body, of every kind, is JSON
// carrying the one browser's client; without it none carries a client.
func TestRun_Client(t *testing.T) {
	for _, withClient := range []bool{true, false} {
		var bad, seen atomic.Int64
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var body struct {
				Client *struct {
					IP        string `json:"ip"`
					UserAgent string `json:"user_agent"`
				} `json:"client"`
			}
			raw, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(strings.NewReader(string(raw)))
			seen.Add(1)
			if err := json.Unmarshal(raw, &body); err != nil ||
				withClient != (body.Client != nil && body.Client.IP == "198.51.100.23" && strings.HasPrefix(body.Client.UserAgent, "Mozilla/5.0 ")) {
				bad.Add(1)
			}
			BareHandler().ServeHTTP(w, r)
		}))
		res, err := Run(context.Background(), Options{URL: srv.URL, APIKey: "k", Scenario: Mixed,
			Concurrency: 2, Duration: 200 * time.Millisecond, Sessions: 3, Client: withClient})
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		if res.Client != withClient {
			t.Errorf("Result.Client = %v; want %v", res.Client, withClient)
		}
		if seen.Load() == 0 || bad.Load() != 0 {
			t.Errorf("client %v: %d of %d request bodies without the expected client", withClient, bad.Load(), seen.Load())
		}
	}
}
