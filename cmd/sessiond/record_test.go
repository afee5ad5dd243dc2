package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/memstore"
)

// seenLog is an event log that keeps the context of its last append.
type seenLog struct {
	*memstore.Store
	ctx context.Context
}

func (l *seenLog) AppendEvents(ctx context.Context, events ...sessiond.Event) error {
	l.ctx = ctx
	return l.Store.AppendEvents(ctx, events...)
}

type recordKey struct{}

// TestApp_record: an operator action is done once a.record runs, so its
// audit event is stored although the command's context ended (a Ctrl-C
// right after the change), with that context's values and a bound.
func TestApp_record(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cancel bool
	}{
		{"live context", false},
		{"cancelled context", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.WithValue(t.Context(), recordKey{}, "v"))
			defer cancel()
			if tc.cancel {
				cancel()
			}
			var stderr bytes.Buffer
			a := &app{stderr: &stderr}
			log := &seenLog{Store: memstore.New()}
			a.record(ctx, log, server.EventAPIKeyRevoked, map[string]any{"key_id": "key_x"})

			if stderr.Len() != 0 {
				t.Errorf("stderr = %q; want nothing", stderr.String())
			}
			events, _, err := log.QueryEvents(t.Context(), sessiond.EventQuery{})
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != 1 || events[0].Type != server.EventAPIKeyRevoked {
				t.Fatalf("stored events = %+v; want one %s", events, server.EventAPIKeyRevoked)
			}
			if got := log.ctx.Value(recordKey{}); got != "v" {
				t.Errorf("append context value = %v; want the command context's (v)", got)
			}
			if _, ok := log.ctx.Deadline(); !ok {
				t.Error("append context has no deadline; want a bound")
			}
		})
	}
}
