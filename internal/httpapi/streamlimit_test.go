package httpapi_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/verifier/stream"
)

// newLimitedStreamEnv is a stream server on which one API key may hold
// limit revocation streams at once (0: any number).
func newLimitedStreamEnv(t *testing.T, limit int, auth func(context.Context, sessiond.Secret) (apikey.Key, error), opts func(*httpapi.Options)) *streamEnv {
	t.Helper()
	return newStreamEnvOpts(t, auth, nil, func(o *httpapi.Options) {
		o.RateLimits.StreamsPerAPIKey = limit
		if opts != nil {
			opts(o)
		}
	})
}

// wantStreamRefused checks that c was refused for its key's limit: 429
// too_many_requests with a Retry-After of whole seconds, as openapi.json
// documents it.
func wantStreamRefused(t *testing.T, op string, c *conn) {
	t.Helper()
	if c.resp.StatusCode != http.StatusTooManyRequests {
		// Not read: an open stream's body never ends.
		t.Errorf("%s status = %d; want 429", op, c.resp.StatusCode)
		return
	}
	body, _ := io.ReadAll(c.resp.Body)
	r := &response{status: c.resp.StatusCode, header: c.resp.Header, body: body}
	wantProblem(t, op, r, http.StatusTooManyRequests, "too_many_requests", "revocation streams")
	if secs, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || secs < 1 {
		t.Errorf("%s Retry-After = %q; want a positive number of seconds", op, r.header.Get("Retry-After"))
	}
	if errs := checkContract(t, c.resp.Request, nil, c.resp, body); len(errs) > 0 {
		t.Errorf("%s does not match openapi.json: %s", op, strings.Join(errs, "; "))
	}
}

// wantStreamOpen checks that c is an open stream (200) and reads its
// first heartbeat.
func wantStreamOpen(t *testing.T, op string, c *conn) {
	t.Helper()
	if c.resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(c.resp.Body)
		t.Fatalf("%s status = %d; want 200 (body %s)", op, c.resp.StatusCode, body)
	}
	c.next()
}

// reopen opens streams with key until one is let in, each refused one
// with 429: the server sees a client's disconnect a moment after the
// client made it. It fails the test if none is let in within 10 s (a bound
// on waiting, not a measurement).
func (e *streamEnv) reopen(key string) *conn {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		c := e.openWith(key, "")
		if c.resp.StatusCode == http.StatusOK {
			return c
		}
		if c.resp.StatusCode != http.StatusTooManyRequests {
			e.t.Fatalf("reopen status = %d; want 200, or 429 until the closed stream's slot is free", c.resp.StatusCode)
		}
		c.close()
		if time.Now().After(deadline) {
			e.t.Fatal("a closed stream's slot is still taken after 10s")
		}
		time.Sleep(5 * time.Millisecond) // give the server's read loop a turn
	}
}

// TestRevocationStream_PerKeyLimit: one API key holds at most the limit
// of streams on a node; the next answers 429 with Retry-After, another key
// is not affected, and a stream that ends, however it ends, frees its
// slot.
func TestRevocationStream_PerKeyLimit(t *testing.T) {
	t.Parallel()
	const limit = 3
	verify := string(scopedKey(apikey.ScopeVerify))

	t.Run("over the limit", func(t *testing.T) {
		t.Parallel()
		e := newLimitedStreamEnv(t, limit, authenticate, nil)
		var open []*conn
		for i := range limit {
			c := e.openWith(verify, "")
			wantStreamOpen(t, "stream "+strconv.Itoa(i+1), c)
			open = append(open, c)
		}
		wantStreamRefused(t, "stream over the limit", e.openWith(verify, ""))
		// A cursor does not get around it.
		wantStreamRefused(t, "stream over the limit, resuming", e.openWith(verify, stream.CursorAt(e.clock.Now())))
		// Other keys have limits of their own.
		other := e.openWith(string(scopedKey(apikey.ScopeAdmin)), "")
		wantStreamOpen(t, "another key's stream", other)
		// The open streams still carry events.
		id := e.session("ann")
		e.revoke(id)
		for i, c := range open {
			if r, _ := c.revoked(); r.SessionID != string(id) {
				t.Errorf("stream %d: revoked %q; want %q", i+1, r.SessionID, id)
			}
		}
		// The client goes away: its slot is free again, and only its.
		open[0].close()
		wantStreamOpen(t, "stream after one closed", e.reopen(verify))
		wantStreamRefused(t, "stream over the limit again", e.openWith(verify, ""))
	})

	t.Run("admin key", func(t *testing.T) {
		t.Parallel()
		e := newLimitedStreamEnv(t, 1, authenticate, nil)
		wantStreamOpen(t, "admin stream", e.openWith(apiKey, ""))
		wantStreamRefused(t, "second admin stream", e.openWith(apiKey, ""))
	})

	t.Run("reset", func(t *testing.T) {
		t.Parallel()
		e := newLimitedStreamEnv(t, limit, authenticate, nil)
		// Streams that end with event: reset, one after another, more
		// than the limit: each gave its slot back.
		for i := range limit + 2 {
			c := e.openWith(verify, stream.CursorAt(e.clock.Now().Add(-25*time.Hour)))
			if c.resp.StatusCode != http.StatusOK {
				t.Fatalf("reset stream %d status = %d; want 200", i+1, c.resp.StatusCode)
			}
			if b := c.next(); b.Name != stream.EventReset {
				t.Fatalf("reset stream %d: first block %+v; want event reset", i+1, b)
			}
			for range c.blocks {
			}
		}
		for i := range limit {
			wantStreamOpen(t, "stream "+strconv.Itoa(i+1)+" after resets", e.openWith(verify, ""))
		}
		wantStreamRefused(t, "stream over the limit after resets", e.openWith(verify, ""))
	})

	t.Run("server shutdown", func(t *testing.T) {
		t.Parallel()
		e := newLimitedStreamEnv(t, limit, authenticate, nil)
		var open []*conn
		for range limit {
			c := e.openWith(verify, "")
			wantStreamOpen(t, "stream", c)
			open = append(open, c)
		}
		close(e.closer)
		for _, c := range open {
			for range c.blocks {
			}
		}
		// A stream opened now ends at once (the server is closing), but
		// is let in: the slots of those that ended are free.
		c := e.openWith(verify, "")
		if c.resp.StatusCode != http.StatusOK {
			t.Errorf("stream after shutdown status = %d; want 200: the ended streams' slots are still taken", c.resp.StatusCode)
		}
	})

	t.Run("key refused", func(t *testing.T) {
		t.Parallel()
		var revoked atomic.Bool
		auth := func(ctx context.Context, key sessiond.Secret) (apikey.Key, error) {
			if string(key) == verify && revoked.Load() {
				return apikey.Key{}, errors.New("revoked")
			}
			return authenticate(ctx, key)
		}
		e := newLimitedStreamEnv(t, 1, auth, nil)
		c := e.openWith(verify, "")
		wantStreamOpen(t, "stream", c)
		revoked.Store(true)
		for range c.blocks {
		}
		revoked.Store(false) // the key is back (scopes restored)
		wantStreamOpen(t, "stream after its key came back", e.openWith(verify, ""))
	})

	t.Run("off", func(t *testing.T) {
		t.Parallel()
		e := newLimitedStreamEnv(t, 0, authenticate, nil)
		for i := range 5 {
			wantStreamOpen(t, "stream "+strconv.Itoa(i+1)+" without a limit", e.openWith(verify, ""))
		}
	})
}

// TestRevocationStream_PerKeyLimitParallel: streams of one key opened all
// at once are let in up to the limit, never past it.
func TestRevocationStream_PerKeyLimitParallel(t *testing.T) {
	t.Parallel()
	const limit, clients = 4, 40
	e := newLimitedStreamEnv(t, limit, authenticate, nil)
	verify := string(scopedKey(apikey.ScopeVerify))
	start := make(chan struct{})
	conns := make([]*conn, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			<-start
			conns[i] = e.openWith(verify, "")
		})
	}
	close(start)
	wg.Wait()
	statuses := map[int]int{}
	for _, c := range conns {
		statuses[c.resp.StatusCode]++
	}
	if statuses[http.StatusOK] != limit || statuses[http.StatusTooManyRequests] != clients-limit {
		t.Errorf("statuses of %d streams opened at once = %v; want %d × 200 and %d × 429", clients, statuses, limit, clients-limit)
	}
}

// TestRevocationStream_PerKeyLimitLog: refusals are logged at most once a
// minute per node, with how many were refused since the last line: a
// client reconnecting in a loop does not write a warning per attempt.
func TestRevocationStream_PerKeyLimitLog(t *testing.T) {
	t.Parallel()
	logs := &testenv.SyncBuffer{}
	var e *streamEnv
	e = newLimitedStreamEnv(t, 1, authenticate, func(o *httpapi.Options) {
		o.Logger = slog.New(slog.NewJSONHandler(logs, nil))
		o.Clock = clockOf(func() time.Time { return e.clock.Now() })
	})
	verify := string(scopedKey(apikey.ScopeVerify))
	wantStreamOpen(t, "stream", e.openWith(verify, ""))
	refuse := func(n int) {
		t.Helper()
		for range n {
			c := e.openWith(verify, "")
			if c.resp.StatusCode != http.StatusTooManyRequests {
				t.Fatalf("status = %d; want 429", c.resp.StatusCode)
			}
			c.close()
		}
	}
	warnings := func() []map[string]any {
		var out []map[string]any
		for l := range strings.Lines(logs.String()) {
			var m map[string]any
			if err := json.Unmarshal([]byte(l), &m); err != nil {
				t.Fatalf("log line %q is not JSON: %v", l, err)
			}
			if m["msg"] != "request" && m["level"] == "WARN" {
				out = append(out, m)
			}
		}
		return out
	}
	refuse(5)
	if w := warnings(); len(w) != 1 || w[0]["api_key_id"] != "key_verify" || w[0]["limit"] != float64(1) || w[0]["refused"] != float64(1) {
		t.Fatalf("warnings after 5 refusals = %v; want one, naming key_verify, its limit 1 and 1 refused", w)
	}
	e.clock.Advance(59 * time.Second)
	refuse(3)
	if w := warnings(); len(w) != 1 {
		t.Fatalf("warnings within the minute = %v; want still one", w)
	}
	e.clock.Advance(time.Second)
	refuse(1)
	w := warnings()
	if len(w) != 2 || w[1]["refused"] != float64(8) {
		t.Fatalf("warnings a minute later = %v; want a second one counting the 8 refused since the first", w)
	}
}

// clockOf is a sessiond.Clock reading now.
type clockOf func() time.Time

func (c clockOf) Now() time.Time { return c() }

// TestRevocationStream_HeadHoldsNoStream: HEAD gets the stream's headers
// and no stream. Its writes go nowhere, so a stream run for it would hold
// the key's slot (and the connection) until the client hangs up, and one
// gone silently until TCP notices. The HEAD's connection stays open here
// while the key, whose limit is one stream, opens its stream.
func TestRevocationStream_HeadHoldsNoStream(t *testing.T) {
	t.Parallel()
	e := newLimitedStreamEnv(t, 1, authenticate, nil)
	verify := string(scopedKey(apikey.ScopeVerify))
	nc, err := net.Dial("tcp", strings.TrimPrefix(e.srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req, _ := http.NewRequest(http.MethodHead, e.srv.URL+stream.StreamPath, nil)
	req.Header.Set("Authorization", "Bearer "+verify)
	if err := req.Write(nc); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(nc), req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("HEAD stream = %d, Content-Type %q; want 200 text/event-stream", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	wantStreamOpen(t, "stream after a HEAD", e.openWith(verify, ""))
}
