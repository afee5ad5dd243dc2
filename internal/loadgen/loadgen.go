// Package loadgen drives a running sessiond server over HTTP with
// concurrent keep-alive connections and measures throughput and latency:
// the engine of `sessiond bench`. It also holds the bare handler the
// server's figures are compared with (BareHandler).
package loadgen

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Scenario names a load.
type Scenario string

// The scenarios. Verify, Refresh and Create send one kind of request;
// Mixed interleaves them as an application does: per connection, out of
// every 100 requests, 1 creates a session, 10 refresh and 89 verify.
const (
	Verify  Scenario = "verify"
	Refresh Scenario = "refresh"
	Create  Scenario = "create"
	Mixed   Scenario = "mixed"
)

// Scenarios lists every scenario, in the order help texts show them.
var Scenarios = []Scenario{Verify, Refresh, Create, Mixed}

// API paths, relative to the base URL.
const (
	pathCreate  = "/v1/sessions"
	pathVerify  = "/v1/sessions/verify"
	pathRefresh = "/v1/sessions/refresh"
	pathCheck   = "/sessiond/check" // the gateway's forward-auth route, default prefix
)

// ErrInvalidOptions: Run was given options it cannot run with.
var ErrInvalidOptions = errors.New("loadgen: invalid options")

// ErrSetup: the sessions a scenario needs could not be created (a wrong
// API key, a server that refuses logins).
var ErrSetup = errors.New("loadgen: setup failed")

// Options configure Run.
type Options struct {
	// URL is the server's base URL (http or https). Required.
	URL string
	// APIKey is sent as `Authorization: Bearer <key>`.
	APIKey string
	// Scenario is the load. Required.
	Scenario Scenario
	// Concurrency is the number of connections, each with one request in
	// flight. Default 32.
	Concurrency int
	// Duration is how long the load runs. Default 10 s.
	Duration time.Duration
	// Sessions is how many sessions the verify and mixed scenarios create
	// beforehand and cycle through. Default 200.
	Sessions int
	// Timeout bounds each request. Default 10 s.
	Timeout time.Duration
	// Rate caps the requests sent per second, over all connections; 0
	// sends each request as soon as the last one is answered. A capped
	// rate is for long runs (a soak) that watch the server's resources
	// rather than its limit.
	Rate float64
	// Client sends every request as from one browser, with a desktop
	// Chrome User-Agent and a documentation IP address, as a backend
	// relaying its users' clients does. Without it requests carry no
	// client, so the server skips the User-Agent parsing and device
	// checks, and stores less, than it does for real traffic.
	Client bool
}

// clientJSON is the client Options.Client sends: one browser, so no
// device-change rule fires.
const clientJSON = `,"client":{"ip":"198.51.100.23","user_agent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"}`

// Result is what a run measured. Setup and warm-up requests (creating the
// sessions to verify, verifying each once so its signature check is
// cached) are not counted.
type Result struct {
	Scenario    Scenario `json:"scenario"`
	URL         string   `json:"url"`
	Concurrency int      `json:"concurrency"`
	Sessions    int      `json:"sessions,omitempty"`
	Client      bool     `json:"client,omitempty"`
	// Seconds is the measured wall time, from the first request to the
	// last answer.
	Seconds float64 `json:"duration_seconds"`
	Stats
	// Operations breaks the run down by request kind, in the order
	// create, refresh, verify (one entry unless the scenario is mixed).
	Operations []OperationStats `json:"operations"`
}

// Stats count and time a set of requests. Requests include failed ones;
// Errors counts answers with an unexpected status and transport failures,
// broken down in ErrorsByKind by status code ("401") or "transport".
type Stats struct {
	Requests          int64            `json:"requests"`
	Errors            int64            `json:"errors"`
	RequestsPerSecond float64          `json:"requests_per_second"`
	Latency           Latency          `json:"latency_ms"`
	ErrorsByKind      map[string]int64 `json:"errors_by_kind"`
}

// OperationStats are the Stats of one kind of request.
type OperationStats struct {
	Operation string `json:"operation"`
	Stats
}

// Run creates what the scenario needs, then keeps Concurrency requests in
// flight for Duration (or until ctx ends) and returns what it measured.
// It fails with ErrSetup when the preparation fails; failures during the
// measured run are counted in the Result, not returned.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Concurrency == 0 {
		o.Concurrency = 32
	}
	if o.Duration == 0 {
		o.Duration = 10 * time.Second
	}
	if o.Sessions == 0 {
		o.Sessions = 200
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	switch {
	case !slices.Contains(Scenarios, o.Scenario):
		return nil, fmt.Errorf("%w: scenario %q is not verify, refresh, create or mixed", ErrInvalidOptions, o.Scenario)
	case o.Concurrency < 1 || o.Concurrency > 10000:
		return nil, fmt.Errorf("%w: concurrency must be 1 to 10000", ErrInvalidOptions)
	case o.Duration < 0 || o.Sessions < 1 || o.Sessions > 1_000_000 || o.Timeout < 0:
		return nil, fmt.Errorf("%w: duration, sessions (1 to 1000000) and timeout must be positive", ErrInvalidOptions)
	case !(o.Rate >= 0 && o.Rate <= 1e7): // also refuses NaN
		return nil, fmt.Errorf("%w: rate must be 0 (no cap) to 10000000 requests/s", ErrInvalidOptions)
	}
	t, err := newTarget(o.URL, o.APIKey, o.Timeout)
	if err != nil {
		return nil, err
	}
	r := &run{o: o, t: t, run: rand.Text()[:8]}
	if err := r.setup(ctx); err != nil {
		return nil, err
	}
	return r.measure(ctx), nil
}

// run is one Run's state.
type run struct {
	o      Options
	t      *target
	run    string    // random tag in the subjects this run creates
	verify [][]byte  // verify request bodies, one per session
	chains []*string // each worker's first refresh token
}

// tokens is the part of a token answer the load needs.
type tokens struct {
	AccessToken  string  `json:"access_token"`
	RefreshToken *string `json:"refresh_token"`
}

func (r *run) subject(worker int, n int64) []byte {
	return r.body(`{"subject":"bench-` + r.run + "-" + strconv.Itoa(worker) + "-" + strconv.FormatInt(n, 10) + `"`)
}

// body closes the JSON object open, adding the client with Options.Client.
func (r *run) body(open string) []byte {
	if r.o.Client {
		return []byte(open + clientJSON + "}")
	}
	return []byte(open + "}")
}

// login creates a session and returns its tokens.
func (r *run) login(ctx context.Context, c *conn, worker int, n int64) (tokens, error) {
	status, body, err := c.post(ctx, pathCreate, r.subject(worker, n))
	if err != nil {
		return tokens{}, err
	}
	if status != 201 {
		return tokens{}, fmt.Errorf("create session: status %d: %s", status, firstLine(body))
	}
	var tk tokens
	if err := json.Unmarshal(body, &tk); err != nil || tk.AccessToken == "" {
		return tokens{}, fmt.Errorf("create session: answer has no access_token")
	}
	return tk, nil
}

func firstLine(b []byte) string {
	if len(b) > 200 {
		b = b[:200]
	}
	return string(b)
}

// setup creates the sessions to verify and verifies each once, so the
// measured run sees the server's steady state (every token's signature
// already checked), and each worker's refresh chain; in parallel, over
// Concurrency connections.
func (r *run) setup(ctx context.Context) error {
	n := 0
	if r.o.Scenario == Verify || r.o.Scenario == Mixed {
		r.verify = make([][]byte, r.o.Sessions)
		n = r.o.Sessions
	}
	if r.o.Scenario == Refresh || r.o.Scenario == Mixed {
		r.chains = make([]*string, r.o.Concurrency)
		n += r.o.Concurrency
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs error
	)
	workers := min(r.o.Concurrency, n)
	for w := range workers {
		wg.Go(func() {
			c := r.t.newConn()
			defer c.close()
			for i := w; i < n; i += workers {
				if err := r.prepare(ctx, c, w, i); err != nil {
					mu.Lock()
					errs = err
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if errs != nil {
		return fmt.Errorf("%w: %v", ErrSetup, errs)
	}
	return nil
}

// prepare creates session i: the first len(r.verify) are sessions to
// verify, the next ones the workers' refresh chains.
func (r *run) prepare(ctx context.Context, c *conn, w, i int) error {
	tk, err := r.login(ctx, c, w, int64(i))
	if err != nil {
		return err
	}
	if i >= len(r.verify) {
		if tk.RefreshToken == nil {
			return errors.New("the server issues no refresh tokens")
		}
		r.chains[i-len(r.verify)] = tk.RefreshToken
		return nil
	}
	r.verify[i] = r.body(`{"access_token":"` + tk.AccessToken + `"`)
	status, _, err := c.post(ctx, pathVerify, r.verify[i])
	if err != nil {
		return err
	}
	if status != 200 {
		return fmt.Errorf("verify a new session: status %d", status)
	}
	return nil
}

// op indexes the kinds of request.
type op int

const (
	opCreate op = iota
	opRefresh
	opVerify
	numOps
)

var opNames = [numOps]string{"create", "refresh", "verify"}

// tally is one worker's record of one kind of request.
type tally struct {
	lat    []time.Duration
	errors map[string]int64
}

func (t *tally) fail(kind string) {
	if t.errors == nil {
		t.errors = map[string]int64{}
	}
	t.errors[kind]++
}

// worker is one connection's loop.
type worker struct {
	r       *run
	id      int
	c       *conn
	tallies [numOps]tally
	n       int64   // requests sent
	refresh *string // the worker's own refresh chain
}

func (r *run) measure(ctx context.Context) *Result {
	ctx, cancel := context.WithTimeout(ctx, r.o.Duration)
	defer cancel()
	deadline, _ := ctx.Deadline()
	workers := make([]*worker, r.o.Concurrency)
	for i := range workers {
		workers[i] = &worker{r: r, id: i, c: r.t.newConn()}
		if r.chains != nil {
			workers[i].refresh = r.chains[i]
		}
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() {
			defer w.c.close()
			w.loop(ctx, deadline)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	res := &Result{Scenario: r.o.Scenario, URL: r.o.URL, Concurrency: r.o.Concurrency, Client: r.o.Client, Seconds: elapsed.Seconds()}
	if r.verify != nil {
		res.Sessions = r.o.Sessions
	}
	var all []time.Duration
	allErrors := map[string]int64{}
	for o := range numOps {
		var lat []time.Duration
		errs := map[string]int64{}
		for _, w := range workers {
			lat = append(lat, w.tallies[o].lat...)
			for k, v := range w.tallies[o].errors {
				errs[k] += v
			}
		}
		if len(lat) == 0 {
			continue
		}
		all = append(all, lat...)
		for k, v := range errs {
			allErrors[k] += v
		}
		res.Operations = append(res.Operations, OperationStats{Operation: opNames[o], Stats: stats(lat, errs, elapsed)})
	}
	res.Stats = stats(all, allErrors, elapsed)
	return res
}

func stats(lat []time.Duration, errs map[string]int64, elapsed time.Duration) Stats {
	s := Stats{Requests: int64(len(lat)), ErrorsByKind: errs}
	for _, v := range errs {
		s.Errors += v
	}
	if elapsed > 0 {
		s.RequestsPerSecond = float64(len(lat)) / elapsed.Seconds()
	}
	s.Latency = summarise(lat)
	return s
}

// loop sends requests until the deadline. A request still in flight at the
// deadline is completed and counted.
func (w *worker) loop(ctx context.Context, deadline time.Time) {
	for i := range w.tallies {
		w.tallies[i].lat = make([]time.Duration, 0, 4096)
	}
	// With a capped rate each connection sends on its own schedule,
	// offset from the others so the requests spread over each interval.
	var interval time.Duration
	var next time.Time
	if w.r.o.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(w.r.o.Concurrency) / w.r.o.Rate)
		next = time.Now().Add(interval * time.Duration(w.id) / time.Duration(w.r.o.Concurrency))
	}
	for ctx.Err() == nil {
		if interval > 0 {
			if !w.pace(ctx, next) {
				return
			}
			next = next.Add(interval)
		}
		o, path, body := w.next()
		start := time.Now()
		status, answer, err := w.c.post(ctx, path, body)
		end := time.Now()
		t := &w.tallies[o]
		t.lat = append(t.lat, end.Sub(start))
		w.n++
		switch {
		case err != nil:
			t.fail("transport")
			if ctx.Err() == nil && !end.After(deadline) {
				time.Sleep(time.Millisecond) // a refused connection must not spin
			}
		case o == opCreate && status != 201, o != opCreate && status != 200:
			t.fail(strconv.Itoa(status))
			if o == opRefresh {
				w.refresh = nil // the chain may be spent; start a new one
			}
		case o != opVerify:
			var tk tokens
			if json.Unmarshal(answer, &tk) != nil || tk.AccessToken == "" {
				t.fail("bad_answer")
				w.refresh = nil
				break
			}
			w.refresh = tk.RefreshToken
		}
	}
}

// pace waits until the worker's next slot; false when ctx ends first.
func (w *worker) pace(ctx context.Context, at time.Time) bool {
	d := time.Until(at)
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// next picks the worker's next request.
func (w *worker) next() (op, string, []byte) {
	r := w.r
	kind := opVerify
	switch r.o.Scenario {
	case Create:
		kind = opCreate
	case Refresh:
		kind = opRefresh
	case Mixed:
		switch w.n % 100 {
		case 0:
			kind = opCreate
		case 5, 15, 25, 35, 45, 55, 65, 75, 85, 95:
			kind = opRefresh
		}
	}
	if kind == opRefresh && w.refresh == nil {
		kind = opCreate // a broken chain starts again with a login, measured as one
	}
	switch kind {
	case opCreate:
		return opCreate, pathCreate, r.subject(w.id, w.n)
	case opRefresh:
		return opRefresh, pathRefresh, r.body(`{"refresh_token":"` + *w.refresh + `"`)
	}
	return opVerify, pathVerify, r.verify[int(w.n+int64(w.id)*7)%len(r.verify)]
}
