package redisstore_test

// The writes of a hybrid login and refresh as the server makes them (each
// change with its event), from about 32 goroutines:
//
//	SESSIOND_TEST_REDIS_URL=redis://127.0.0.1:6379/0 go test -run '^$' -bench 'Recorded' -count 6 ./redisstore/
//
// Besides ns/op they report redis-µs/op: Redis's own CPU time (INFO cpu)
// per operation, which on a machine where Redis shares the cores with
// sessiond is as much a cost as a round trip. It counts every client of
// that Redis, so run them on a Redis nothing else uses.

import (
	"context"
	"fmt"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"

	"github.com/sessiond/sessiond/internal/testenv"
)

// reportRedisCPU measures Redis's CPU time from now until the benchmark
// ends and reports it per operation.
func reportRedisCPU(b *testing.B) func() {
	c := rawClient(b)
	start := testenv.RedisCPU(b, c)
	return func() {
		b.ReportMetric(float64(testenv.RedisCPU(b, c)-start)/float64(time.Microsecond)/float64(b.N), "redis-µs/op")
	}
}

// loginEvent is the session.created event of s, as the Manager prepares it.
func loginEvent(s *sessiond.Session, typ sessiond.EventType, details map[string]any) sessiond.Event {
	now := time.Now()
	return sessiond.Event{ID: sessiond.NewEventID(now), Time: now, Type: typ, Subject: s.Subject, SessionID: s.ID,
		Client: s.Client, Details: details}
}

// hybridSession is a new hybrid session of subject and its refresh token.
func hybridSession(subject string, n int64) (*sessiond.Session, sessiond.Token) {
	now := time.Now().UTC().Truncate(time.Microsecond)
	s := &sessiond.Session{
		ID: sessiond.NewSessionID(), Subject: subject, Strategy: sessiond.StrategyHybrid,
		CreatedAt: now, LastActiveAt: now, IdleExpiresAt: now.Add(30 * time.Minute), ExpiresAt: now.Add(8 * time.Hour),
	}
	tok := sessiond.Token{Hash: sessiond.HashToken(sessiond.Secret(fmt.Sprintf("%s-%d", s.ID, n))), Kind: sessiond.KindRefresh,
		SessionID: s.ID, IssuedAt: now, ExpiresAt: s.IdleExpiresAt}
	return s, tok
}

// BenchmarkCreateRecordedParallel is a login of a new subject with its
// session.created event, as `sessiond bench create` makes them.
func BenchmarkCreateRecordedParallel(b *testing.B) {
	st := newStore(b, redisstore.Options{})
	ctx := context.Background()
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(parallelism())
	defer testenv.ReportClientCPU(b)()
	defer reportRedisCPU(b)()
	testenv.ParallelOps(b, func(int) error {
		i := n.Add(1)
		s, tok := hybridSession("bench-"+strconv.FormatInt(i, 10), i)
		rec := sessiond.ChangeRecords{Events: []sessiond.Event{loginEvent(s, sessiond.EventSessionCreated,
			map[string]any{"persistent": false, "strategy": "hybrid", "api_key_id": "key_bench"})}}
		_, err := st.CreateRecorded(ctx, s, 0, false, rec, nil, tok)
		return err
	})
}

// BenchmarkSwapRefreshRecordedParallel is a hybrid refresh with its
// session.refreshed event, each goroutine rotating its own chain: the
// lookup of the presented token, then the swap.
func BenchmarkSwapRefreshRecordedParallel(b *testing.B) {
	st := newStore(b, redisstore.Options{})
	ctx := context.Background()
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(parallelism())
	defer testenv.ReportClientCPU(b)()
	defer reportRedisCPU(b)()
	b.RunParallel(func(pb *testing.PB) {
		i := n.Add(1)
		s, tok := hybridSession("bench-"+strconv.FormatInt(i, 10), 0)
		if err := st.Create(ctx, s, tok); err != nil {
			b.Error(err)
			return
		}
		old := tok.Hash
		for k := int64(1); pb.Next(); k++ {
			if _, _, err := st.Lookup(ctx, old); err != nil {
				b.Error(err)
				return
			}
			now := time.Now().UTC().Truncate(time.Microsecond)
			_, next := hybridSession(s.Subject, k)
			next.SessionID, next.IssuedAt, next.ExpiresAt = s.ID, now, now.Add(30*time.Minute)
			ev := loginEvent(s, sessiond.EventSessionRefreshed, map[string]any{"api_key_id": "key_bench"})
			if err := st.SwapRefresh(ctx, sessiond.RefreshSwap{Old: old, Next: next, Now: now, GraceSince: now.Add(-5 * time.Second),
				LastActiveAt: now, IdleExpiresAt: next.ExpiresAt, Events: []sessiond.Event{ev}}); err != nil {
				b.Error(err)
				return
			}
			old = next.Hash
		}
	})
}
