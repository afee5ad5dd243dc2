package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/metrics"
	"github.com/sessiond/sessiond/sqlitestore"
	"github.com/sessiond/sessiond/webhook"
)

// TestFanout_RecordKeepsErrorChain: when the event log fails, Record's
// error still matches the store's sentinel (it was formatted with %v, so
// errors.Is could not see through it).
func TestFanout_RecordKeepsErrorChain(t *testing.T) {
	ctx := context.Background()
	store, err := sqlitestore.New(ctx, filepath.Join(t.TempDir(), "db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	store.Close() // every write now fails
	met, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	e := sessiond.Event{ID: sessiond.NewEventID(now), Time: now, Type: sessiond.EventSessionCreated}
	want := store.AppendEvents(ctx, e)
	if want == nil {
		t.Fatal("a closed store accepted an event")
	}
	f := &fanout{log: store, metrics: met}
	got := f.Record(ctx, e)
	if got == nil {
		t.Fatal("Record on a closed store = nil")
	}
	if !errors.Is(want, sessiond.ErrStoreUnavailable) {
		t.Fatalf("closed store: %v; want an error matching ErrStoreUnavailable", want)
	}
	if !errors.Is(got, sessiond.ErrStoreUnavailable) {
		t.Errorf("Record = %v; errors.Is(err, ErrStoreUnavailable) = false", got)
	}
}

// TestFanout_EmitLogsActingKey: the WARN line of an event the server
// emits itself (incident.revoked) names the API key that caused it, as the
// stored event does: operations.md promises both.
func TestFanout_EmitLogsActingKey(t *testing.T) {
	met, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	st := memstore.New()
	f := &fanout{log: st, metrics: met, slog: slog.New(slog.NewJSONHandler(&logged, nil))}
	ctx := httpapi.WithActingKey(context.Background(), "key_operator1")
	f.emit(ctx, sessiond.Event{Type: EventIncident, Details: map[string]any{"reason": "drill", "revoked": 0}})
	var line struct {
		Level   string         `json:"level"`
		Details map[string]any `json:"details"`
	}
	if err := json.Unmarshal(logged.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", logged.String(), err)
	}
	if line.Level != "WARN" || line.Details["api_key_id"] != "key_operator1" || line.Details["reason"] != "drill" {
		t.Errorf("log line %s; want WARN with details.api_key_id key_operator1 and the reason", logged.String())
	}
	evs, _, err := st.QueryEvents(ctx, sessiond.EventQuery{Type: EventIncident})
	if err != nil || len(evs) != 1 || evs[0].Details["api_key_id"] != "key_operator1" {
		t.Errorf("stored events %+v, %v; want one naming key_operator1", evs, err)
	}
}

// TestFanout_MasksEventIPs: with events.ipv4_prefix and ipv6_prefix, the
// events the server records itself (a refused API key, through emit; a
// Shared Signals SET, through Record) keep only the leading bits of the
// client's address, in the store and the log line (webhook payloads are
// made from the same event).
func TestFanout_MasksEventIPs(t *testing.T) {
	met, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	st := memstore.New()
	f := &fanout{log: st, metrics: met, slog: slog.New(slog.NewJSONHandler(&logged, nil)),
		ip: sessiond.IPPrefixes{V4: 24, V6: 48}}
	ctx := context.Background()
	f.emit(ctx, sessiond.Event{Type: EventAPIKeyAuthFailed, Client: sessiond.Client{IP: "198.51.100.77"}})
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := f.Record(ctx, sessiond.Event{ID: sessiond.NewEventID(now), Time: now, Type: sessiond.EventSessionRevoked,
		Client: sessiond.Client{IP: "2001:db8:1234:5678::9"}}); err != nil {
		t.Fatal(err)
	}
	evs, _, err := st.QueryEvents(ctx, sessiond.EventQuery{})
	if err != nil || len(evs) != 2 {
		t.Fatalf("stored events %+v, %v; want 2", evs, err)
	}
	want := map[sessiond.EventType]string{EventAPIKeyAuthFailed: "198.51.100.0", sessiond.EventSessionRevoked: "2001:db8:1234::"}
	for _, e := range evs {
		if e.Client.IP != want[e.Type] {
			t.Errorf("stored %s: client.ip %q; want %q", e.Type, e.Client.IP, want[e.Type])
		}
	}
	if strings.Contains(logged.String(), "198.51.100.77") || !strings.Contains(logged.String(), `"client_ip":"198.51.100.0"`) {
		t.Errorf("log %s; want client_ip 198.51.100.0 and not the whole address", logged.String())
	}
}

// writesCounted counts the event log and outbox writes of a store.
type writesCounted struct {
	*memstore.Store
	appends, enqueues int
}

func (s *writesCounted) AppendEvents(ctx context.Context, events ...sessiond.Event) error {
	s.appends++
	return s.Store.AppendEvents(ctx, events...)
}

func (s *writesCounted) EnqueueDeliveries(ctx context.Context, ds ...sessiond.Delivery) error {
	s.enqueues++
	return s.Store.EnqueueDeliveries(ctx, ds...)
}

// TestFanout_RecordBatch: a run of events (the concurrent-login check's)
// costs one event log write and one outbox write, not one of each per
// event, and every event is stored and alerted as Record would.
func TestFanout_RecordBatch(t *testing.T) {
	ctx := context.Background()
	met, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := &writesCounted{Store: memstore.New()}
	secret, err := webhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	d, err := webhook.New(webhook.Options{Outbox: st, Endpoints: []webhook.Endpoint{
		{Name: "siem", URL: "https://siem.example/hook", Secret: secret, Events: []sessiond.EventType{sessiond.EventConcurrentLogin}}}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fanout{log: st, outbox: st, webhooks: d, metrics: met, slog: slog.New(slog.DiscardHandler)}
	now := time.Now().UTC().Truncate(time.Microsecond)
	var events []sessiond.Event
	for i := range 5 {
		at := now.Add(time.Duration(i) * time.Microsecond)
		events = append(events, sessiond.Event{ID: sessiond.NewEventID(at), Time: at, Type: sessiond.EventConcurrentLogin,
			Subject: "user" + strconv.Itoa(i)})
	}
	if err := f.RecordBatch(ctx, events); err != nil {
		t.Fatal(err)
	}
	if st.appends != 1 || st.enqueues != 1 {
		t.Errorf("%d event log writes, %d outbox writes for %d events; want 1 and 1", st.appends, st.enqueues, len(events))
	}
	got, _, err := st.QueryEvents(ctx, sessiond.EventQuery{Limit: 10})
	if err != nil || len(got) != len(events) {
		t.Fatalf("QueryEvents: %d events, %v; want %d", len(got), err, len(events))
	}
	for i := range got {
		if got[i].ID != events[i].ID {
			t.Errorf("stored event %d: %s, want %s", i, got[i].ID, events[i].ID)
		}
	}
	if n, err := st.CountDeliveries(ctx, sessiond.DeliveryPending); err != nil || n != len(events) {
		t.Errorf("%d pending deliveries, %v; want %d", n, err, len(events))
	}
}
