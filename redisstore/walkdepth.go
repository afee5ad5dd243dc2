package redisstore

import "time"

const (
	// walkMaxInFlight bounds the walkRevoke scripts a walk keeps in
	// flight: enough to cover a round trip of about 30 script times
	// (30–60 ms at 1–2 ms a script), far more than a store in another
	// zone needs.
	walkMaxInFlight = 32
	// walkProbes scripts start the walk one at a time, so that their round
	// trips, queued behind no other, give walkDepth its base. A few round
	// trips in all: nothing next to a walk of thousands of scripts.
	walkProbes = 4
	// walkWindow is the fewest replies walkDepth averages before it
	// changes the depth: with fewer, the spread of the scripts' durations
	// alone moved it.
	walkWindow = 12
)

// walkDepth chooses how many walkRevoke scripts a walk keeps in flight.
// The walk's scripts run one after another in Redis (each goes on from
// the position the last left), so one in flight leaves Redis idle for a
// round trip between scripts: at 5 ms, most of the time. Too many queue
// in Redis instead, and another client's command, read after them, waits
// for all of them. So the depth follows the round trip, as TCP Vegas
// sizes its window: the least round trip of a script that did not queue
// (base: the first walkProbes go alone) is the network's and one
// script's; over a window of replies, the scripts queued in Redis are
// depth × (1 − base/mean round trip). Fewer than one: Redis may go idle,
// one more (half as many more under one half); more than two: fewer, to
// about one queued (the estimate counts the spread of the scripts'
// durations as queueing, hence a band that high). On
// loopback that keeps walkInFlight (the second script is already there
// when the first ends); at a 5 ms round trip with 1.5 ms scripts, about
// six.
//
// It is not safe for concurrent use: the walk's loop alone calls it.
type walkDepth struct {
	n      int           // scripts to keep in flight
	probes int           // replies seen of the walkProbes
	base   time.Duration // least round trip seen
	sum    time.Duration // round trips of the window so far
	window int           // replies in the window so far
}

func newWalkDepth() *walkDepth { return &walkDepth{n: 1} }

// observe records the round trip of one script (sent to reply) and
// returns the depth to keep from now on.
func (w *walkDepth) observe(took time.Duration) int {
	took = max(took, time.Nanosecond)
	if w.base == 0 || took < w.base {
		w.base = took
	}
	if w.probes < walkProbes {
		if w.probes++; w.probes == walkProbes {
			w.n = walkInFlight
		}
		return w.n
	}
	w.sum += took
	w.window++
	if w.window < max(w.n, walkWindow) {
		return w.n
	}
	mean := w.sum / time.Duration(w.window)
	queued := float64(w.n) * (1 - float64(w.base)/float64(mean))
	switch {
	case queued < 0.5:
		// Redis idles most of the round trip: grow by half, not one a
		// window, or a long round trip took a good part of the walk.
		w.n = min(w.n+max(w.n/2, 1), walkMaxInFlight)
	case queued < 1:
		w.n = min(w.n+1, walkMaxInFlight)
	case queued > 2:
		// Back to about one queued at once, not one a window.
		w.n = max(w.n-int(queued-1), walkInFlight)
	}
	w.sum, w.window = 0, 0
	return w.n
}
