package testenv

import "testing"

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
