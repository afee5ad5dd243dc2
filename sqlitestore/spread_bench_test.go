package sqlitestore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sqlitestore"
)

// spreadChain is one session's refresh chain in the spread benchmarks.
type spreadChain struct {
	s   *sessiond.Session
	cur sessiond.TokenHash
}

// spreadStore is benchStore plus 1,024 hybrid sessions of their own
// subjects, each with a refresh token, to refresh in turn.
func spreadStore(b *testing.B) (*sqlitestore.Store, []spreadChain) {
	st, _, _, _ := benchStore(b)
	chains := make([]spreadChain, 0, 1024)
	for i := range cap(chains) {
		s := &sessiond.Session{
			ID: sessiond.NewSessionID(), Subject: fmt.Sprintf("spread%d", i), Strategy: sessiond.StrategyHybrid,
			CreatedAt: t0, LastActiveAt: t0, IdleExpiresAt: t0.Add(30 * time.Minute), ExpiresAt: t0.Add(8 * time.Hour),
		}
		r := token(sessiond.KindRefresh, s.ID, "spread"+string(s.ID))
		if err := st.Create(context.Background(), s, r); err != nil {
			b.Fatal(err)
		}
		chains = append(chains, spreadChain{s, r.Hash})
	}
	return st, chains
}

// swapSpread rotates c's refresh token at now, with its session.refreshed
// event as the server writes it.
func swapSpread(ctx context.Context, st *sqlitestore.Store, c *spreadChain, now time.Time, n int64) error {
	next := token(sessiond.KindRefresh, c.s.ID, fmt.Sprintf("spread-%d", n))
	next.IssuedAt, next.ExpiresAt = now, now.Add(time.Hour)
	ev := sessiond.Event{ID: sessiond.NewEventID(now), Time: now, Type: "session.refreshed", Subject: c.s.Subject, SessionID: c.s.ID}
	err := st.SwapRefresh(ctx, sessiond.RefreshSwap{Old: c.cur, Next: next, Now: now, GraceSince: now,
		LastActiveAt: now, IdleExpiresAt: now.Add(30 * time.Minute), Events: []sessiond.Event{ev}})
	if err == nil {
		c.cur = next.Hash
	}
	return err
}

// BenchmarkSwapRefreshSpread refreshes 1,024 sessions of their own subjects
// in turn among 10,000 others, each swap with its event: the pages a
// refresh dirties land at random places, as with many users, where
// BenchmarkSwapRefresh rewrites the same few pages.
func BenchmarkSwapRefreshSpread(b *testing.B) {
	st, chains := spreadStore(b)
	ctx := context.Background()
	var n int64
	b.ReportAllocs()
	for b.Loop() {
		n++
		if err := swapSpread(ctx, st, &chains[n%int64(len(chains))], t0.Add(time.Duration(n)*time.Microsecond), n); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSwapRefreshSpreadParallel is BenchmarkSwapRefreshSpread from 32
// goroutines, each on its own 32 chains, so group commit batches them.
func BenchmarkSwapRefreshSpreadParallel(b *testing.B) {
	st, chains := spreadStore(b)
	var worker, n atomic.Int64
	b.SetParallelism(16)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		ctx := context.Background()
		w := worker.Add(1) % 32
		for i := w; pb.Next(); i += 32 {
			k := n.Add(1)
			if err := swapSpread(ctx, st, &chains[i%int64(len(chains))], t0.Add(time.Duration(k)*time.Microsecond), k); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
