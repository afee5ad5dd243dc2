package anomaly

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// BenchmarkCheck is the cost Check adds to a verify with every rule on.
//
//	go test -run '^$' -bench BenchmarkCheck -benchmem -count 10 ./anomaly | benchstat -
func BenchmarkCheck(b *testing.B) {
	issued := sessiond.Client{IP: "203.0.113.5", UserAgent: chromeWin142}
	for _, bc := range []struct {
		name     string
		stage    Stage
		current  sessiond.Client
		findings int // 0: Check returns nil
	}{
		// The common case: the client that logged in, nothing to parse.
		{"same_client", Verify, issued, 0},
		// Both User-Agents parsed, both addresses parsed, no finding.
		{"version_bump", Verify, sessiond.Client{IP: "203.0.113.77", UserAgent: chromeWin143}, 0},
		// Everything differs at refresh: three findings and their details.
		{"stolen_refresh", Refresh, sessiond.Client{IP: "198.51.100.7", UserAgent: firefoxLinux}, 3},
	} {
		b.Run(bc.name, func(b *testing.B) {
			d := newDetector(b, Options{Actions: DefaultActions()})
			b.ReportAllocs()
			for b.Loop() {
				if fs := d.Check(t0, bc.stage, "s1", issued, bc.current); len(fs) != bc.findings || (fs == nil) != (bc.findings == 0) {
					b.Fatal(fs)
				}
			}
		})
	}
	b.Run("many_sessions", func(b *testing.B) {
		// 1M session IDs through a tracker of 100k: constant eviction.
		d := newDetector(b, Options{Actions: DefaultActions()})
		ids := sessionIDs(1 << 20)
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
		ids := sessionIDs(1024)
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
