package anomaly

import (
	"fmt"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// BenchmarkCheck is the cost Check adds to a verify with every rule on.
//
//	go test -run '^$' -bench BenchmarkCheck -benchmem -count 10 ./anomaly | benchstat -
func BenchmarkCheck(b *testing.B) {
	issued := sessiond.Client{IP: "203.0.113.5", UserAgent: chromeWin142}
	b.Run("same_client", func(b *testing.B) {
		// The common case: the client that logged in, nothing to parse.
		d := newDetector(b, Options{Actions: DefaultActions()})
		b.ReportAllocs()
		for b.Loop() {
			if fs := d.Check(t0, Verify, "s1", issued, issued); fs != nil {
				b.Fatal(fs)
			}
		}
	})
	b.Run("version_bump", func(b *testing.B) {
		// Both User-Agents parsed, both addresses parsed, no finding.
		d := newDetector(b, Options{Actions: DefaultActions()})
		current := sessiond.Client{IP: "203.0.113.77", UserAgent: chromeWin143}
		b.ReportAllocs()
		for b.Loop() {
			if fs := d.Check(t0, Verify, "s1", issued, current); fs != nil {
				b.Fatal(fs)
			}
		}
	})
	b.Run("stolen_refresh", func(b *testing.B) {
		// Everything differs at refresh: three findings and their details.
		d := newDetector(b, Options{Actions: DefaultActions()})
		current := sessiond.Client{IP: "198.51.100.7", UserAgent: firefoxLinux}
		b.ReportAllocs()
		for b.Loop() {
			if fs := d.Check(t0, Refresh, "s1", issued, current); len(fs) != 3 {
				b.Fatal(fs)
			}
		}
	})
	b.Run("many_sessions", func(b *testing.B) {
		// 1M session IDs through a tracker of 100k: constant eviction.
		d := newDetector(b, Options{Actions: DefaultActions()})
		ids := make([]sessiond.SessionID, 1<<20)
		for i := range ids {
			ids[i] = sessiond.SessionID(fmt.Sprintf("%026d", i))
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			d.Check(t0, Verify, ids[i&(len(ids)-1)], issued, issued)
			i++
		}
	})
	b.Run("parallel", func(b *testing.B) {
		// Many goroutines, many sessions, the same client.
		d := newDetector(b, Options{Actions: DefaultActions()})
		ids := make([]sessiond.SessionID, 1024)
		for i := range ids {
			ids[i] = sessiond.SessionID(fmt.Sprintf("%026d", i))
		}
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				d.Check(t0.Add(time.Duration(i)), Verify, ids[i&(len(ids)-1)], issued, issued)
				i++
			}
		})
	})
}
