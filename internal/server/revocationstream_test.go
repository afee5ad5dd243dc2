package server

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/metrics"
	"github.com/sessiond/sessiond/opaquetoken"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/verifier/stream"
)

func TestWakeHub(t *testing.T) {
	t.Parallel()
	h := newWakeHub()
	if revs, last := h.recent(^uint64(0)); revs != nil || last != 0 {
		t.Fatalf("empty hub = %v %d", revs, last)
	}
	woken := h.Next()
	for i := range hubRing + 10 {
		h.add(sessiond.Revocation{SessionID: sessiond.SessionID(string(rune('a' + i%26)))})
	}
	select {
	case <-woken:
	default:
		t.Error("add did not wake")
	}
	revs, last := h.recent(0)
	if last != hubRing+10 || len(revs) != hubRing {
		t.Errorf("recent(0) after overflow = %d entries, last %d; want the ring's %d, last %d", len(revs), last, hubRing, hubRing+10)
	}
	revs, _ = h.recent(last - 2)
	if len(revs) != 2 || revs[1] != h.ring[last%hubRing] {
		t.Errorf("recent(last-2) = %v; want the two newest", revs)
	}
	if revs, _ := h.recent(last); revs != nil {
		t.Errorf("recent(last) = %v; want none", revs)
	}
}

func TestReadWatermarks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st := memstore.New()
	if got, err := readWatermarks(ctx, st); err != nil || len(got) != 0 {
		t.Errorf("no document: %v %v", got, err)
	}
	all := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
	if _, err := st.PutMeta(ctx, watermarkDoc, []byte(`{"all":"2030-01-02T03:04:05.000006Z","subjects":{"b":"2030-01-01T00:00:00Z","a":"2030-01-01T00:00:00Z"}}`), 0); err != nil {
		t.Fatal(err)
	}
	got, err := readWatermarks(ctx, st)
	want := []stream.Watermark{{All: true, IssuedBefore: all}, {Subject: "a", IssuedBefore: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)},
		{Subject: "b", IssuedBefore: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}}
	if err != nil || len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("readWatermarks = %v, %v; want %v", got, err, want)
	}
	if _, err := st.PutMeta(ctx, watermarkDoc, []byte(`{"all":`), 1); err != nil {
		t.Fatal(err)
	}
	if _, err := readWatermarks(ctx, st); err == nil {
		t.Error("corrupt document: no error")
	}
}

func TestRetention(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		driver string
		keep   time.Duration
		want   time.Duration
	}{
		{"postgres", 90 * 24 * time.Hour, 90 * 24 * time.Hour},
		{"postgres", 0, 0},
		{"redis", 90 * 24 * time.Hour, 90 * 24 * time.Hour},
		{"redis", 0, 400 * 24 * time.Hour},
		{"redis", 500 * 24 * time.Hour, 400 * 24 * time.Hour},
	} {
		cfg := config.Default()
		cfg.Store.Driver, cfg.Events.Retention = c.driver, config.Duration(c.keep)
		if got := retention(cfg); got != c.want {
			t.Errorf("retention(%s, %v) = %v; want %v", c.driver, c.keep, got, c.want)
		}
	}
}

// incidentRecorder is the kill switch of a hybrid Manager on a memory
// store, wrapped by recordIncident with the server's event fanout; clock
// (nil: the system's) is the Manager's and the fanout's.
func incidentRecorder(t *testing.T, now time.Time, clock sessiond.Clock) (*memstore.Store, func(context.Context, httpapi.IncidentRequest) (int, error)) {
	t.Helper()
	st := memstore.New()
	ring, err := jwttoken.NewRing(now, jwttoken.RingOptions{MaxTokenLifetime: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	codec, _ := jwttoken.New(ring, jwttoken.Options{Issuer: "i", Audience: "a"})
	mgr, err := sessiond.New(t.Context(), sessiond.Options{Strategy: sessiond.StrategyHybrid, Store: st, Signed: codec, Opaque: opaquetoken.Codec{},
		Clock: clock, Lifetimes: sessiond.Lifetimes{Access: time.Minute, Refresh: time.Hour, Idle: time.Hour, Absolute: time.Hour}, GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mgr.Close() })
	met, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	events := &fanout{log: st, metrics: met, slog: slog.New(slog.DiscardHandler), clock: clock}
	return st, recordIncident(func(ctx context.Context, req httpapi.IncidentRequest) (int, error) {
		return mgr.RevokeMatching(ctx, sessiond.RevokeFilter{All: req.All, Subjects: req.Subjects, IssuedBefore: req.IssuedBefore},
			sessiond.ReasonIncident, false)
	}, st, nil, events)
}

// TestRecordIncident: the events an incident records carry the watermark
// the Manager stored, even when it is past the request's issued_before (two
// incidents in one second), and the keys it retired.
func TestRecordIncident(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, run := incidentRecorder(t, time.Now(), nil)
	for _, req := range []httpapi.IncidentRequest{{All: true}, {All: true}, {Subjects: []string{"a", "b"}}, {Subjects: []string{"a"}}} {
		if _, err := run(ctx, req); err != nil {
			t.Fatal(err)
		}
		stored, err := readWatermarks(ctx, st)
		if err != nil {
			t.Fatal(err)
		}
		evs, _, err := st.QueryEvents(ctx, sessiond.EventQuery{Type: httpapi.EventWatermarkRaised, Limit: 1000})
		if err != nil || len(evs) == 0 {
			t.Fatalf("no watermark event: %v", err)
		}
		last := evs[len(evs)-1].Details
		got, _ := time.Parse(time.RFC3339Nano, last["issued_before"].(string))
		want := stored[0].IssuedBefore // all
		if !req.All {
			for _, w := range stored {
				if w.Subject == req.Subjects[len(req.Subjects)-1] {
					want = w.IssuedBefore
				}
			}
		}
		if !got.Equal(want) || last["all"] != req.All {
			t.Errorf("incident %+v: event issued_before %v all %v; the store has %v", req, got, last["all"], want)
		}
	}
}

// TestRecordIncident_ServerClock: an incident without issued_before ends
// at the server's clock (the one the Manager is given), and the events
// the server records are dated by it, not by the wall clock.
func TestRecordIncident_ServerClock(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Now().Add(-3 * time.Hour).UTC().Truncate(time.Second)
	st, run := incidentRecorder(t, now, sessiondtest.NewClock(now))
	if _, err := run(ctx, httpapi.IncidentRequest{All: true}); err != nil {
		t.Fatal(err)
	}
	evs, _, err := st.QueryEvents(ctx, sessiond.EventQuery{Type: httpapi.EventWatermarkRaised, Limit: 10})
	if err != nil || len(evs) != 1 {
		t.Fatalf("watermark events = %d, %v; want 1", len(evs), err)
	}
	got, _ := time.Parse(time.RFC3339Nano, evs[0].Details["issued_before"].(string))
	if !got.Equal(now) || !evs[0].Time.Equal(now) {
		t.Errorf("event at %v with issued_before %v; want both at the server clock's %v", evs[0].Time, got, now)
	}
}
