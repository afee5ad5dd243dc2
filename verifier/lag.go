package verifier

import (
	"errors"
	"time"
)

// errBehind: a heartbeat arrived more than IdleTimeout further behind the
// server's log than the connection's fastest one.
var errBehind = errors.New("the stream falls behind the server's log")

// lagMeter measures, on one connection, how much further behind the
// server's log its heartbeats arrive than its fastest one did. A
// heartbeat's cursor carries the time of the node's last read of its log;
// a path slower than the stream (a proxy buffering, a congested link, a
// node whose stream loop falls behind) delivers heartbeats whose cursors
// fall behind their arrival. The arrival is read on ticks and compared
// only with another arrival, the cursor only with another cursor of the
// same node: neither the skew between the two machines' clocks nor a step
// of the local wall clock enters the measure.
type lagMeter struct {
	set  bool
	tick int64     // ticks at the baseline heartbeat's arrival
	at   time.Time // its cursor's time
}

// behind returns how much further behind the server's log the heartbeat
// arriving at tick, whose cursor carries at, is than the baseline. The
// first heartbeat of the connection is the baseline, and so is any later
// one that is less behind (the first may itself have been delayed).
func (m *lagMeter) behind(tick int64, at time.Time) time.Duration {
	if m.set {
		// Time.Sub saturates: a cursor centuries off cannot wrap around.
		if d := m.at.Add(time.Duration(tick - m.tick)).Sub(at); d > 0 {
			return d
		}
	}
	*m = lagMeter{set: true, tick: tick, at: at}
	return 0
}
