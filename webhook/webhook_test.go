package webhook_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/webhook"

	"github.com/sessiond/sessiond/internal/testenv"
)

var (
	t0     = time.Date(2030, time.March, 4, 5, 6, 7, 0, time.UTC)
	secret = []byte("0123456789abcdef0123456789abcdef")
)

// newOutbox returns a fresh, real outbox.
func newOutbox(t *testing.T) sessiond.Outbox {
	t.Helper()
	st := memstore.New()
	t.Cleanup(func() { st.Close() })
	return st
}

// request is what a receiver saw.
type request struct {
	id, timestamp string
	body          []byte
	verifyErr     error
}

// receiver is a real HTTP endpoint. status decides each answer from the
// 1-based number of the request; nil answers 204.
type receiver struct {
	t      *testing.T
	srv    *httptest.Server
	clock  sessiond.Clock
	status func(n int) int

	mu   sync.Mutex
	reqs []request
}

func newReceiver(t *testing.T, clock sessiond.Clock, status func(n int) int) *receiver {
	r := &receiver{t: t, clock: clock, status: status}
	r.srv = httptest.NewServer(r)
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	rq := request{
		id: req.Header.Get(webhook.HeaderID), timestamp: req.Header.Get(webhook.HeaderTimestamp), body: body,
		verifyErr: webhook.Verify(secret, req.Header, body, 5*time.Minute, r.clock.Now()),
	}
	if ct := req.Header.Get("Content-Type"); ct != "application/json" || req.Method != http.MethodPost {
		rq.verifyErr = errors.Join(rq.verifyErr, errors.New("not a JSON POST: "+req.Method+" "+ct))
	}
	r.mu.Lock()
	r.reqs = append(r.reqs, rq)
	n := len(r.reqs)
	r.mu.Unlock()
	code := http.StatusNoContent
	if r.status != nil {
		code = r.status(n)
	}
	w.WriteHeader(code)
}

func (r *receiver) requests() []request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.reqs)
}

// observer records Observer calls.
type observer struct {
	mu  sync.Mutex
	got []string // "endpoint outcome"
}

func (o *observer) observe(endpoint, outcome string) {
	o.mu.Lock()
	o.got = append(o.got, endpoint+" "+outcome)
	o.mu.Unlock()
}

func (o *observer) calls() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.got)
}

func endpoint(name, url string, events ...sessiond.EventType) webhook.Endpoint {
	return webhook.Endpoint{Name: name, URL: url, Events: events, Secret: secret}
}

func newDispatcher(t *testing.T, opts webhook.Options) *webhook.Dispatcher {
	t.Helper()
	d, err := webhook.New(opts)
	if err != nil {
		t.Fatalf("New = %v; want nil", err)
	}
	return d
}

// observedDispatcher returns a fresh outbox and a dispatcher on it that
// delivers to one endpoint, "siem" at url, reporting to the observer.
func observedDispatcher(t *testing.T, clock sessiond.Clock, url string) (sessiond.Outbox, *observer, *webhook.Dispatcher) {
	t.Helper()
	ob := newOutbox(t)
	obs := &observer{}
	d := newDispatcher(t, webhook.Options{Outbox: ob, Clock: clock, Observer: obs.observe,
		Endpoints: []webhook.Endpoint{endpoint("siem", url)}})
	return ob, obs, d
}

func event(typ sessiond.EventType) sessiond.Event {
	return sessiond.Event{
		ID: sessiond.NewEventID(t0), Time: t0, Type: typ, Subject: "alice", SessionID: sessiond.NewSessionID(),
		Client: sessiond.Client{IP: "203.0.113.7", UserAgent: "test"}, Details: map[string]any{"reason": "logout"},
	}
}

func record(t *testing.T, d *webhook.Dispatcher, e sessiond.Event) {
	t.Helper()
	if err := d.Record(t.Context(), e); err != nil {
		t.Fatalf("Record(%s) = %v; want nil", e.Type, err)
	}
}

func deliverDue(t *testing.T, d *webhook.Dispatcher) int {
	t.Helper()
	n, err := d.DeliverDue(t.Context())
	if err != nil {
		t.Fatalf("DeliverDue = %d, %v; want nil error", n, err)
	}
	return n
}

func list(t *testing.T, o sessiond.Outbox, state sessiond.DeliveryState) []sessiond.Delivery {
	t.Helper()
	ds, err := o.ListDeliveries(t.Context(), state, 100)
	if err != nil {
		t.Fatalf("ListDeliveries(%s) = %v", state, err)
	}
	return ds
}

func TestNew(t *testing.T) {
	ob := newOutbox(t)
	ok := endpoint("a", "https://hooks.example/a")
	tests := []struct {
		name string
		opts webhook.Options
		want string // substring of the error; "" for success
	}{
		{"valid", webhook.Options{Outbox: ob, Endpoints: []webhook.Endpoint{ok}}, ""},
		{"no endpoints", webhook.Options{Outbox: ob}, ""},
		{"no outbox", webhook.Options{Endpoints: []webhook.Endpoint{ok}}, "Outbox is required"},
		{"no name", webhook.Options{Outbox: ob, Endpoints: []webhook.Endpoint{endpoint("", ok.URL)}}, "name is required"},
		{"duplicate name", webhook.Options{Outbox: ob, Endpoints: []webhook.Endpoint{ok, ok}}, "used twice"},
		{"relative url", webhook.Options{Outbox: ob, Endpoints: []webhook.Endpoint{endpoint("a", "/hook")}}, "absolute"},
		{"ftp url", webhook.Options{Outbox: ob, Endpoints: []webhook.Endpoint{endpoint("a", "ftp://h/x")}}, "absolute"},
		{"short secret", webhook.Options{Outbox: ob, Endpoints: []webhook.Endpoint{{Name: "a", URL: ok.URL, Secret: secret[:23]}}}, "23 bytes"},
		{"negative attempts", webhook.Options{Outbox: ob, Endpoints: []webhook.Endpoint{{Name: "a", URL: ok.URL, Secret: secret, MaxAttempts: -1}}}, "negative"},
		{"attempts over the limit", webhook.Options{Outbox: ob, Endpoints: []webhook.Endpoint{{Name: "a", URL: ok.URL, Secret: secret, MaxAttempts: webhook.MaxAttemptsLimit + 1}}}, "over 1000"},
		{"negative max pending age", webhook.Options{Outbox: ob, Endpoints: []webhook.Endpoint{{Name: "a", URL: ok.URL, Secret: secret, MaxPendingAge: -time.Hour}}}, "max pending age -1h0m0s is negative"},
		{"base above max", webhook.Options{Outbox: ob, BaseBackoff: time.Hour, MaxBackoff: time.Minute}, "above MaxBackoff"},
		{"negative lease", webhook.Options{Outbox: ob, Lease: -time.Second}, "Lease is negative"},
		{"lease below the minimum", webhook.Options{Outbox: ob, Lease: webhook.MinLease - time.Millisecond}, "below 20s"},
		{"lease at the minimum", webhook.Options{Outbox: ob, Lease: webhook.MinLease}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := webhook.New(tt.opts)
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("New = %v; want error containing %q", err, tt.want)
			}
		})
	}
}

func TestDispatcher_Deliver(t *testing.T) {
	clock := sessiondtest.NewClock(t0.Add(time.Second))
	rcv := newReceiver(t, clock, nil)
	ob, obs, d := observedDispatcher(t, clock, rcv.srv.URL)
	e := event(sessiond.EventSessionRevoked)
	record(t, d, e)

	if n := deliverDue(t, d); n != 1 {
		t.Fatalf("DeliverDue = %d; want 1", n)
	}
	reqs := rcv.requests()
	if len(reqs) != 1 {
		t.Fatalf("receiver got %d requests; want 1", len(reqs))
	}
	r := reqs[0]
	if r.verifyErr != nil {
		t.Errorf("Verify = %v; want nil", r.verifyErr)
	}
	if want := webhook.DeliveryID(e.ID, "siem"); r.id != want {
		t.Errorf("webhook-id = %s; want %s", r.id, want)
	}
	if want := "1898831168"; r.timestamp != want { // t0+1s, the time of the attempt
		t.Errorf("webhook-timestamp = %s; want %s", r.timestamp, want)
	}
	var body struct {
		Type      string         `json:"type"`
		Timestamp string         `json:"timestamp"`
		Data      sessiond.Event `json:"data"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatalf("body %s: %v", r.body, err)
	}
	if body.Type != "session.revoked" || body.Timestamp != "2030-03-04T05:06:07Z" || body.Data.ID != e.ID ||
		body.Data.Subject != "alice" || body.Data.SessionID != e.SessionID || body.Data.Details["reason"] != "logout" {
		t.Errorf("body = %s; want the event in the Standard Webhooks shape", r.body)
	}
	if got := list(t, ob, sessiond.DeliveryDelivered); len(got) != 1 || got[0].Attempts != 1 || got[0].EventID != e.ID {
		t.Errorf("delivered = %+v; want the one delivery after 1 attempt", got)
	}
	if got, want := obs.calls(), []string{"siem delivered"}; !slices.Equal(got, want) {
		t.Errorf("Observer calls = %q; want %q", got, want)
	}
	if n := deliverDue(t, d); n != 0 || len(rcv.requests()) != 1 {
		t.Errorf("after delivery, DeliverDue = %d and the receiver has %d requests; want 0 and 1", n, len(rcv.requests()))
	}
}

// TestDispatcher_DataHasEveryMember: an event without a subject, session
// or details (an incident, a refused CSRF request) is delivered with every
// member of the event as GET /v1/events shows it (docs/webhooks.md), so a
// receiver can hold every delivery to one schema.
func TestDispatcher_DataHasEveryMember(t *testing.T) {
	clock := sessiondtest.NewClock(t0.Add(time.Second))
	rcv := newReceiver(t, clock, nil)
	_, _, d := observedDispatcher(t, clock, rcv.srv.URL)
	e := event(sessiond.EventSessionRevoked)
	e.Subject, e.SessionID, e.Details = "", "", nil
	record(t, d, e)
	if n := deliverDue(t, d); n != 1 {
		t.Fatalf("DeliverDue = %d; want 1", n)
	}
	var body struct {
		Data map[string]json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(rcv.requests()[0].body, &body); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"id": `"` + e.ID + `"`, "subject": `""`, "session_id": `""`, "details": `{}`} {
		if got := string(body.Data[k]); got != want {
			t.Errorf("data.%s = %s; want %s", k, got, want)
		}
	}
	for _, k := range []string{"time", "type", "client"} {
		if _, ok := body.Data[k]; !ok {
			t.Errorf("data has no %s", k)
		}
	}
}

func TestDispatcher_RetryThenDeliver(t *testing.T) {
	clock := sessiondtest.NewClock(t0)
	rcv := newReceiver(t, clock, func(n int) int {
		if n <= 3 {
			return []int{http.StatusInternalServerError, http.StatusBadGateway, http.StatusNotFound}[n-1]
		}
		return http.StatusOK
	})
	ob, obs, d := observedDispatcher(t, clock, rcv.srv.URL)
	e := event(sessiond.EventRefreshReused)
	record(t, d, e)

	for i := 0; i < 10 && len(list(t, ob, sessiond.DeliveryDelivered)) == 0; i++ {
		deliverDue(t, d)
		// Past any delay after attempt 3 (at most 8s), never past the lease.
		clock.Advance(10 * time.Second)
	}
	reqs := rcv.requests()
	if len(reqs) != 4 {
		t.Fatalf("receiver got %d requests; want 4", len(reqs))
	}
	want := webhook.DeliveryID(e.ID, "siem")
	for i, r := range reqs {
		if r.id != want {
			t.Errorf("request %d: webhook-id = %s; want %s (the same on every attempt)", i+1, r.id, want)
		}
		if r.verifyErr != nil {
			t.Errorf("request %d: Verify = %v; want nil", i+1, r.verifyErr)
		}
		if !bytes.Equal(r.body, reqs[0].body) {
			t.Errorf("request %d: body differs from the first attempt's", i+1)
		}
	}
	got := list(t, ob, sessiond.DeliveryDelivered)
	if len(got) != 1 || got[0].Attempts != 4 {
		t.Fatalf("delivered = %+v; want one delivery after 4 attempts", got)
	}
	wantCalls := []string{"siem retry", "siem retry", "siem retry", "siem delivered"}
	if got := obs.calls(); !slices.Equal(got, wantCalls) {
		t.Errorf("Observer calls = %q; want %q", got, wantCalls)
	}
}

func TestDispatcher_ReceiverDownAcrossRestart(t *testing.T) {
	clock := sessiondtest.NewClock(t0)
	// Take a port, then close it: the receiver is down.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ob := newOutbox(t)
	opts := webhook.Options{Outbox: ob, Clock: clock, Endpoints: []webhook.Endpoint{endpoint("siem", "http://"+addr+"/hook")}}

	first := newDispatcher(t, opts)
	e := event(sessiond.EventSessionRevoked)
	record(t, first, e)
	for range 3 {
		deliverDue(t, first)
		clock.Advance(time.Minute)
	}
	pending := list(t, ob, sessiond.DeliveryPending)
	if len(pending) != 1 || pending[0].Attempts != 3 || pending[0].LastError == "" {
		t.Fatalf("pending while down = %+v; want one delivery with 3 failed attempts", pending)
	}
	if strings.Contains(pending[0].LastError, "/hook") {
		t.Errorf("LastError %q contains the URL", pending[0].LastError)
	}

	// sessiond restarts: a new Dispatcher on the same outbox. The receiver
	// comes back on the same address.
	second := newDispatcher(t, opts)
	ln, err = net.Listen("tcp", addr)
	if err != nil {
		t.Skipf("cannot listen on %s again: %v", addr, err)
	}
	rcv := &receiver{t: t, clock: clock}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: rcv}}
	srv.Start()
	t.Cleanup(srv.Close)

	clock.Advance(time.Minute)
	deliverDue(t, second)
	reqs := rcv.requests()
	if len(reqs) != 1 || reqs[0].verifyErr != nil || reqs[0].id != webhook.DeliveryID(e.ID, "siem") {
		t.Fatalf("after restart the receiver got %+v; want the event, signed, with its webhook-id", reqs)
	}
	if got := list(t, ob, sessiond.DeliveryDelivered); len(got) != 1 || got[0].Attempts != 4 {
		t.Errorf("delivered = %+v; want one delivery after 4 attempts", got)
	}
}

func TestDispatcher_Dead(t *testing.T) {
	clock := sessiondtest.NewClock(t0)
	rcv := newReceiver(t, clock, func(int) int { return http.StatusInternalServerError })
	ob := newOutbox(t)
	obs := &observer{}
	var logs testenv.SyncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, nil))
	ep := endpoint("siem", rcv.srv.URL)
	ep.MaxAttempts = 3
	d := newDispatcher(t, webhook.Options{Outbox: ob, Clock: clock, Observer: obs.observe, Logger: log,
		Endpoints: []webhook.Endpoint{ep}})
	e := event(sessiond.EventSessionRevoked)
	record(t, d, e)

	for range 5 {
		deliverDue(t, d)
		clock.Advance(time.Minute)
	}
	if n := len(rcv.requests()); n != 3 {
		t.Errorf("receiver got %d requests; want 3 (MaxAttempts)", n)
	}
	dead := list(t, ob, sessiond.DeliveryDead)
	if len(dead) != 1 || dead[0].Attempts != 3 || dead[0].EventID != e.ID || !strings.Contains(dead[0].LastError, "500") {
		t.Fatalf("dead = %+v; want the delivery, 3 attempts, last error naming the 500", dead)
	}
	if p := list(t, ob, sessiond.DeliveryPending); len(p) != 0 {
		t.Errorf("pending = %+v; want none", p)
	}
	if got, want := obs.calls(), []string{"siem retry", "siem retry", "siem dead"}; !slices.Equal(got, want) {
		t.Errorf("Observer calls = %q; want %q", got, want)
	}
	out := logs.String()
	var deadLine map[string]any
	for line := range strings.Lines(out) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "webhook delivery dead" {
			deadLine = m
		}
	}
	if deadLine == nil || deadLine["level"] != "ERROR" || deadLine["webhook_id"] != dead[0].ID || deadLine["event_id"] != e.ID {
		t.Errorf("log = %s; want an ERROR line for the dead delivery with its IDs", out)
	}
	if strings.Contains(out, rcv.srv.URL) {
		t.Errorf("log contains the endpoint URL: %s", out)
	}
}

func TestDispatcher_Gone(t *testing.T) {
	clock := sessiondtest.NewClock(t0)
	rcv := newReceiver(t, clock, func(int) int { return http.StatusGone })
	ob := newOutbox(t)
	d := newDispatcher(t, webhook.Options{Outbox: ob, Clock: clock, Endpoints: []webhook.Endpoint{endpoint("siem", rcv.srv.URL)}})
	record(t, d, event(sessiond.EventSessionCreated))
	deliverDue(t, d)
	if dead := list(t, ob, sessiond.DeliveryDead); len(dead) != 1 || dead[0].Attempts != 1 {
		t.Errorf("dead = %+v; want the delivery after its first attempt (410 Gone)", dead)
	}
}

func TestDispatcher_EventFilter(t *testing.T) {
	clock := sessiondtest.NewClock(t0)
	all := newReceiver(t, clock, nil)
	revocations := newReceiver(t, clock, nil)
	ob := newOutbox(t)
	d := newDispatcher(t, webhook.Options{Outbox: ob, Clock: clock, Endpoints: []webhook.Endpoint{
		endpoint("all", all.srv.URL),
		endpoint("revocations", revocations.srv.URL, sessiond.EventSessionRevoked, sessiond.EventBulkRevoked),
	}})
	for _, typ := range []sessiond.EventType{sessiond.EventSessionCreated, sessiond.EventSessionRevoked, sessiond.EventSessionRefreshed, sessiond.EventBulkRevoked} {
		record(t, d, event(typ))
	}
	if n := len(list(t, ob, sessiond.DeliveryPending)); n != 6 {
		t.Fatalf("pending = %d; want 6 (4 for all, 2 for revocations)", n)
	}
	for deliverDue(t, d) > 0 {
	}
	types := func(r *receiver) []string {
		var out []string
		for _, rq := range r.requests() {
			var b struct{ Type string }
			_ = json.Unmarshal(rq.body, &b)
			out = append(out, b.Type)
		}
		slices.Sort(out)
		return out
	}
	if got, want := types(all), []string{"session.bulk_revoked", "session.created", "session.refreshed", "session.revoked"}; !slices.Equal(got, want) {
		t.Errorf("endpoint all got %q; want %q", got, want)
	}
	if got, want := types(revocations), []string{"session.bulk_revoked", "session.revoked"}; !slices.Equal(got, want) {
		t.Errorf("endpoint revocations got %q; want %q", got, want)
	}
}

func TestDispatcher_Record(t *testing.T) {
	t.Run("same event twice is one delivery", func(t *testing.T) {
		ob := newOutbox(t)
		d := newDispatcher(t, webhook.Options{Outbox: ob, Clock: sessiondtest.NewClock(t0),
			Endpoints: []webhook.Endpoint{endpoint("a", "https://a.example/"), endpoint("b", "https://b.example/")}})
		e := event(sessiond.EventSessionRevoked)
		record(t, d, e)
		record(t, d, e)
		ds := list(t, ob, sessiond.DeliveryPending)
		var ids []string
		for _, x := range ds {
			ids = append(ids, x.ID)
		}
		slices.Sort(ids)
		want := []string{webhook.DeliveryID(e.ID, "a"), webhook.DeliveryID(e.ID, "b")}
		slices.Sort(want)
		if !slices.Equal(ids, want) {
			t.Errorf("pending IDs = %q; want %q", ids, want)
		}
	})
	t.Run("no matching endpoint", func(t *testing.T) {
		ob := newOutbox(t)
		d := newDispatcher(t, webhook.Options{Outbox: ob,
			Endpoints: []webhook.Endpoint{endpoint("a", "https://a.example/", sessiond.EventRefreshReused)}})
		record(t, d, event(sessiond.EventSessionCreated))
		if ds := list(t, ob, sessiond.DeliveryPending); len(ds) != 0 {
			t.Errorf("pending = %+v; want none", ds)
		}
	})
	t.Run("event without ID or time", func(t *testing.T) {
		ob := newOutbox(t)
		clock := sessiondtest.NewClock(t0)
		d := newDispatcher(t, webhook.Options{Outbox: ob, Clock: clock, Endpoints: []webhook.Endpoint{endpoint("a", "https://a.example/")}})
		record(t, d, sessiond.Event{Type: "session.revoked_by_incident", Subject: "bob"})
		ds := list(t, ob, sessiond.DeliveryPending)
		if len(ds) != 1 || !strings.HasPrefix(ds[0].EventID, "evt_") || ds[0].ID != webhook.DeliveryID(ds[0].EventID, "a") {
			t.Fatalf("pending = %+v; want one delivery with a fresh event ID", ds)
		}
		if !bytes.Contains(ds[0].Payload, []byte(`"timestamp":"2030-03-04T05:06:07Z"`)) {
			t.Errorf("payload %s; want the clock's time as timestamp", ds[0].Payload)
		}
	})
	t.Run("cancelled context still records", func(t *testing.T) {
		ob := newOutbox(t)
		d := newDispatcher(t, webhook.Options{Outbox: ob, Endpoints: []webhook.Endpoint{endpoint("a", "https://a.example/")}})
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if err := d.Record(ctx, event(sessiond.EventSessionRevoked)); err != nil {
			t.Fatalf("Record = %v; want nil", err)
		}
		if ds := list(t, ob, sessiond.DeliveryPending); len(ds) != 1 {
			t.Errorf("pending = %d; want 1", len(ds))
		}
	})
}

func TestDeliveryID(t *testing.T) {
	a := webhook.DeliveryID("evt_1", "siem")
	if a != webhook.DeliveryID("evt_1", "siem") {
		t.Error("DeliveryID is not stable")
	}
	for _, other := range []string{webhook.DeliveryID("evt_2", "siem"), webhook.DeliveryID("evt_1", "pager"), webhook.DeliveryID("evt_1s", "iem")} {
		if other == a {
			t.Errorf("DeliveryID collides: %s", a)
		}
	}
	if !strings.HasPrefix(a, "msg_") || len(a) != 36 || strings.ContainsAny(a, ".= ") {
		t.Errorf("DeliveryID = %q; want msg_ and 32 characters without dots", a)
	}
}

func TestDispatcher_Backoff(t *testing.T) {
	d := newDispatcher(t, webhook.Options{Outbox: newOutbox(t)}) // 2s base, 10m cap
	wantCeil := []time.Duration{2, 4, 8, 16, 32, 64, 128, 256, 512, 600, 600}
	for i, w := range wantCeil {
		if got := d.Ceiling(i + 1); got != w*time.Second {
			t.Errorf("Ceiling(%d) = %s; want %s", i+1, got, w*time.Second)
		}
	}
	if got := d.Ceiling(10_000); got != 10*time.Minute {
		t.Errorf("Ceiling(10000) = %s; want 10m (no overflow)", got)
	}

	t.Run("bounds", func(t *testing.T) {
		d := newDispatcher(t, webhook.Options{Outbox: newOutbox(t)})
		d.SetJitter(func(n int64) int64 { return n - 1 })
		for n := 1; n <= 12; n++ {
			if got, want := d.Backoff(n), d.Ceiling(n); got != want {
				t.Errorf("Backoff(%d) with the largest jitter = %s; want %s", n, got, want)
			}
		}
		d.SetJitter(func(int64) int64 { return 0 })
		if got := d.Backoff(5); got != 0 {
			t.Errorf("Backoff(5) with no jitter = %s; want 0", got)
		}
	})

	t.Run("jittered", func(t *testing.T) {
		for _, n := range []int{1, 4, 12} {
			ceil := d.Ceiling(n)
			seen := map[time.Duration]bool{}
			var sum time.Duration
			const samples = 2000
			for range samples {
				b := d.Backoff(n)
				if b < 0 || b > ceil {
					t.Fatalf("Backoff(%d) = %s; want within [0, %s]", n, b, ceil)
				}
				seen[b] = true
				sum += b / samples
			}
			if len(seen) < samples/2 {
				t.Errorf("Backoff(%d): %d distinct values in %d; want jitter", n, len(seen), samples)
			}
			if mean := float64(sum) / float64(ceil); mean < 0.4 || mean > 0.6 {
				t.Errorf("Backoff(%d): mean is %.2f of the ceiling; want about 0.5 (uniform)", n, mean)
			}
		}
	})

	t.Run("applied to the due time", func(t *testing.T) {
		clock := sessiondtest.NewClock(t0)
		rcv := newReceiver(t, clock, func(int) int { return http.StatusInternalServerError })
		ob := newOutbox(t)
		d := newDispatcher(t, webhook.Options{Outbox: ob, Clock: clock, BaseBackoff: time.Minute, MaxBackoff: time.Hour,
			Endpoints: []webhook.Endpoint{endpoint("siem", rcv.srv.URL)}})
		d.SetJitter(func(n int64) int64 { return n - 1 })
		record(t, d, event(sessiond.EventSessionRevoked))
		for attempt, wantDelay := range []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute} {
			if n := deliverDue(t, d); n != 1 {
				t.Fatalf("attempt %d: DeliverDue = %d; want 1", attempt+1, n)
			}
			p := list(t, ob, sessiond.DeliveryPending)
			if len(p) != 1 || !p[0].NextAttemptAt.Equal(clock.Now().Add(wantDelay)) {
				t.Fatalf("after attempt %d: pending = %+v; want next attempt %s later", attempt+1, p, wantDelay)
			}
			if n := deliverDue(t, d); n != 0 {
				t.Fatalf("before the delay: DeliverDue = %d; want 0", n)
			}
			clock.Advance(wantDelay)
		}
	})
}

func TestDispatcher_RetryAfter(t *testing.T) {
	clock := sessiondtest.NewClock(t0)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	ob := newOutbox(t)
	d := newDispatcher(t, webhook.Options{Outbox: ob, Clock: clock, Endpoints: []webhook.Endpoint{endpoint("siem", srv.URL)}})
	d.SetJitter(func(int64) int64 { return 0 })
	record(t, d, event(sessiond.EventSessionRevoked))
	deliverDue(t, d)
	p := list(t, ob, sessiond.DeliveryPending)
	if len(p) != 1 || !p[0].NextAttemptAt.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("pending = %+v; want next attempt at Retry-After (2m)", p)
	}
}

func TestDispatcher_NoRedirects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		client *http.Client
	}{{"default client", nil}, {"caller's client", &http.Client{Timeout: time.Second}}} {
		t.Run(tc.name, func(t *testing.T) {
			clock := sessiondtest.NewClock(t0)
			target := newReceiver(t, clock, nil)
			redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.srv.URL, http.StatusTemporaryRedirect)
			}))
			t.Cleanup(redirector.Close)
			ob := newOutbox(t)
			d := newDispatcher(t, webhook.Options{Outbox: ob, Clock: clock, Client: tc.client,
				Endpoints: []webhook.Endpoint{endpoint("siem", redirector.URL)}})
			record(t, d, event(sessiond.EventSessionRevoked))
			deliverDue(t, d)
			if n := len(target.requests()); n != 0 {
				t.Errorf("redirect target got %d requests; want 0", n)
			}
			p := list(t, ob, sessiond.DeliveryPending)
			if len(p) != 1 || !strings.Contains(p[0].LastError, "307") {
				t.Errorf("pending = %+v; want a failed attempt naming the 307", p)
			}
		})
	}
}

func TestDispatcher_UnknownEndpoint(t *testing.T) {
	// Deliveries for an endpoint this node does not know (removed, or added
	// on another node first) fail like any attempt and end dead, visibly.
	clock := sessiondtest.NewClock(t0)
	ob := newOutbox(t)
	a := newDispatcher(t, webhook.Options{Outbox: ob, Clock: clock, Endpoints: []webhook.Endpoint{endpoint("gone", "https://gone.example/")}})
	record(t, a, event(sessiond.EventSessionRevoked))
	obs := &observer{}
	b := newDispatcher(t, webhook.Options{Outbox: ob, Clock: clock, Observer: obs.observe})
	for range webhook.DefaultMaxAttempts {
		deliverDue(t, b)
		clock.Advance(webhook.DefaultMaxBackoff)
	}
	dead := list(t, ob, sessiond.DeliveryDead)
	if len(dead) != 1 || dead[0].Attempts != webhook.DefaultMaxAttempts || !strings.Contains(dead[0].LastError, "not configured") {
		t.Errorf("dead = %+v; want the delivery after %d attempts", dead, webhook.DefaultMaxAttempts)
	}
	if c := obs.calls(); len(c) != webhook.DefaultMaxAttempts || c[len(c)-1] != "gone dead" {
		t.Errorf("Observer calls = %q; want retries then dead", c)
	}
}

func TestDispatcher_Run(t *testing.T) {
	// Real time here: Run's loop, stopping, and the wall clock together.
	var mu sync.Mutex
	n := 0
	done := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := webhook.Verify(secret, r.Header, body, time.Minute, time.Now()); err != nil {
			t.Errorf("Verify = %v", err)
		}
		mu.Lock()
		defer mu.Unlock()
		if n++; n < 3 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		if n == 3 {
			close(done)
		}
	}))
	t.Cleanup(srv.Close)
	ob := newOutbox(t)
	d := newDispatcher(t, webhook.Options{Outbox: ob, PollEvery: 5 * time.Millisecond,
		BaseBackoff: time.Millisecond, MaxBackoff: 10 * time.Millisecond, Endpoints: []webhook.Endpoint{endpoint("siem", srv.URL)}})
	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan struct{})
	go func() { d.Run(ctx); close(stopped) }()
	record(t, d, event(sessiond.EventSessionRevoked))
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the event was not delivered within 10s")
	}
	// The receiver has answered; wait for the outcome to be recorded.
	for deadline := time.Now().Add(10 * time.Second); len(list(t, ob, sessiond.DeliveryDelivered)) == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	if got := list(t, ob, sessiond.DeliveryDelivered); len(got) != 1 || got[0].Attempts != 3 {
		t.Errorf("delivered = %+v; want one delivery after 3 attempts", got)
	}
}

func TestDispatcher_StopMidAttempt(t *testing.T) {
	// A dispatcher stopped while a receiver is still answering releases the
	// delivery for an immediate retry; the attempt is not counted.
	clock := sessiondtest.NewClock(t0)
	arrived, release := make(chan struct{}), make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		close(arrived)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: never leave the handler blocked
	ob, obs, d := observedDispatcher(t, clock, srv.URL)
	record(t, d, event(sessiond.EventSessionRevoked))
	ctx, cancel := context.WithCancel(t.Context())
	go func() { <-arrived; cancel() }()
	if n, err := d.DeliverDue(ctx); n != 1 || err != nil {
		t.Fatalf("DeliverDue = %d, %v; want 1, nil", n, err)
	}
	p := list(t, ob, sessiond.DeliveryPending)
	if len(p) != 1 || p[0].Attempts != 0 || !p[0].NextAttemptAt.Equal(t0) {
		t.Fatalf("pending = %+v; want the delivery, 0 attempts, due now", p)
	}
	if c := obs.calls(); len(c) != 0 {
		t.Errorf("Observer calls = %q; want none for an interrupted attempt", c)
	}
}
