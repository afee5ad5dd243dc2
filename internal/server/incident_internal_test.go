package server

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/metrics"
)

// bulkStore is a memory store whose RevokeMatching can block (until
// release is closed, after saying so on entered) or fail.
type bulkStore struct {
	*memstore.Store
	entered chan struct{}
	release chan struct{}
	fail    bool
}

func (s *bulkStore) RevokeMatching(ctx context.Context, f sessiond.RevokeFilter, at time.Time, reason sessiond.RevokeReason) (int, []string, error) {
	if s.entered != nil {
		close(s.entered)
		<-s.release
	}
	if s.fail {
		return 0, nil, fmt.Errorf("connection lost half way: %w", sessiond.ErrStoreUnavailable)
	}
	return s.Store.RevokeMatching(ctx, f, at, reason)
}

// killSwitch wires the kill switch as server.go and
// attachRevocationStream do: recordIncident(incident(...)).
func killSwitch(t *testing.T, st *bulkStore) (func(context.Context, httpapi.IncidentRequest) (int, error), *sessiond.Manager, *signing.Keys) {
	t.Helper()
	ctx := context.Background()
	cfg := config.Default()
	cfg.Strategy = sessiond.StrategyHybrid
	o := Options{Config: cfg, Getenv: func(string) string { return "" }}
	mgr, keys, err := buildManager(ctx, cfg, o, st, st, slog.New(slog.DiscardHandler), func(*sessiond.Options) {}, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mgr.Close(); keys.Close() })
	met, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	events := &fanout{log: st, metrics: met, slog: slog.New(slog.DiscardHandler)}
	return recordIncident(incident(mgr, keys, events), st, keys, events), mgr, keys
}

func logged(t *testing.T, st *bulkStore, typ sessiond.EventType) int {
	t.Helper()
	evs, _, err := st.QueryEvents(context.Background(), sessiond.EventQuery{Type: typ})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

func kidsOf(keys *signing.Keys) []string {
	var kids []string
	for _, k := range keys.Ring().Keys() {
		kids = append(kids, k.ID)
	}
	return kids
}

// A kill switch whose bulk write fails half way (a dropped connection, a
// statement timeout on a large table) has already raised the watermark,
// which every sessiond node honours: the signing keys are retired all the
// same when asked, the verifiers following the stream hear of the
// watermark, and the audit event records the incident and the error.
func TestIncident_StoreFailureStillRotatesAndTells(t *testing.T) {
	ctx := context.Background()
	st := &bulkStore{Store: memstore.New(), fail: true}
	run, mgr, keys := killSwitch(t, st)
	iss, err := mgr.Create(ctx, "alice", sessiond.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before := kidsOf(keys)
	if _, err := run(ctx, httpapi.IncidentRequest{All: true, RotateKeys: true, Reason: "key leak"}); err == nil {
		t.Fatal("the kill switch did not report the store's failure")
	}
	// The sessiond side did take effect: the token is refused here.
	if _, err := mgr.Verify(ctx, iss.AccessToken, sessiond.Client{}); err == nil {
		t.Fatal("precondition: the watermark should already refuse the session's token")
	}
	if after := kidsOf(keys); slices.Equal(before, after) {
		t.Errorf("rotate_keys asked, bulk write failed: signing keys not retired (kids still %v)", after)
	}
	if n := logged(t, st, httpapi.EventWatermarkRaised); n == 0 {
		t.Errorf("the watermark is raised in the store, but no %s event reached the revocation stream", httpapi.EventWatermarkRaised)
	}
	evs, _, err := st.QueryEvents(ctx, sessiond.EventQuery{Type: EventIncident})
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Details["error"] == nil {
		t.Errorf("%s events = %+v; want one, with the error", EventIncident, evs)
	}
}

// The (possibly leaked) signing keys stop verifying before the bulk write
// starts, not after it: on a large store that takes seconds to minutes.
// The verifiers following the stream hear of the watermark and the keys
// while it runs, once each.
func TestIncident_StreamToldDuringTheBulkWrite(t *testing.T) {
	ctx := context.Background()
	st := &bulkStore{Store: memstore.New(), entered: make(chan struct{}), release: make(chan struct{})}
	run, mgr, keys := killSwitch(t, st)
	iss, err := mgr.Create(ctx, "alice", sessiond.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before := kidsOf(keys)
	done := make(chan error, 1)
	go func() {
		_, err := run(ctx, httpapi.IncidentRequest{All: true, RotateKeys: true, Reason: "key leak"})
		done <- err
	}()
	<-st.entered // the bulk write is running
	if _, err := mgr.Verify(ctx, iss.AccessToken, sessiond.Client{}); err == nil {
		t.Error("precondition: the watermark should already refuse the token on this node")
	}
	sameKeys := slices.Equal(before, kidsOf(keys))
	// A guard against a hang, not a measurement: the kill switch looks
	// every incidentPoll.
	for deadline := time.Now().Add(10 * time.Second); logged(t, st, httpapi.EventWatermarkRaised) == 0 || logged(t, st, httpapi.EventKeysRetired) == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the stream was not told of the watermark and the keys while the bulk write ran")
		}
	}
	close(st.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if sameKeys {
		t.Error("during the bulk write the (possibly leaked) signing keys are not retired yet")
	}
	for _, typ := range []sessiond.EventType{httpapi.EventWatermarkRaised, httpapi.EventKeysRetired} {
		if n := logged(t, st, typ); n != 1 {
			t.Errorf("%d %s events after the incident, want 1", n, typ)
		}
	}
}
