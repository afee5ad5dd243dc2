package server

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// A server's live heap is small (a few MB on the verify path: caches,
// pools, the connections' buffers), and Go collects whenever the heap has
// doubled, so under load it collects every few MB of short-lived
// per-request garbage: about a sixth of a verify's CPU went to marking.
// gcHeadroom lets the heap grow by at least GCHeadroomBytes between
// collections: it raises the GC percentage while the live heap is under
// GCHeadroomBytes, and leaves the default (100, twice the live heap) once
// the live heap is larger. Memory use grows by at most GCHeadroomBytes.
// It runs only for `sessiond serve` (Options.GCHeadroom) and only when the
// operator did not set GOGC, which then decides alone.

// GCHeadroomBytes is the least the heap may grow between collections.
const GCHeadroomBytes = 64 << 20

// gcHeadroomEvery is how often the live heap is read.
const gcHeadroomEvery = time.Second

// gcPercentFor returns the GC percentage that gives a live heap of live
// bytes GCHeadroomBytes of growth, and never less than Go's default.
func gcPercentFor(live uint64) int {
	if live == 0 {
		return 100
	}
	return int(max(100, GCHeadroomBytes*100/live))
}

// gcHeadroom adjusts the GC percentage until ctx ends, then restores it.
func gcHeadroom(ctx context.Context) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	t := time.NewTicker(gcHeadroomEvery)
	defer t.Stop()
	set := 100
	for {
		metrics.Read(sample)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			if p := gcPercentFor(sample[0].Value.Uint64()); p != set {
				debug.SetGCPercent(p)
				set = p
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
