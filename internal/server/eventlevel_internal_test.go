package server

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/metrics"
	"github.com/sessiond/sessiond/ssf"
	"github.com/sessiond/sessiond/webhook"
)

// TestFanout_EventLogLevel: the server's own events are logged at the
// level sessiond.Event.LogLevel gives: a scheduled key rotation or a
// client's wrong API key is routine (INFO), a kill switch or a store
// found reset is WARN, and so is an API key created that nobody received
// and whose revocation failed (details.revocation "failed": a key that
// may be live), which an operator paging on WARN must see.
func TestFanout_EventLogLevel(t *testing.T) {
	met, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		e    sessiond.Event
		want string
	}{
		{"keys rotated", sessiond.Event{Type: sessiond.EventKeysRotated}, "INFO"},
		{"API key auth failed", sessiond.Event{Type: sessiond.EventAPIKeyAuthFailed}, "INFO"},
		{"API key created", sessiond.Event{Type: sessiond.EventAPIKeyCreated, Details: map[string]any{"key_id": "key_x"}}, "INFO"},
		{"API key created, its revocation failed", sessiond.Event{Type: sessiond.EventAPIKeyCreated,
			Details: map[string]any{"key_id": "key_x", "revocation": "failed"}}, "WARN"},
		{"API key not received, revoked", sessiond.Event{Type: sessiond.EventAPIKeyRevoked,
			Details: map[string]any{"key_id": "key_x", "reason": "not_received"}}, "INFO"},
		{"console signed in", sessiond.Event{Type: sessiond.EventConsoleSignedIn}, "INFO"},
		{"incident", sessiond.Event{Type: sessiond.EventIncident}, "WARN"},
		{"store reset", sessiond.Event{Type: sessiond.EventStoreReset}, "WARN"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs := &testenv.SyncBuffer{}
			f := &fanout{log: memstore.New(), metrics: met, slog: slog.New(slog.NewJSONHandler(logs, nil))}
			f.emit(context.Background(), tc.e)
			var line map[string]any
			if err := json.Unmarshal([]byte(strings.TrimSpace(logs.String())), &line); err != nil {
				t.Fatalf("log %q: %v", logs.String(), err)
			}
			if line["msg"] != "event" || line["level"] != tc.want {
				t.Errorf("emit(%s %v) logged %v at %v; want event at %s", tc.e.Type, tc.e.Details, line["msg"], line["level"], tc.want)
			}
		})
	}
}

// TestFanout_EventOutlivesClientGone: a server event (a console action's,
// an API key's) is recorded after its action is done; a request whose
// client already hung up still gets its event stored. Before, the event
// log's store failed at once on the canceled context: the key was
// created, its audit record lost, and an ERROR line said so.
func TestFanout_EventOutlivesClientGone(t *testing.T) {
	met, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := memstore.New()
	logs := &testenv.SyncBuffer{}
	f := &fanout{log: st, metrics: met, slog: slog.New(slog.NewJSONHandler(logs, nil))}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client is gone
	f.emit(ctx, sessiond.Event{Type: sessiond.EventAPIKeyCreated, Subject: "ops"})
	if strings.Contains(logs.String(), "record event") {
		t.Errorf("recording failed: %s", logs.String())
	}
	got, _, err := st.QueryEvents(context.Background(), sessiond.EventQuery{Type: sessiond.EventAPIKeyCreated, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Errorf("events stored = %d; want the key's creation", len(got))
	}
}

// TestFanout_RecordOutlivesClientGone: the SSF receiver (a SET pushed)
// and transmitter (a stream created, changed or deleted through the API)
// hand their events to the fanout's Record with the request's context,
// not through emit: a pusher or API client that hangs up once the change
// is made must not cost its audit record either.
func TestFanout_RecordOutlivesClientGone(t *testing.T) {
	met, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := memstore.New()
	f := &fanout{log: st, metrics: met, slog: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the client is gone
	now := time.Now().UTC().Truncate(time.Microsecond)
	if err := f.Record(ctx, sessiond.Event{ID: sessiond.NewEventID(now), Time: now, Type: ssf.EventSETReceived}); err != nil {
		t.Errorf("Record = %v; want nil", err)
	}
	got, _, err := st.QueryEvents(context.Background(), sessiond.EventQuery{Type: ssf.EventSETReceived, Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 {
		t.Errorf("events stored = %d; want the SET's", len(got))
	}
}

// hungLog is an event log that does not answer: AppendEvents returns
// only when its context ends.
type hungLog struct {
	*memstore.Store
	entered chan struct{}
}

func (l hungLog) AppendEvents(ctx context.Context, _ ...sessiond.Event) error {
	close(l.entered)
	<-ctx.Done()
	return ctx.Err()
}

// TestFanout_StopEndsRecord: a record outlives its client, not the
// server's stop. When the stop gives up on the requests in flight (their
// context, the background one, ends), a record still waiting on a store
// that does not answer ends too, as the request's own store calls do,
// rather than run on into the store's close.
func TestFanout_StopEndsRecord(t *testing.T) {
	met, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	bg := newBackground()
	log := hungLog{Store: memstore.New(), entered: make(chan struct{})}
	f := &fanout{log: log, metrics: met, slog: slog.New(slog.DiscardHandler), stopping: bg.ctx}
	errc := make(chan error, 1)
	go func() { errc <- f.emitChecked(bg.ctx, sessiond.Event{Type: sessiond.EventAPIKeyCreated}) }()
	<-log.entered
	bg.stop()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("emitChecked on a store that does not answer, the server stopping = %v; want context.Canceled", err)
	}
}

// hungOutbox is an outbox that does not answer: EnqueueDeliveries returns
// only when its context ends.
type hungOutbox struct {
	*memstore.Store
	entered chan struct{}
}

func (o hungOutbox) EnqueueDeliveries(ctx context.Context, _ ...sessiond.Delivery) error {
	close(o.entered)
	<-ctx.Done()
	return ctx.Err()
}

// TestFanout_StopEndsOutboxRecord: as TestFanout_StopEndsRecord for the
// webhook outbox's write. The Dispatcher's own Record detaches from its
// caller for 10 s; under the fanout, whose context already outlives the
// client, that kept a Manager loop's record (a concurrent-login run)
// holding Manager.Close, and a request's record writing on into the
// store's close, after the stop had ended the record.
func TestFanout_StopEndsOutboxRecord(t *testing.T) {
	met, err := metrics.New(metrics.Options{})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := webhook.ParseSecret("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	st := hungOutbox{Store: memstore.New(), entered: make(chan struct{})}
	d, err := webhook.New(webhook.Options{Outbox: st, Endpoints: []webhook.Endpoint{
		{Name: "siem", URL: "https://siem.example/hook", Secret: secret, Events: []sessiond.EventType{sessiond.EventAPIKeyCreated}}}})
	if err != nil {
		t.Fatal(err)
	}
	bg := newBackground()
	f := &fanout{log: st, outbox: st, webhooks: d, metrics: met, slog: slog.New(slog.DiscardHandler), stopping: bg.ctx}
	errc := make(chan error, 1)
	go func() { errc <- f.emitChecked(bg.ctx, sessiond.Event{Type: sessiond.EventAPIKeyCreated}) }()
	<-st.entered
	bg.stop()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("emitChecked on an outbox that does not answer, the server stopping = %v; want context.Canceled", err)
	}
}
