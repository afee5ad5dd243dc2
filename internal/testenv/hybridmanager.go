package testenv

import (
	"context"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/opaquetoken"
)

// EventLogStore is a store that keeps the security event log.
type EventLogStore interface {
	sessiond.Store
	sessiond.EventLog
}

// LogSink records a Manager's events in an event log, as the server's
// fanout does with the store's.
type LogSink struct{ Log sessiond.EventLog }

// Record appends e to the log.
func (s LogSink) Record(ctx context.Context, e sessiond.Event) error {
	return s.Log.AppendEvents(ctx, e)
}

// HybridManager is the Manager behind a revocation stream in tests: hybrid,
// on store, recording its events in store's event log (so revocations
// reach the stream), with signed access tokens, opaque refresh tokens, the
// given clock and lifetimes, and no garbage collection. It is closed when
// tb ends.
func HybridManager(ctx context.Context, tb testing.TB, store EventLogStore, signed sessiond.SignedTokens, clock sessiond.Clock, life sessiond.Lifetimes) *sessiond.Manager {
	tb.Helper()
	m, err := sessiond.New(ctx, sessiond.Options{Strategy: sessiond.StrategyHybrid, Store: store, Signed: signed,
		Opaque: opaquetoken.Codec{}, Lifetimes: life, Clock: clock, GCInterval: -1, Events: LogSink{store}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { m.Close() })
	return m
}
