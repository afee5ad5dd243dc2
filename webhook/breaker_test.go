package webhook_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/webhook"

	"github.com/sessiond/sessiond/internal/testenv"
)

// closedURL returns the URL of a port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr + "/hook"
}

// answering returns a receiver URL that answers every request with code
// and, if retryAfter is not empty, that Retry-After.
func answering(t *testing.T, code int, retryAfter string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// pending returns the outbox's pending delivery with ID id.
func pending(t *testing.T, o sessiond.Outbox, id string) sessiond.Delivery {
	t.Helper()
	for _, d := range list(t, o, sessiond.DeliveryPending) {
		if d.ID == id {
			return d
		}
	}
	t.Fatalf("delivery %s is not pending", id)
	return sessiond.Delivery{}
}

// logLines returns the messages of the JSON log lines at level.
func logLines(out, level string) []string {
	var msgs []string
	for line := range strings.Lines(out) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["level"] == level {
			msgs = append(msgs, m["msg"].(string))
		}
	}
	return msgs
}

// TestDispatcher_Breaker: after an attempt fails for the receiver's
// reason, the next delivery to the endpoint is put back unsent until the
// cooling down ends; after a refusal of the delivery itself it is sent.
func TestDispatcher_Breaker(t *testing.T) {
	hanging := func(t *testing.T) string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.ReadAll(r.Body) // then the server notices the client hanging up
			<-r.Context().Done()
		}))
		t.Cleanup(srv.Close)
		return srv.URL
	}
	tests := []struct {
		name     string
		url      func(t *testing.T) string
		wantCool time.Duration // 0: not cooling, the second delivery is attempted
		// client is the dispatcher's (nil: the default, 10 s). Only the
		// hanging receiver's case sets a short timeout: there it is the
		// event waited for. With 50 ms for every case, a late answer on a
		// loaded machine was taken for a timeout and cooled the endpoint.
		client *http.Client
	}{
		{"timeout", hanging, 2 * time.Second, &http.Client{Timeout: 50 * time.Millisecond}},
		{"connection refused", closedURL, 2 * time.Second, nil},
		{"500", func(t *testing.T) string { return answering(t, 500, "") }, 2 * time.Second, nil},
		{"503", func(t *testing.T) string { return answering(t, 503, "") }, 2 * time.Second, nil},
		{"503 with Retry-After", func(t *testing.T) string { return answering(t, 503, "120") }, 2 * time.Minute, nil},
		{"429 with Retry-After", func(t *testing.T) string { return answering(t, 429, "120") }, 2 * time.Minute, nil},
		{"429 with Retry-After beyond MaxBackoff", func(t *testing.T) string { return answering(t, 429, "36000") }, webhook.DefaultMaxBackoff, nil},
		// Seconds whose nanoseconds overflow a Duration: still "wait at
		// least that long", capped, never wrapped to a short or negative delay.
		{"429 with Retry-After overflowing a Duration", func(t *testing.T) string { return answering(t, 429, "18446744074") }, webhook.DefaultMaxBackoff, nil},
		{"503 with Retry-After overflowing to negative", func(t *testing.T) string { return answering(t, 503, "9300000000") }, webhook.DefaultMaxBackoff, nil},
		{"429 with Retry-After past an int64", func(t *testing.T) string { return answering(t, 429, "9223372036854775808") }, webhook.DefaultMaxBackoff, nil},
		{"400", func(t *testing.T) string { return answering(t, 400, "") }, 0, nil},
		{"404", func(t *testing.T) string { return answering(t, 404, "") }, 0, nil},
		{"410", func(t *testing.T) string { return answering(t, 410, "") }, 0, nil},
		{"307", func(t *testing.T) string { return answering(t, 307, "") }, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := sessiondtest.NewClock(t0)
			ob := newOutbox(t)
			d := newDispatcher(t, webhook.Options{Outbox: ob, Clock: clock, Client: tt.client,
				Endpoints: []webhook.Endpoint{endpoint("siem", tt.url(t))}})
			d.SetJitter(func(int64) int64 { return 0 })
			record(t, d, event(sessiond.EventSessionRevoked))
			deliverDue(t, d)

			second := event(sessiond.EventSessionRevoked)
			record(t, d, second)
			id := webhook.DeliveryID(second.ID, "siem")
			if n := deliverDue(t, d); n < 1 {
				t.Fatalf("DeliverDue = %d; want the second delivery claimed", n)
			}
			var got sessiond.Delivery
			if tt.wantCool == 0 {
				for _, state := range []sessiond.DeliveryState{sessiond.DeliveryPending, sessiond.DeliveryDead} {
					for _, x := range list(t, ob, state) {
						if x.ID == id {
							got = x
						}
					}
				}
				if got.Attempts != 1 {
					t.Errorf("second delivery = %+v; want it attempted (1 attempt): %s is not the breaker's matter", got, tt.name)
				}
				return
			}
			got = pending(t, ob, id)
			if got.Attempts != 0 || !got.NextAttemptAt.Equal(t0.Add(tt.wantCool)) || got.LastError != "" {
				t.Errorf("second delivery = attempts %d, next %s, last error %q; want 0, t0+%s, none (put back unsent)",
					got.Attempts, got.NextAttemptAt.Sub(t0), got.LastError, tt.wantCool)
			}
		})
	}
}

// TestDispatcher_BreakerDefers: while an endpoint cools down, its claimed
// deliveries go back unsent with their attempts, so none goes dead for
// it; a success closes the breaker. One log line each way, none per
// delivery.
func TestDispatcher_BreakerDefers(t *testing.T) {
	clock := sessiondtest.NewClock(t0)
	rcv := newReceiver(t, clock, func(n int) int {
		if n == 1 {
			return http.StatusInternalServerError
		}
		return http.StatusNoContent
	})
	ob := newOutbox(t)
	obs := &observer{}
	var logs testenv.SyncBuffer
	ep := endpoint("siem", rcv.srv.URL)
	ep.MaxAttempts = 2
	d := newDispatcher(t, webhook.Options{Outbox: ob, Clock: clock, Observer: obs.observe,
		Logger: slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Endpoints: []webhook.Endpoint{ep}})
	d.SetJitter(func(int64) int64 { return 0 })
	first := event(sessiond.EventSessionRevoked)
	record(t, d, first)
	deliverDue(t, d) // 500: cooling until t0+2s

	var later []sessiond.Event
	for range 3 {
		e := event(sessiond.EventSessionRevoked)
		later = append(later, e)
		record(t, d, e)
	}
	for i := range 3 {
		if n := deliverDue(t, d); i == 0 && n != 4 || i > 0 && n != 0 {
			t.Fatalf("DeliverDue #%d while cooling = %d; want 4 claimed and put back, then none due", i+1, n)
		}
	}
	if n := len(rcv.requests()); n != 1 {
		t.Fatalf("receiver got %d requests while the endpoint cools down; want 1", n)
	}
	if p := pending(t, ob, webhook.DeliveryID(first.ID, "siem")); p.Attempts != 1 || !p.NextAttemptAt.Equal(t0.Add(2*time.Second)) || !strings.Contains(p.LastError, "500") {
		t.Errorf("failed delivery = %+v; want its 1 attempt and last error kept, due when cooling ends", p)
	}
	for _, e := range later {
		if p := pending(t, ob, webhook.DeliveryID(e.ID, "siem")); p.Attempts != 0 || !p.NextAttemptAt.Equal(t0.Add(2*time.Second)) {
			t.Errorf("deferred delivery = %+v; want 0 attempts, due when cooling ends", p)
		}
	}
	if got, want := obs.calls(), []string{"siem retry"}; !slices.Equal(got, want) {
		t.Errorf("Observer calls = %q; want %q (a deferral is no attempt)", got, want)
	}

	clock.Advance(2 * time.Second)
	if n := deliverDue(t, d); n != 4 {
		t.Fatalf("DeliverDue after cooling = %d; want 4", n)
	}
	if got := list(t, ob, sessiond.DeliveryDelivered); len(got) != 4 {
		t.Fatalf("delivered = %d; want 4 (the probe succeeded, the breaker closed)", len(got))
	}
	for _, x := range list(t, ob, sessiond.DeliveryDelivered) {
		if want := 1 + btoi(x.EventID == first.ID); x.Attempts != want {
			t.Errorf("delivered %s after %d attempts; want %d", x.EventID, x.Attempts, want)
		}
	}
	out := logs.String()
	if got, want := logLines(out, "WARN"), []string{"webhook endpoint cooling down", "webhook delivery failed; will retry"}; !slices.Equal(got, want) {
		t.Errorf("WARN lines = %q; want %q", got, want)
	}
	if got, want := logLines(out, "INFO"), []string{"webhook endpoint delivers again"}; !slices.Equal(got, want) {
		t.Errorf("INFO lines = %q; want %q", got, want)
	}
	if !strings.Contains(out, `"deferred":4`) {
		t.Errorf("log = %s; want the recovery line to count 4 deliveries put back", out)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestDispatcher_BreakerBackoff: cooling down grows with consecutive
// failures, on the dispatcher's backoff ceilings; the probe after it is a
// single request; one WARN line for the whole outage.
func TestDispatcher_BreakerBackoff(t *testing.T) {
	clock := sessiondtest.NewClock(t0)
	rcv := newReceiver(t, clock, func(int) int { return http.StatusBadGateway })
	ob := newOutbox(t)
	var logs testenv.SyncBuffer
	d := newDispatcher(t, webhook.Options{Outbox: ob, Clock: clock, Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
		Endpoints: []webhook.Endpoint{endpoint("siem", rcv.srv.URL)}})
	d.SetJitter(func(int64) int64 { return 0 })
	for range 3 {
		record(t, d, event(sessiond.EventSessionRevoked))
	}
	at := t0
	for i, cool := range []time.Duration{2 * time.Second, 4 * time.Second, 8 * time.Second} {
		if n := deliverDue(t, d); n != 3 {
			t.Fatalf("pass %d: DeliverDue = %d; want 3", i+1, n)
		}
		// First pass: up to 8 in flight, all fail together (one failure).
		// Then on probation: one request, the others wait for it and go
		// back when it fails.
		if want := 3 + i; len(rcv.requests()) != want {
			t.Fatalf("pass %d: receiver has %d requests; want %d", i+1, len(rcv.requests()), want)
		}
		// The failed ones are due again at once (no jitter): claimed, they
		// go back unsent until the cooling down ends.
		deliverDue(t, d)
		if want := 3 + i; len(rcv.requests()) != want {
			t.Fatalf("pass %d, cooling: receiver has %d requests; want %d", i+1, len(rcv.requests()), want)
		}
		for _, p := range list(t, ob, sessiond.DeliveryPending) {
			if !p.NextAttemptAt.Equal(at.Add(cool)) {
				t.Fatalf("pass %d: %s due at t0+%s; want t0+%s", i+1, p.ID, p.NextAttemptAt.Sub(t0), at.Add(cool).Sub(t0))
			}
		}
		at = at.Add(cool)
		clock.Set(at)
	}
	if got := logLines(logs.String(), "WARN"); slices.Index(got, "webhook endpoint cooling down") < 0 || len(slices.DeleteFunc(got, func(m string) bool { return m != "webhook endpoint cooling down" })) != 1 {
		t.Errorf("WARN lines = %q; want one cooling-down line for the outage", logLines(logs.String(), "WARN"))
	}
}

// hangingReceiver answers nothing until the test ends (or the client
// gives up), counting the requests it got.
func hangingReceiver(t *testing.T) (url string, hits *atomic.Int64) {
	t.Helper()
	hits = new(atomic.Int64)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body) // then the server notices the client hanging up
		hits.Add(1)
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // runs first: Close waits for handlers
	return srv.URL, hits
}

// isolationRun queues many deliveries for a hanging receiver, then a few
// for a healthy one, runs the dispatcher until the healthy receiver has
// them all, and checks the hanging receiver's share of the work and that
// its deliveries' attempts are only ones it received.
func isolationRun(t *testing.T, client *http.Client) {
	const slow, healthy = 150, 5 // slow > MaxHeld: a claim alone cannot reach the healthy ones
	clock := sessiondtest.NewClock(t0)
	hangURL, hits := hangingReceiver(t)
	rcv := newReceiver(t, clock, nil)
	ob := newOutbox(t)
	d := newDispatcher(t, webhook.Options{Outbox: ob, Clock: clock, Client: client, PollEvery: 10 * time.Millisecond,
		Endpoints: []webhook.Endpoint{
			endpoint("hang", hangURL, sessiond.EventSessionRevoked),
			endpoint("ok", rcv.srv.URL, sessiond.EventRefreshReused),
		}})
	for range slow {
		record(t, d, event(sessiond.EventSessionRevoked))
	}
	clock.Advance(time.Second) // the healthy endpoint's deliveries are due after all of them
	for range healthy {
		record(t, d, event(sessiond.EventRefreshReused))
	}

	ctx, cancel := context.WithCancel(t.Context())
	stopped := make(chan struct{})
	go func() { d.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()
	for deadline := time.Now().Add(20 * time.Second); len(list(t, ob, sessiond.DeliveryDelivered)) < healthy; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the healthy receiver got %d of %d deliveries in 20s; the hanging one %d requests", len(rcv.requests()), healthy, hits.Load())
		}
	}
	if n := hits.Load(); n > webhook.MaxInFlightPerEndpoint {
		t.Errorf("the hanging receiver got %d requests before the healthy one had its %d; want at most %d (its slots)", n, healthy, webhook.MaxInFlightPerEndpoint)
	}
	cancel()
	select {
	case <-stopped:
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after cancel")
	}

	if got := list(t, ob, sessiond.DeliveryDelivered); len(got) != healthy {
		t.Errorf("delivered = %d; want %d", len(got), healthy)
	}
	if dead := list(t, ob, sessiond.DeliveryDead); len(dead) != 0 {
		t.Errorf("dead = %d; want none", len(dead))
	}
	p, err := ob.ListDeliveries(t.Context(), sessiond.DeliveryPending, 2*slow)
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != slow {
		t.Fatalf("pending = %d; want the hanging receiver's %d", len(p), slow)
	}
	var attempts int
	for _, x := range p {
		attempts += x.Attempts
		if x.Attempts > 1 {
			t.Errorf("%s: %d attempts; want at most 1", x.ID, x.Attempts)
		}
		// Released, not held until the lease runs out.
		if !x.NextAttemptAt.Before(clock.Now().Add(webhook.DefaultLease)) {
			t.Errorf("%s: due at t0+%s; want it released when Run stopped", x.ID, x.NextAttemptAt.Sub(t0))
		}
	}
	if n := hits.Load(); int64(attempts) > n {
		t.Errorf("the hanging receiver's deliveries count %d attempts; it got %d requests", attempts, n)
	}
}

// TestDispatcher_HangingReceiverTimesOut: a receiver that hangs until the
// client's timeout opens its breaker after one round of requests; the
// healthy endpoint's deliveries, queued behind its backlog, go through.
func TestDispatcher_HangingReceiverTimesOut(t *testing.T) {
	isolationRun(t, &http.Client{Timeout: 200 * time.Millisecond})
}

// TestDispatcher_HangingReceiverStalls: a receiver that hangs longer than
// the test has no failure to open its breaker; its backlog goes back to
// the outbox unsent once its slots have been busy a while, and the
// healthy endpoint's deliveries go through meanwhile.
func TestDispatcher_HangingReceiverStalls(t *testing.T) {
	// 20s: within half the lease, so claims may wait for a slot.
	isolationRun(t, &http.Client{Timeout: 20 * time.Second})
}

// TestDispatcher_SlotsPerEndpoint: one DeliverDue pass with more due
// deliveries for one endpoint than its slots sends them all, at most
// MaxInFlightPerEndpoint at once. The receiver holds every request until
// each claimed delivery has either reached it or waits in the dispatcher
// for a slot: then nothing is on its way, so the requests it holds are all the
// dispatcher has in flight, however the goroutines were scheduled (a
// receiver that merely slept let a dispatcher with too many slots pass
// when its requests happened not to overlap). The stall threshold is
// lifted so that holding them puts nothing back.
func TestDispatcher_SlotsPerEndpoint(t *testing.T) {
	const n = 2 * webhook.MaxInFlightPerEndpoint
	clock := sessiondtest.NewClock(t0)
	var mu sync.Mutex
	var now, peak int
	release, arrived := make(chan struct{}), make(chan struct{}, n)
	free := sync.OnceFunc(func() { close(release) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		now++
		peak = max(peak, now)
		mu.Unlock()
		select {
		case arrived <- struct{}{}:
		default:
		}
		<-release
		mu.Lock()
		now--
		mu.Unlock()
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(free) // before srv.Close, which waits for the handlers
	ob, _, d := observedDispatcher(t, clock, srv.URL)
	d.SetStallAfter(time.Hour)
	for range n {
		record(t, d, event(sessiond.EventSessionRevoked))
	}
	done := make(chan int, 1)
	go func() {
		c, err := d.DeliverDue(context.Background())
		if err != nil {
			t.Errorf("DeliverDue = %d, %v; want nil error", c, err)
		}
		done <- c
	}()
	// Held once every claim not yet recorded is at the receiver or waits
	// for a slot: none is on its way. Checked at each arrival, and each
	// tick for a dispatcher that would put claims back (whose writes no
	// arrival follows); the tick is no threshold, only a wake-up.
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	// Fail, not hang, on a dispatcher that never fills the slots or never
	// hands a freed one to a waiting claim (DeliverDue never returns): a
	// minute is far beyond any schedule of a right one, no measure of it.
	stuck := time.After(time.Minute)
	for held := false; !held; {
		select {
		case <-arrived:
		case <-tick.C:
		case c := <-done:
			t.Fatalf("DeliverDue = %d before the receiver answered anything", c)
		case <-stuck:
			mu.Lock()
			at := now
			mu.Unlock() // the receiver's handlers take mu on their way out
			t.Fatalf("after a minute %d requests at the receiver, %d waiting, %d unrecorded; want every claim at the receiver or waiting", at, d.Waiting("siem"), d.Unrecorded())
		}
		mu.Lock()
		held = now > 0 && now+d.Waiting("siem") == d.Unrecorded()
		mu.Unlock()
	}
	free()
	select {
	case c := <-done:
		if c != n {
			t.Fatalf("DeliverDue = %d; want %d", c, n)
		}
	case <-stuck:
		t.Fatalf("DeliverDue has not returned a minute after the receiver answered: %d claims waiting, %d unrecorded", d.Waiting("siem"), d.Unrecorded())
	}
	if got := list(t, ob, sessiond.DeliveryDelivered); len(got) != n {
		t.Errorf("delivered = %d; want %d", len(got), n)
	}
	if peak != webhook.MaxInFlightPerEndpoint {
		t.Errorf("%d requests in flight at once; want %d (the endpoint's slots, all taken)", peak, webhook.MaxInFlightPerEndpoint)
	}
}

// TestDispatcher_BusyReceiverDoesNotHoldOthers: a receiver that answers
// every request, slowly but well inside the stall threshold, with a
// backlog (revocation notices after a kill switch). Its claims must not
// fill the node's held deliveries: another endpoint's alert, recorded
// after the whole backlog, is delivered while most of the backlog is still
// to go, and nothing of the backlog is lost or charged an attempt for
// being put back.
func TestDispatcher_BusyReceiverDoesNotHoldOthers(t *testing.T) {
	const backlog = 200
	var slowGot atomic.Int64
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(600 * time.Millisecond):
			slowGot.Add(1)
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(slow.Close)
	alert := make(chan int64, 1)
	siem := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case alert <- slowGot.Load():
		default:
		}
	}))
	t.Cleanup(siem.Close)

	st := memstore.New()
	d, err := webhook.New(webhook.Options{Outbox: st, Endpoints: []webhook.Endpoint{
		{Name: "slow", URL: slow.URL, Secret: secret, Events: []sessiond.EventType{sessiond.EventSessionRevoked}},
		{Name: "siem", URL: siem.URL, Secret: secret, Events: []sessiond.EventType{sessiond.EventAnomaly}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for range backlog {
		if err := d.Record(ctx, sessiond.Event{Type: sessiond.EventSessionRevoked, Time: time.Now().Add(-time.Minute)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Record(ctx, sessiond.Event{Type: sessiond.EventAnomaly}); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); d.Run(runCtx) }()
	defer func() { stop(); <-done }()

	select {
	case n := <-alert:
		// Before: the alert waited for the whole backlog, 8 slots at a time.
		if n > backlog/4 {
			t.Errorf("the other endpoint's alert went out after %d of the busy receiver's %d deliveries; want it before a quarter of them", n, backlog)
		}
	case <-time.After(time.Minute): // only turns a hang into a failure
		t.Fatalf("the other endpoint's alert is not delivered (busy receiver answered %d)", slowGot.Load())
	}
	stop()
	<-done
	total := 0
	for _, state := range []sessiond.DeliveryState{sessiond.DeliveryPending, sessiond.DeliveryDelivered, sessiond.DeliveryDead} {
		ds, err := st.ListDeliveries(ctx, state, 1000)
		if err != nil {
			t.Fatal(err)
		}
		total += len(ds)
		for _, del := range ds {
			if state != sessiond.DeliveryDelivered && del.Attempts != 0 {
				t.Errorf("delivery %s is %s with %d attempts; want 0 (it was never sent)", del.ID, state, del.Attempts)
			}
		}
	}
	if total != backlog+1 {
		t.Errorf("the outbox holds %d deliveries; want %d", total, backlog+1)
	}
}

// slowClaim is an outbox whose ClaimDeliveries takes a while (a loaded
// store); it keeps the time the claim was asked at.
type slowClaim struct {
	sessiond.Outbox
	mu    sync.Mutex
	asked time.Time
}

func (o *slowClaim) ClaimDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]sessiond.Delivery, error) {
	o.mu.Lock()
	o.asked = time.Now()
	o.mu.Unlock()
	ds, err := o.Outbox.ClaimDeliveries(ctx, now, limit, lease)
	time.Sleep(400 * time.Millisecond)
	return ds, err
}

type deadlineSender struct{ deadline chan time.Time }

func (s deadlineSender) Owns(string) bool { return true }
func (s deadlineSender) Send(ctx context.Context, _ sessiond.Delivery) (bool, error) {
	dl, _ := ctx.Deadline()
	s.deadline <- dl
	return false, nil
}

// TestDispatcher_AttemptDeadlineFromClaim: the lease runs from the claim,
// so the attempt's hard deadline (half a lease) counts from before the
// store answered, not after: a slow claim must not push the attempt and
// its outcome past the lease, when another node may send it again.
func TestDispatcher_AttemptDeadlineFromClaim(t *testing.T) {
	st := &slowClaim{Outbox: memstore.New()}
	s := deadlineSender{deadline: make(chan time.Time, 1)}
	const lease = webhook.MinLease
	d, err := webhook.New(webhook.Options{Outbox: st, Senders: []webhook.Sender{s}, Lease: lease,
		Client: &http.Client{Timeout: time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := st.EnqueueDeliveries(context.Background(), sessiond.Delivery{ID: "msg_x", Endpoint: "ssf:x", EventID: "e",
		Payload: []byte(`{}`), State: sessiond.DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	if n, err := d.DeliverDue(context.Background()); n != 1 || err != nil {
		t.Fatalf("DeliverDue = %d, %v", n, err)
	}
	dl := <-s.deadline
	st.mu.Lock()
	defer st.mu.Unlock()
	if limit := st.asked.Add(lease / 2); dl.After(limit) {
		t.Errorf("the attempt's deadline is %v after the claim was asked; want at most half the lease, %v", dl.Sub(st.asked), lease/2)
	}
}

// storeFailingSender fails its first Send as a Sender whose own store is
// unreachable does: ErrStoreUnavailable with the driver's network error.
type storeFailingSender struct{ calls atomic.Int64 }

func (s *storeFailingSender) Owns(string) bool { return true }
func (s *storeFailingSender) Send(context.Context, sessiond.Delivery) (bool, error) {
	if s.calls.Add(1) == 1 {
		return false, fmt.Errorf("ssf: read streams: %w", errors.Join(sessiond.ErrStoreUnavailable,
			&net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}))
	}
	return false, nil
}

// TestDispatcher_SenderStoreErrorIsNotTheReceivers: a Sender failing on
// its own store says nothing of its receiver: the endpoint does not cool
// down, and the next delivery is sent.
func TestDispatcher_SenderStoreErrorIsNotTheReceivers(t *testing.T) {
	ob := newOutbox(t)
	s := &storeFailingSender{}
	d := newDispatcher(t, webhook.Options{Outbox: ob, Clock: sessiondtest.NewClock(t0), Senders: []webhook.Sender{s}})
	now := t0
	for _, id := range []string{"msg_1", "msg_2"} {
		if err := ob.EnqueueDeliveries(context.Background(), sessiond.Delivery{ID: id, Endpoint: "ssf:x", EventID: id,
			Payload: []byte(`{}`), State: sessiond.DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}); err != nil {
			t.Fatal(err)
		}
		deliverDue(t, d)
	}
	if n := s.calls.Load(); n != 2 {
		t.Errorf("Send called %d times; want 2: a store error of the sender's cooled its endpoint down", n)
	}
}
