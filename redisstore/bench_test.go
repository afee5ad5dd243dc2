package redisstore_test

// Run with a Redis:
//
//	SESSIOND_TEST_REDIS_URL=redis://127.0.0.1:6379/0 go test -run '^$' -bench . -benchmem -count 6 ./redisstore/
//
// and compare runs with benchstat. BenchmarkRawGet is the baseline the
// issue's targets are ratios against: one rueidis GET of a value the size
// of a session, on the same server in the same run.

import (
	"context"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"

	"github.com/sessiond/sessiond/internal/redisclustertest"
	"github.com/sessiond/sessiond/internal/testenv"
)

var benchNow = time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)

func benchSession(i int) *sessiond.Session {
	return &sessiond.Session{
		ID: sessiond.NewSessionID(), Subject: fmt.Sprintf("user%d", i%1000), Strategy: sessiond.StrategyDatabase,
		CreatedAt: benchNow, LastActiveAt: benchNow, IdleExpiresAt: benchNow.Add(30 * time.Minute), ExpiresAt: benchNow.Add(8 * time.Hour),
		Client: sessiond.Client{IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"},
		Claims: []byte(`{"role":"admin","tenant":"acme"}`),
	}
}

// seed stores n sessions with one access token each and returns the hash
// of one in the middle.
func seed(b *testing.B, st *redisstore.Store, n int) sessiond.TokenHash {
	b.Helper()
	var mid sessiond.TokenHash
	for i := range n {
		s := benchSession(i)
		tok := sessiond.Token{Hash: sessiond.HashToken(sessiond.Secret(s.ID)), Kind: sessiond.KindAccess, SessionID: s.ID, IssuedAt: benchNow, ExpiresAt: s.ExpiresAt}
		if err := st.Create(context.Background(), s, tok); err != nil {
			b.Fatal(err)
		}
		if i == n/2 {
			mid = tok.Hash
		}
	}
	return mid
}

func benchLookup(b *testing.B, opts redisstore.Options) {
	ctx := context.Background()
	st := newStore(b, opts)
	h := seed(b, st, 1000)
	// The write guard of the client-side cache forgets a key a second or
	// two after this store wrote it.
	time.Sleep(2100 * time.Millisecond)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := st.Lookup(ctx, h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookup measures Store.Lookup of an existing token: the store's
// share of a database-strategy verify (two round trips: token index, then
// session).
func BenchmarkLookup(b *testing.B) { benchLookup(b, redisstore.Options{}) }

// BenchmarkLookupCached is BenchmarkLookup with the client-side cache: a
// repeated verify of one token.
func BenchmarkLookupCached(b *testing.B) {
	benchLookup(b, redisstore.Options{ClientCache: time.Minute})
}

// BenchmarkRawGet is the baseline: a plain rueidis GET of a value as large
// as a session hash's reply.
func BenchmarkRawGet(b *testing.B) {
	ctx := context.Background()
	c := rawClient(b)
	key := randomPrefix() + ":raw"
	value := strings.Repeat("x", 260)
	if err := c.Do(ctx, c.B().Set().Key(key).Value(value).Ex(time.Hour).Build()).Error(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Do(context.Background(), c.B().Del().Key(key).Build()) })
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Do(ctx, c.B().Get().Key(key).Build()).ToString(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreate measures Store.Create of a session with one token.
func BenchmarkCreate(b *testing.B) {
	ctx := context.Background()
	st := newStore(b, redisstore.Options{})
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		s := benchSession(i)
		i++
		if err := st.Create(ctx, s, sessiond.Token{Hash: sessiond.HashToken(sessiond.Secret(s.ID)), Kind: sessiond.KindAccess, SessionID: s.ID, ExpiresAt: s.ExpiresAt}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSwapRefresh measures the refresh compare-and-swap, each
// iteration swapping the token the previous one issued (so the session
// keeps every retired token, as in production).
func BenchmarkSwapRefresh(b *testing.B) {
	ctx := context.Background()
	st := newStore(b, redisstore.Options{})
	s := benchSession(0)
	s.Strategy = sessiond.StrategyHybrid
	tok := sessiond.Token{Hash: sessiond.HashToken("refresh-0"), Kind: sessiond.KindRefresh, SessionID: s.ID, IssuedAt: benchNow, ExpiresAt: s.IdleExpiresAt}
	if err := st.Create(ctx, s, tok); err != nil {
		b.Fatal(err)
	}
	old := tok.Hash
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		i++
		next := sessiond.Token{Hash: sessiond.HashToken(sessiond.Secret(fmt.Sprintf("refresh-%d", i))), Kind: sessiond.KindRefresh,
			SessionID: s.ID, IssuedAt: benchNow, ExpiresAt: s.IdleExpiresAt}
		if err := st.SwapRefresh(ctx, sessiond.RefreshSwap{Old: old, Next: next, Now: benchNow, GraceSince: benchNow,
			LastActiveAt: benchNow, IdleExpiresAt: s.IdleExpiresAt}); err != nil {
			b.Fatal(err)
		}
		old = next.Hash
	}
}

// BenchmarkRevoke measures Store.Revoke of a live session whose route this
// store remembers (it made the login): outside a Cluster one script that
// revokes, records and publishes.
func BenchmarkRevoke(b *testing.B) { benchRevoke(b, newStore(b, redisstore.Options{})) }

// BenchmarkRevokeReplica is BenchmarkRevoke on a master with a replica
// (both on this machine), with and without the wait for the replica
// (WAIT 1 after the script, on its connection): what that wait costs.
func BenchmarkRevokeReplica(b *testing.B) {
	pair := redisclustertest.StartPair(b)
	for _, bc := range []struct {
		name     string
		replicas int
	}{{"nowait", -1}, {"wait", 1}} {
		b.Run(bc.name, func(b *testing.B) {
			st, err := redisstore.New(context.Background(), pair.URL(), redisstore.Options{Prefix: "bench" + bc.name, RevocationReplicas: bc.replicas})
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			benchRevoke(b, st)
		})
	}
}

func benchRevoke(b *testing.B, st *redisstore.Store) {
	ctx := context.Background()
	var ids []sessiond.SessionID
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		if len(ids) == 0 {
			b.StopTimer()
			for range 1000 {
				s := benchSession(i)
				i++
				if err := st.Create(ctx, s); err != nil {
					b.Fatal(err)
				}
				ids = append(ids, s.ID)
			}
			b.StartTimer()
		}
		id := ids[len(ids)-1]
		ids = ids[:len(ids)-1]
		if _, err := st.Revoke(ctx, id, benchNow.Add(time.Minute), sessiond.ReasonLogout); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRememberOnceReplica is what a wait for a replica would cost each
// one-time key, on a master with a replica: RememberOnce (DPoP proofs, on
// every bound request, do not wait) and RememberOnceAcked (DBSC
// challenges, Shared Signals SETs), one caller at a time and from about
// 32 goroutines. Keys are new on every call, as a proof's jti is.
func BenchmarkRememberOnceReplica(b *testing.B) {
	pair := redisclustertest.StartPair(b)
	st, err := redisstore.New(context.Background(), pair.URL(), redisstore.Options{Prefix: "benchonce"})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if st.RevocationReplicas() != 1 {
		b.Fatalf("RevocationReplicas() = %d; want 1", st.RevocationReplicas())
	}
	ctx := context.Background()
	now := time.Now()
	for _, bc := range []struct {
		name     string
		remember func(ctx context.Context, key string, now, until time.Time) (bool, error)
	}{{"plain", st.RememberOnce}, {"acked", st.RememberOnceAcked}} {
		op := func(prefix string, i int) error {
			_, err := bc.remember(ctx, prefix+strconv.Itoa(i), now, now.Add(5*time.Minute+30*time.Second))
			return err
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			prefix := testenv.UniqueName(bc.name)
			i := 0
			for b.Loop() {
				if err := op(prefix, i); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		b.Run(bc.name+"/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(parallelism())
			prefix := testenv.UniqueName(bc.name)
			var n atomic.Int64
			testenv.ParallelOps(b, func(int) error { return op(prefix, int(n.Add(1))) })
		})
	}
}

// parallelism makes RunParallel use about 32 goroutines.
func parallelism() int { return max(1, 32/runtime.GOMAXPROCS(0)) }

// BenchmarkLookupParallel is BenchmarkLookup from about 32 goroutines:
// rueidis pipelines their commands on shared connections.
func BenchmarkLookupParallel(b *testing.B) {
	st := newStore(b, redisstore.Options{})
	h := seed(b, st, 1000)
	b.ReportAllocs()
	b.SetParallelism(parallelism())
	ctx := context.Background()
	testenv.ParallelOps(b, func(int) error {
		_, _, err := st.Lookup(ctx, h)
		return err
	})
}

// BenchmarkRawGetParallel is the baseline of BenchmarkLookupParallel.
func BenchmarkRawGetParallel(b *testing.B) {
	c := rawClient(b)
	key := randomPrefix() + ":raw"
	if err := c.Do(context.Background(), c.B().Set().Key(key).Value(strings.Repeat("x", 260)).Ex(time.Hour).Build()).Error(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Do(context.Background(), c.B().Del().Key(key).Build()) })
	b.ReportAllocs()
	b.SetParallelism(parallelism())
	ctx := context.Background()
	testenv.ParallelOps(b, func(int) error {
		_, err := c.Do(ctx, c.B().Get().Key(key).Build()).ToString()
		return err
	})
}
