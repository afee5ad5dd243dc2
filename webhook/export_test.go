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
