package webhook

import "time"

// SetJitter replaces the jitter source: f returns a value in [0, n).
// Call it before the Dispatcher is used.
func (d *Dispatcher) SetJitter(f func(n int64) int64) { d.jitter = f }

// Backoff is the delay after failed attempt n.
func (d *Dispatcher) Backoff(n int) time.Duration { return d.backoff(n) }

// Ceiling is the largest delay Backoff(n) may return.
func (d *Dispatcher) Ceiling(n int) time.Duration { return d.ceiling(n) }

// Limits of the dispatcher, for tests that fill them.
const (
	MaxInFlightPerEndpoint = maxInFlightPerEndpoint
	MaxHeld                = maxHeld
)

// SetStallAfter replaces how long an endpoint's oldest request may run
// before its waiting claims go back to the outbox (stallAfter), so that a
// test may hold a receiver's requests. Call it before the Dispatcher is
// used.
func (d *Dispatcher) SetStallAfter(x time.Duration) { d.stallAfter = x }

// Waiting returns how many claims wait for a slot of the endpoint.
func (d *Dispatcher) Waiting(endpoint string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if ep := d.eps[endpoint]; ep != nil {
		return len(ep.waiting)
	}
	return 0
}
