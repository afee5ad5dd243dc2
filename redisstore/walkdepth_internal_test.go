package redisstore

import (
	"math/rand/v2"
	"testing"
	"time"
)

// walkSim is the walk against a model of Redis across a network: scripts
// run one at a time, in the order they arrive, each for about script (±
// half, from a seeded source), and travel half the round trip each way.
// Time is simulated: nothing sleeps.
type walkSim struct {
	rtt, script time.Duration
	scripts     int
}

// walkSimResult: busy is the share of the walk's time Redis ran a
// script; queued the mean number of scripts waiting in Redis (what a
// command from another client, read after them, waits behind).
type walkSimResult struct {
	busy, queued float64
	maxDepth     int
}

// run drives the walk's loop as walk does: keep depth scripts in flight,
// and on each reply ask observe for the depth.
func (m walkSim) run(observe func(time.Duration) int, depth int) walkSimResult {
	src := rand.New(rand.NewPCG(1, 2))
	type call struct{ sent, reply time.Duration }
	var (
		inFlight      []call // in reply order: Redis answers in turn
		now, free     time.Duration
		busy, waiting time.Duration
		sent, maxD    = 0, depth
	)
	send := func() {
		arrive := now + m.rtt/2
		start := max(arrive, free)
		waiting += start - arrive
		took := m.script/2 + time.Duration(src.Int64N(int64(m.script)))
		free = start + took
		busy += took
		inFlight = append(inFlight, call{now, free + m.rtt/2})
		sent++
	}
	for len(inFlight) < depth && sent < m.scripts {
		send()
	}
	for len(inFlight) > 0 {
		c := inFlight[0]
		inFlight = inFlight[1:]
		now = c.reply
		depth = observe(now - c.sent)
		maxD = max(maxD, depth)
		for len(inFlight) < depth && sent < m.scripts {
			send()
		}
	}
	return walkSimResult{busy: float64(busy) / float64(now), queued: float64(waiting) / float64(now), maxDepth: maxD}
}

// TestWalkDepth: the walk keeps Redis busy whatever the round trip, and
// never queues many scripts in it, which other clients would wait behind.
// (With two in flight whatever the round trip, as before walkDepth,
// Redis was busy 0.46 of the walk at 5 ms and 0.14 at 20 ms.)
func TestWalkDepth(t *testing.T) {
	for _, c := range []struct {
		name        string
		rtt, script time.Duration
	}{
		{"loopback", 50 * time.Microsecond, 1500 * time.Microsecond},
		{"loopback, slow scripts", 50 * time.Microsecond, 4 * time.Millisecond},
		{"1 ms", time.Millisecond, 1500 * time.Microsecond},
		{"5 ms", 5 * time.Millisecond, 1500 * time.Microsecond},
		{"5 ms, fast scripts", 5 * time.Millisecond, 500 * time.Microsecond},
		{"5 ms, slow scripts", 5 * time.Millisecond, 4 * time.Millisecond},
		{"20 ms", 20 * time.Millisecond, 1500 * time.Microsecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			w := newWalkDepth()
			got := walkSim{rtt: c.rtt, script: c.script, scripts: 5000}.run(w.observe, w.n)
			// Redis is busy 90 % of the walk at least: at most a tenth
			// slower than a walk with no round trip at all.
			if got.busy < 0.9 {
				t.Errorf("Redis busy %.2f of the walk (depth up to %d); want ≥ 0.9", got.busy, got.maxDepth)
			}
			// One and a half scripts queued on average at most: another
			// client's command waits behind about as many as with two in
			// flight on loopback (one).
			if got.queued > 1.5 {
				t.Errorf("%.2f scripts queued in Redis on average (depth up to %d); want ≤ 1.5", got.queued, got.maxDepth)
			}
		})
	}
}
