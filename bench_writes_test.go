package sessiond_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
)

// benchSink is an AtomicSink as the server's fanout is without webhooks:
// each event is handed to the store to write with its change.
type benchSink struct{}

func (benchSink) Record(context.Context, sessiond.Event) error { return nil }
func (benchSink) Prepare(_ context.Context, e sessiond.Event) ([]sessiond.Event, []sessiond.Delivery, bool, error) {
	return []sessiond.Event{e}, nil, true, nil
}
func (benchSink) Committed(context.Context, sessiond.Event) {}

// writeStores are the stores the parallel write benchmarks run on.
func writeStores(b *testing.B) map[string]func() sessiond.Store {
	return map[string]func() sessiond.Store{
		"Memory": func() sessiond.Store { return memstore.New() },
		"SQLite": func() sessiond.Store { st, _ := sqliteStore(b); return st },
	}
}

// BenchmarkCreateParallel is a login of 32 concurrent clients, each with its
// own subject, the event written with the session as the server does.
func BenchmarkCreateParallel(b *testing.B) {
	for _, name := range []string{"Memory", "SQLite"} {
		b.Run(name, func(b *testing.B) {
			h := benchManager(b, sessiond.StrategyHybrid, writeStores(b)[name](), func(o *sessiond.Options) { o.Events = benchSink{} })
			var n atomic.Int64
			b.SetParallelism(16)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				for pb.Next() {
					subject := "bench-" + string(rune('a'+n.Add(1)%26))
					if _, err := h.m.Create(ctx, subject, sessiond.CreateOptions{}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkRefreshParallel is 32 concurrent clients each refreshing its own
// rotating chain, as `sessiond bench refresh` does.
func BenchmarkRefreshParallel(b *testing.B) {
	for _, name := range []string{"Memory", "SQLite"} {
		b.Run(name, func(b *testing.B) {
			h := benchManager(b, sessiond.StrategyHybrid, writeStores(b)[name](), func(o *sessiond.Options) { o.Events = benchSink{} })
			b.SetParallelism(16)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				ctx := context.Background()
				iss, err := h.m.Create(ctx, "bench-user", sessiond.CreateOptions{Persistent: true})
				if err != nil {
					b.Error(err)
					return
				}
				rt := iss.RefreshToken
				for pb.Next() {
					next, err := h.m.Refresh(ctx, rt, sessiond.Client{})
					if err != nil {
						b.Error(err)
						return
					}
					rt = next.RefreshToken
				}
			})
		})
	}
}
