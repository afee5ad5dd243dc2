package testenv

import (
	"fmt"
	"runtime"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// ParallelOps runs op from every goroutine of b.RunParallel until the
// benchmark has done b.N calls; a goroutine stops at its first error,
// which fails b. i counts the goroutine's own calls, for benchmarks that
// spread their calls over several keys or tokens.
func ParallelOps(b *testing.B, op func(i int) error) {
	b.Helper()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if err := op(i); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
}

// BenchSession returns the i-th of the sessions a store's read benchmarks
// look among (1,000 subjects, database strategy, created at now) and its
// access token, whose secret is the session ID, so the memory and
// PostgreSQL numbers in docs/PERFORMANCE.md are over the same rows.
func BenchSession(i int, now time.Time) (*sessiond.Session, sessiond.Token) {
	s := &sessiond.Session{
		ID: sessiond.NewSessionID(), Subject: fmt.Sprintf("user%d", i%1000), Strategy: sessiond.StrategyDatabase,
		CreatedAt: now, LastActiveAt: now, IdleExpiresAt: now.Add(30 * time.Minute), ExpiresAt: now.Add(8 * time.Hour),
		Client: sessiond.Client{IP: "203.0.113.7", UserAgent: "Mozilla/5.0"},
		Claims: []byte(`{"role":"admin"}`),
	}
	h := sessiond.HashToken(sessiond.Secret(s.ID))
	return s, sessiond.Token{Hash: h, Kind: sessiond.KindAccess, SessionID: s.ID, IssuedAt: now, ExpiresAt: s.ExpiresAt}
}

// ReportClientCPU measures this process's CPU time from now until the
// benchmark ends and reports it per operation as client-µs/op: the
// driver's and the store code's share of an operation, next to the store
// server's own (redis-µs/op, postgres-µs/op). On a machine whose cores
// the server and the load share, both are what an operation costs.
func ReportClientCPU(b *testing.B) func() {
	start := processCPU(b)
	return func() {
		b.ReportMetric(float64(processCPU(b)-start)/float64(time.Microsecond)/float64(b.N), "client-µs/op")
	}
}

// HeapPeak starts watching the heap and returns the function that stops
// and reports its highest point since, above where it started: the bytes
// of heap objects (runtime/metrics /memory/classes/heap/objects:bytes,
// live ones and those not yet swept), sampled every 100 µs after a
// collection. A sample misses a peak shorter than that.
func HeapPeak() (stop func() uint64) {
	const name = "/memory/classes/heap/objects:bytes"
	sample := []metrics.Sample{{Name: name}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	runtime.GC()
	base := read()
	done, peak := make(chan struct{}), make(chan uint64)
	go func() {
		top := base
		t := time.NewTicker(100 * time.Microsecond)
		defer t.Stop()
		for {
			top = max(top, read())
			select {
			case <-t.C:
			case <-done:
				peak <- max(top, read()) - base
				return
			}
		}
	}()
	return func() uint64 {
		close(done)
		return <-peak
	}
}
