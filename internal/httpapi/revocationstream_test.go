package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/verifier/stream"
)

// streamEnv is a hybrid server whose Manager writes the store's event log,
// with a revocation stream on it.
type streamEnv struct {
	t      *testing.T
	clock  *sessiondtest.Clock
	store  *memstore.Store
	m      *sessiond.Manager
	h      http.Handler
	srv    *httptest.Server
	c      *client.Client
	hc     *http.Client // checks answers against openapi.json (not for streams: it reads bodies whole)
	marks  []stream.Watermark
	waker  *httpapi.Waker
	closer chan struct{}
}

func newStreamEnv(t *testing.T, edit func(*httpapi.RevocationStream)) *streamEnv {
	t.Helper()
	return newStreamEnvAuth(t, authenticate, edit)
}

// newStreamEnvAuth is newStreamEnv with the server's API keys checked by
// auth (which must still know the test's admin key).
func newStreamEnvAuth(t *testing.T, auth func(context.Context, sessiond.Secret) (apikey.Key, error), edit func(*httpapi.RevocationStream)) *streamEnv {
	t.Helper()
	return newStreamEnvOpts(t, auth, edit, nil)
}

// newStreamEnvOpts is newStreamEnvAuth with the API's options edited by
// opts (nil: none).
func newStreamEnvOpts(t *testing.T, auth func(context.Context, sessiond.Secret) (apikey.Key, error), edit func(*httpapi.RevocationStream), opts func(*httpapi.Options)) *streamEnv {
	t.Helper()
	return newStreamEnvStore(t, auth, edit, opts, nil)
}

// newStreamEnvStore is newStreamEnvOpts whose Manager writes through
// wrap(e) rather than e.store itself (nil: e.store).
func newStreamEnvStore(t *testing.T, auth func(context.Context, sessiond.Secret) (apikey.Key, error), edit func(*httpapi.RevocationStream),
	opts func(*httpapi.Options), wrap func(*streamEnv) testenv.EventLogStore) *streamEnv {
	t.Helper()
	e := &streamEnv{t: t, clock: sessiondtest.NewClock(t0), store: memstore.New(), waker: httpapi.NewWaker(), closer: make(chan struct{})}
	ring, signed := newSigned(t)
	var ms testenv.EventLogStore = e.store
	if wrap != nil {
		ms = wrap(e)
	}
	e.m = testenv.HybridManager(t.Context(), t, ms, signed, e.clock, life)
	rs := &httpapi.RevocationStream{
		Log:            e.store,
		Revocations:    e.store.Revocations,
		Watermarks:     func(context.Context) ([]stream.Watermark, error) { return e.marks, nil },
		Wake:           e.waker.Next,
		AccessLifetime: life.Access,
		Retention:      24 * time.Hour,
		Poll:           20 * time.Millisecond,
		Heartbeat:      time.Hour,
		Closing:        e.closer,
		Now:            e.clock.Now,
	}
	if edit != nil {
		edit(rs)
	}
	o := httpapi.Options{Manager: e.m, Authenticate: auth, JWKS: ring.JWKS, Stream: rs,
		Logger: slog.New(slog.DiscardHandler)}
	if opts != nil {
		opts(&o)
	}
	h, err := httpapi.New(o)
	if err != nil {
		t.Fatal(err)
	}
	e.h = h
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	e.hc = &http.Client{Transport: &contractTransport{t: t, base: e.srv.Client().Transport}}
	if e.c, err = client.New(e.srv.URL, apiKey, client.WithHTTPClient(e.hc)); err != nil {
		t.Fatal(err)
	}
	return e
}

// live opens a stream from now and reads the heartbeat that ends its
// catch-up: what it sends next is live.
func (e *streamEnv) live() *conn {
	e.t.Helper()
	c := e.open("")
	c.next()
	return c
}

// session creates a session of subject through the API and returns its ID.
func (e *streamEnv) session(subject string) sessiond.SessionID {
	e.t.Helper()
	tr, err := e.c.CreateSession(e.t.Context(), client.CreateRequest{Subject: subject})
	if err != nil {
		e.t.Fatal(err)
	}
	return tr.Session.ID
}

// revoke revokes session id through the API, as a sign-out does.
func (e *streamEnv) revoke(id sessiond.SessionID) {
	e.t.Helper()
	if err := e.c.RevokeSession(e.t.Context(), id); err != nil {
		e.t.Fatal(err)
	}
}

// conn is one open stream, read by a goroutine.
type conn struct {
	t      *testing.T
	resp   *http.Response
	blocks chan stream.Block
	err    chan error
	cancel context.CancelFunc
}

func (e *streamEnv) open(lastEventID string) *conn {
	e.t.Helper()
	return e.openWith(apiKey, lastEventID)
}

// openWith is open with the API key key.
func (e *streamEnv) openWith(key, lastEventID string) *conn {
	e.t.Helper()
	ctx, cancel := context.WithCancel(e.t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+stream.StreamPath, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		cancel()
		e.t.Fatal(err)
	}
	c := &conn{t: e.t, resp: resp, blocks: make(chan stream.Block, 1000), err: make(chan error, 1), cancel: cancel}
	e.t.Cleanup(c.close)
	if resp.StatusCode != http.StatusOK {
		return c
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		e.t.Errorf("stream Content-Type = %q; want text/event-stream", ct)
	}
	go func() {
		d := stream.NewDecoder(resp.Body)
		for {
			b, err := d.Next()
			if err != nil {
				c.err <- err
				close(c.blocks)
				return
			}
			c.blocks <- b
		}
	}()
	return c
}

func (c *conn) close() { c.cancel(); c.resp.Body.Close() }

// next returns the next block, failing the test if none comes in 10 s
// (a bound on waiting, not a measurement).
func (c *conn) next() stream.Block {
	c.t.Helper()
	select {
	case b, ok := <-c.blocks:
		if !ok {
			c.t.Fatalf("stream ended: %v", <-c.err)
		}
		return b
	case <-time.After(10 * time.Second):
		c.t.Fatal("no stream block within 10s")
	}
	return stream.Block{}
}

// event returns the next block that is an event, skipping heartbeats.
func (c *conn) event() stream.Block {
	c.t.Helper()
	for {
		if b := c.next(); b.Name != "" {
			return b
		}
	}
}

func (c *conn) revoked() (stream.Revoked, string) {
	c.t.Helper()
	b := c.event()
	if b.Name != stream.EventRevoked {
		c.t.Fatalf("event %q %s; want revoked", b.Name, b.Data)
	}
	var r stream.Revoked
	if err := json.Unmarshal(b.Data, &r); err != nil || r.Validate() != nil {
		c.t.Fatalf("revoked data %s: %v %v", b.Data, err, r.Validate())
	}
	return r, b.ID
}

func TestRevocationStream_RevokedAndResume(t *testing.T) {
	t.Parallel()
	e := newStreamEnv(t, nil)
	ctx := t.Context()
	var ids []sessiond.SessionID
	for range 4 {
		ids = append(ids, e.session("alice"))
	}
	c := e.open("")
	if b := c.next(); !b.Comment || b.Name != "" || b.Data != nil {
		t.Fatalf("first block = %+v; want the heartbeat that ends the catch-up", b)
	} else if _, _, err := stream.ParseCursor(b.ID); err != nil {
		t.Errorf("heartbeat id %q: %v", b.ID, err)
	}

	revokedAt := e.clock.Now()
	e.revoke(ids[0])
	r, id := c.revoked()
	if r.SessionID != string(ids[0]) || r.Subject != "alice" || r.Reason != "logout" {
		t.Errorf("revoked = %+v; want session %s of alice, reason logout", r, ids[0])
	}
	if late := life.Access + sessiond.RevokeWriteMargin; !r.RevokedAt.Equal(revokedAt.Truncate(time.Microsecond)) ||
		!r.Until.After(r.RevokedAt.Add(late)) || r.Until.After(r.RevokedAt.Add(late+2*time.Second)) {
		t.Errorf("revoked_at %v until %v; want %v and one access lifetime (plus margin) later", r.RevokedAt, r.Until, revokedAt)
	}
	if _, _, err := stream.ParseCursor(id); err != nil {
		t.Errorf("event id %q is not a cursor: %v", id, err)
	}
	c.close()

	// Revocations while the client is away arrive on resume, from any
	// writer of the log: here, one made straight through the Manager.
	e.clock.Advance(time.Minute)
	e.revoke(ids[1])
	if err := e.m.Revoke(ctx, ids[2], sessiond.ReasonLogout); err != nil {
		t.Fatal(err)
	}
	// (The event of the cursor itself may come again: a resume looks
	// Settle back.)
	c2 := e.open(id)
	got := map[string]bool{}
	for !got[string(ids[1])] || !got[string(ids[2])] {
		r, _ := c2.revoked()
		if got[r.SessionID] || r.SessionID == string(ids[3]) {
			t.Fatalf("resumed stream sent %s twice or one never revoked", r.SessionID)
		}
		got[r.SessionID] = true
	}
	if !got[string(ids[1])] || !got[string(ids[2])] {
		t.Errorf("resumed stream sent %v; want %s and %s", got, ids[1], ids[2])
	}
}

func TestRevocationStream_ResumeRepeatsWithinSettle(t *testing.T) {
	t.Parallel()
	e := newStreamEnv(t, nil)
	sid := e.session("bob")
	c := e.live()
	e.revoke(sid)
	_, id := c.revoked()
	c.close()
	// Resuming at once looks Settle back: delivery is at least once.
	r, id2 := e.open(id).revoked()
	if r.SessionID != string(sid) || id2 != id {
		t.Errorf("resume within settle = %s %s; want the event again (%s)", r.SessionID, id2, id)
	}
}

func TestRevocationStream_LateEvent(t *testing.T) {
	t.Parallel()
	e := newStreamEnv(t, nil)
	c := e.live()
	now := e.clock.Now()
	// A newer event first, then one whose time is older (another node
	// committing late, or a clock behind): both are sent.
	for i, at := range []time.Time{now, now.Add(-3 * time.Second)} {
		ev := sessiond.Event{ID: sessiond.NewEventID(at), Time: at, Type: sessiond.EventSessionRevoked,
			SessionID: sessiond.SessionID("sess-late-" + string(rune('a'+i))), Subject: "carol", Details: map[string]any{"reason": "api"}}
		if err := e.store.AppendEvents(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
		if r, id := c.revoked(); r.SessionID != string(ev.SessionID) || id != ev.ID {
			t.Errorf("event %d = %s %s; want %s %s", i, r.SessionID, id, ev.SessionID, ev.ID)
		}
	}
}

func TestRevocationStream_WatermarkAndKeyRetired(t *testing.T) {
	t.Parallel()
	e := newStreamEnv(t, nil)
	c := e.live()
	ib := e.clock.Now().Add(-time.Second)
	at := e.clock.Now()
	mark := sessiond.Event{ID: sessiond.NewEventID(at), Time: at, Type: httpapi.EventWatermarkRaised, Details: map[string]any{
		"all": false, "subjects": []string{"dave", "erin"}, "issued_before": ib.Format(time.RFC3339Nano)}}
	// As a store that decoded the details from JSON returns them.
	all := sessiond.Event{ID: sessiond.NewEventID(at.Add(time.Microsecond)), Time: at.Add(time.Microsecond), Type: httpapi.EventWatermarkRaised,
		Details: map[string]any{"all": true, "issued_before": ib.Format(time.RFC3339Nano)}}
	keys := sessiond.Event{ID: sessiond.NewEventID(at.Add(2 * time.Microsecond)), Time: at.Add(2 * time.Microsecond), Type: httpapi.EventKeysRetired,
		Details: map[string]any{"kids": []any{"k1", "k2"}}}
	if err := e.store.AppendEvents(t.Context(), mark, all, keys); err != nil {
		t.Fatal(err)
	}
	want := []struct{ name, id, data string }{
		{"watermark", mark.ID, `{"subject":"dave","issued_before":"` + ib.Format(time.RFC3339Nano) + `"}`},
		{"watermark", mark.ID + ".2", `{"subject":"erin","issued_before":"` + ib.Format(time.RFC3339Nano) + `"}`},
		{"watermark", all.ID, `{"all":true,"issued_before":"` + ib.Format(time.RFC3339Nano) + `"}`},
		{"key_retired", keys.ID, `{"kid":"k1"}`},
		{"key_retired", keys.ID + ".2", `{"kid":"k2"}`},
	}
	for _, w := range want {
		b := c.event()
		if b.Name != w.name || b.ID != w.id || string(b.Data) != w.data {
			t.Errorf("event = %s %s %s; want %s %s %s", b.Name, b.ID, b.Data, w.name, w.id, w.data)
		}
		if _, _, err := stream.ParseCursor(b.ID); err != nil {
			t.Errorf("id %q: %v", b.ID, err)
		}
	}
	// Resuming from the middle of one log entry sends all of it again.
	c.close()
	c2 := e.open(mark.ID + ".2")
	if b := c2.event(); b.ID != mark.ID {
		t.Errorf("resume from %s.2 starts at %s; want %s", mark.ID, b.ID, mark.ID)
	}
}

func TestRevocationStream_UnreadableEntrySkipped(t *testing.T) {
	t.Parallel()
	e := newStreamEnv(t, nil)
	c := e.live()
	at := e.clock.Now()
	bad := []sessiond.Event{
		{ID: sessiond.NewEventID(at), Time: at, Type: httpapi.EventWatermarkRaised, Details: map[string]any{"all": true, "issued_before": "yesterday"}},
		{ID: sessiond.NewEventID(at), Time: at, Type: httpapi.EventWatermarkRaised, Details: map[string]any{"issued_before": at.Format(time.RFC3339Nano)}},
		{ID: sessiond.NewEventID(at), Time: at, Type: httpapi.EventKeysRetired, Details: map[string]any{"kids": "k1"}},
		{ID: sessiond.NewEventID(at), Time: at, Type: sessiond.EventSessionRevoked},
	}
	good := sessiond.Event{ID: sessiond.NewEventID(at.Add(time.Millisecond)), Time: at.Add(time.Millisecond), Type: sessiond.EventSessionRevoked,
		SessionID: "sess-ok", Subject: "frank", Details: map[string]any{"reason": "api"}}
	if err := e.store.AppendEvents(t.Context(), append(bad, good)...); err != nil {
		t.Fatal(err)
	}
	if r, _ := c.revoked(); r.SessionID != "sess-ok" {
		t.Errorf("after unreadable entries got %s; want sess-ok", r.SessionID)
	}
}

func TestRevocationStream_Reset(t *testing.T) {
	t.Parallel()
	e := newStreamEnv(t, nil)
	for name, cursor := range map[string]string{
		"older than retention": stream.CursorAt(e.clock.Now().Add(-25 * time.Hour)),
		"from the future":      stream.CursorAt(e.clock.Now().Add(time.Hour)),
	} {
		c := e.open(cursor)
		b := c.next()
		var r stream.Reset
		if b.Name != stream.EventReset || json.Unmarshal(b.Data, &r) != nil || r.Reason == "" {
			t.Errorf("%s: first block %+v; want event reset with a reason", name, b)
		}
		if _, _, err := stream.ParseCursor(b.ID); err != nil {
			t.Errorf("%s: reset id %q: %v", name, b.ID, err)
		}
		select {
		case _, ok := <-c.blocks:
			if ok {
				t.Errorf("%s: the stream goes on after reset", name)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s: the stream is not closed after reset", name)
		}
		if err := <-c.err; err != io.EOF {
			t.Errorf("%s: stream end = %v; want a clean EOF", name, err)
		}
	}
	// A cursor just within retention is resumed.
	c := e.open(stream.CursorAt(e.clock.Now().Add(-23 * time.Hour)))
	if b := c.next(); b.Name != "" || !b.Comment {
		t.Errorf("cursor within retention: first block %+v; want a heartbeat", b)
	}
}

func TestRevocationStream_BadLastEventID(t *testing.T) {
	t.Parallel()
	e := newStreamEnv(t, nil)
	good := stream.CursorAt(e.clock.Now())
	for name, id := range map[string]string{
		"garbage":          "hello",
		"short":            good[:20],
		"long":             good + strings.Repeat("0", 40),
		"upper case":       strings.ToUpper(good),
		"bad alphabet":     good[:29] + "z",
		"index zero":       good + ".0",
		"index one":        good + ".1",
		"index not number": good + ".x",
		"index leading 0":  good + ".02",
		"empty index":      good + ".",
		"no prefix":        "abc_" + good[4:],
		"sql":              "' OR 1=1 --",
	} {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.srv.URL+stream.StreamPath, nil)
		req.Header.Set("Authorization", "Bearer "+apiKey)
		req.Header.Set("Last-Event-ID", id)
		resp, err := e.hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		r := &response{status: resp.StatusCode, header: resp.Header, body: body}
		wantProblem(t, "Last-Event-ID "+name, r, 400, "invalid_request", "Last-Event-ID")
	}
	// Two cursors, each good: which one the client meant is a guess. (A
	// stream opened for them would never end: the deadline keeps the
	// test from waiting on it.)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+stream.StreamPath, nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Add("Last-Event-ID", good)
	req.Header.Add("Last-Event-ID", stream.CursorAt(e.clock.Now().Add(-time.Second)))
	resp, err := e.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantProblem(t, "two Last-Event-ID headers", &response{status: resp.StatusCode, header: resp.Header, body: body}, 400, "invalid_request", "Last-Event-ID")
}

func TestRevocationStream_Auth(t *testing.T) {
	t.Parallel()
	e := newStreamEnv(t, nil)
	for _, path := range []string{stream.StreamPath, stream.SnapshotPath} {
		for name, key := range map[string]string{"none": "", "wrong": "sdk_test_wrong_key_00000000000000000000"} {
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.srv.URL+path, nil)
			if key != "" {
				req.Header.Set("Authorization", "Bearer "+key)
			}
			resp, err := e.hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			wantProblem(t, path+" key "+name, &response{status: resp.StatusCode, header: resp.Header, body: body}, 401, "unauthorized", "")
		}
	}
}

func TestRevocationStream_NotConfigured(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	for _, path := range []string{stream.StreamPath, stream.SnapshotPath} {
		wantProblem(t, path, e.do(http.MethodGet, path, "", nil, nil), 404, "not_found", "revocation stream")
	}
	for name, rs := range map[string]*httpapi.RevocationStream{
		"no log":         {Revocations: e.store.Revocations, Watermarks: noMarks, AccessLifetime: time.Minute},
		"no revocations": {Log: e.store, Watermarks: noMarks, AccessLifetime: time.Minute},
		"no watermarks":  {Log: e.store, Revocations: e.store.Revocations, AccessLifetime: time.Minute},
		"no lifetime":    {Log: e.store, Revocations: e.store.Revocations, Watermarks: noMarks},
	} {
		if _, err := httpapi.New(httpapi.Options{Manager: e.m, Authenticate: authenticate, Stream: rs}); !errors.Is(err, sessiond.ErrInvalidArgument) {
			t.Errorf("New with stream %s = %v; want ErrInvalidArgument", name, err)
		}
	}
}

func noMarks(context.Context) ([]stream.Watermark, error) { return nil, nil }

func TestRevocationStream_Heartbeat(t *testing.T) {
	t.Parallel()
	e := newStreamEnv(t, func(rs *httpapi.RevocationStream) { rs.Heartbeat = 10 * time.Millisecond })
	c := e.open("")
	for i := range 3 {
		b := c.next()
		if !b.Comment || b.Name != "" || b.Data != nil {
			t.Fatalf("block %d = %+v; want a comment heartbeat", i, b)
		}
		if _, _, err := stream.ParseCursor(b.ID); err != nil {
			t.Errorf("heartbeat %d id %q: %v", i, b.ID, err)
		}
	}
}

// TestRevocationStream_OutlivesServerTimeouts: a stream lasts longer than
// the http.Server's read and write timeouts (server.read_timeout and
// write_timeout apply to requests, not to a stream), and than the
// deadline the API derives from the write timeout for a request's store
// calls (Options.WriteTimeout).
func TestRevocationStream_OutlivesServerTimeouts(t *testing.T) {
	t.Parallel()
	e := newStreamEnvOpts(t, authenticate, func(rs *httpapi.RevocationStream) { rs.Heartbeat = 20 * time.Millisecond },
		func(o *httpapi.Options) { o.WriteTimeout = 100 * time.Millisecond })
	srv := httptest.NewUnstartedServer(e.h)
	srv.Config.ReadTimeout, srv.Config.WriteTimeout = 100*time.Millisecond, 100*time.Millisecond
	srv.Start()
	defer srv.Close()
	e.srv = srv
	c := e.open("")
	defer c.close() // before srv.Close, which waits for the stream to end
	start := time.Now()
	for time.Since(start) < 500*time.Millisecond {
		if b := c.next(); !b.Comment {
			t.Fatalf("block %+v; want heartbeats", b)
		}
	}
}

func TestRevocationStream_WakeWithoutPolling(t *testing.T) {
	t.Parallel()
	e := newStreamEnv(t, func(rs *httpapi.RevocationStream) { rs.Poll = time.Hour })
	sid := e.session("gina")
	c := e.live()
	e.revoke(sid)
	e.waker.Wake() // the store's feed, as another node's revocation would
	if r, _ := c.revoked(); r.SessionID != string(sid) {
		t.Errorf("woken stream sent %s; want %s", r.SessionID, sid)
	}
}

func TestRevocationStream_FeedSentAtOnce(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var feed []sessiond.Revocation
	e := newStreamEnv(t, func(rs *httpapi.RevocationStream) {
		rs.Poll = time.Hour
		rs.Recent = func(after uint64) ([]sessiond.Revocation, uint64) {
			mu.Lock()
			defer mu.Unlock()
			last := uint64(len(feed))
			if after >= last {
				return nil, last
			}
			return append([]sessiond.Revocation(nil), feed[after:]...), last
		}
	})
	c := e.live()
	now := e.clock.Now()
	mu.Lock()
	feed = append(feed,
		sessiond.Revocation{SessionID: "sess-incident", Subject: "kim", RevokedAt: now, ExpiresAt: now.Add(time.Hour), Reason: sessiond.ReasonIncident},
		sessiond.Revocation{SessionID: "sess-feed", Subject: "kim", RevokedAt: now, ExpiresAt: now.Add(time.Minute), Reason: sessiond.ReasonLogout})
	mu.Unlock()
	e.waker.Wake()
	// Not in the event log at all: it comes from the feed, with the
	// session's own expiry as the bound of until.
	r, id := c.revoked()
	if r.SessionID != "sess-feed" || r.Subject != "kim" || r.Reason != "logout" || !r.Until.Equal(now.Add(time.Minute+time.Second)) {
		t.Errorf("feed event = %+v; want sess-feed until its session's expiry plus a second", r)
	}
	if _, _, err := stream.ParseCursor(id); err != nil {
		t.Errorf("feed event id %q: %v", id, err)
	}
}

func TestRevocationStream_Closing(t *testing.T) {
	t.Parallel()
	e := newStreamEnv(t, nil)
	c := e.live()
	close(e.closer)
	for range c.blocks {
	}
	if err := <-c.err; err != io.EOF {
		t.Errorf("stream end at shutdown = %v; want a clean EOF", err)
	}
}

func TestRevocationSnapshot(t *testing.T) {
	t.Parallel()
	e := newStreamEnv(t, nil)
	ctx := t.Context()
	e.marks = []stream.Watermark{{All: true, IssuedBefore: t0.Add(-time.Hour)}, {Subject: "henry", IssuedBefore: t0}}
	var ids []sessiond.SessionID
	for range 3 {
		ids = append(ids, e.session("ivy"))
	}
	// One revoked long ago (its tokens are dead, those of a refresh that
	// committed during the revocation's write margin too, even at a
	// verifier with the longest leeway), one now, one by incident (a
	// watermark covers it).
	if err := e.m.Revoke(ctx, ids[0], sessiond.ReasonLogout); err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(life.Access + sessiond.RevokeWriteMargin + time.Second + stream.MaxLeeway + time.Millisecond)
	if err := e.m.Revoke(ctx, ids[1], sessiond.ReasonLogout); err != nil {
		t.Fatal(err)
	}
	if _, err := e.m.RevokeMatching(ctx, sessiond.RevokeFilter{Subjects: []string{"ivy"}}, sessiond.ReasonIncident, false); err != nil {
		t.Fatal(err)
	}
	resp, err := e.hc.Do(mustRequest(t, e.srv.URL+stream.SnapshotPath))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var snap stream.Snapshot
	if err := json.NewDecoder(resp.Body).Decode(&snap); err != nil || resp.StatusCode != 200 {
		t.Fatalf("snapshot = %d %v", resp.StatusCode, err)
	}
	if len(snap.Revocations) != 1 || snap.Revocations[0].SessionID != string(ids[1]) {
		t.Fatalf("snapshot revocations = %+v; want only %s", snap.Revocations, ids[1])
	}
	r := snap.Revocations[0]
	if r.Subject != "ivy" || r.Reason != "logout" || !r.Until.After(e.clock.Now()) || r.Validate() != nil {
		t.Errorf("snapshot entry = %+v", r)
	}
	if len(snap.Watermarks) != 2 || !snap.Watermarks[0].All || snap.Watermarks[1].Subject != "henry" {
		t.Errorf("snapshot watermarks = %+v; want the store's", snap.Watermarks)
	}
	_, at, err := stream.ParseCursor(snap.Cursor)
	if err != nil || !at.Equal(e.clock.Now().Truncate(time.Microsecond)) {
		t.Errorf("snapshot cursor %q = %v, %v; want now", snap.Cursor, at, err)
	}
	// The cursor resumes the stream.
	if b := e.open(snap.Cursor).next(); !b.Comment && b.Name != stream.EventRevoked {
		t.Errorf("stream from the snapshot cursor starts with %+v", b)
	}
}

// TestRevocationSnapshot_VerifierLeeway: a revocation is sent (snapshot
// and stream) until a minute past its until, less the server's leeway: a
// verifier may take up to stream.MaxLeeway and accept a token that long
// past its expiry, and one connecting after until must still learn of it.
func TestRevocationSnapshot_VerifierLeeway(t *testing.T) {
	const leeway = 5 * time.Second
	e := newStreamEnv(t, func(rs *httpapi.RevocationStream) { rs.Leeway = leeway })
	ctx := t.Context()
	id := e.session("jay")
	if err := e.m.Revoke(ctx, id, sessiond.ReasonLogout); err != nil {
		t.Fatal(err)
	}
	pastUntil := life.Access + sessiond.RevokeWriteMargin + leeway + time.Second
	for _, c := range []struct {
		after time.Duration
		sent  bool
	}{
		{pastUntil + 10*time.Second, true}, // a verifier with a 60 s leeway still accepts the token
		{pastUntil + stream.MaxLeeway - leeway - time.Millisecond, true},
		{pastUntil + stream.MaxLeeway - leeway, false},
	} {
		e.clock.Set(t0.Add(c.after))
		var snap stream.Snapshot
		resp, err := e.hc.Do(mustRequest(t, e.srv.URL+stream.SnapshotPath))
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&snap)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got := len(snap.Revocations) == 1; got != c.sent {
			t.Errorf("%v after the revocation: in the snapshot %v; want %v", c.after, got, c.sent)
		}
		// The stream from a cursor before the revocation agrees.
		conn := e.open(stream.CursorAt(t0.Add(-time.Second)))
		b := conn.next()
		conn.close()
		if got := b.Name == stream.EventRevoked; got != c.sent {
			t.Errorf("%v after the revocation: sent on the stream %v (first block %+v); want %v", c.after, got, b, c.sent)
		}
	}
}

func mustRequest(t *testing.T, url string) *http.Request {
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	return req
}
