package testenv

import (
	"sync"
	"time"

	"github.com/sessiond/sessiond/metrics"
)

// VerifyOutcomes records the outcome of every verification as the server
// counts it in sessiond_verify_total: its Observe is a
// sessiond.Options.VerifyObserver, mapped by metrics.VerifyOutcome as
// internal/server wires it.
type VerifyOutcomes struct {
	mu  sync.Mutex
	got []string
}

// Observe records the outcome of one verification.
func (v *VerifyOutcomes) Observe(err error, _ time.Duration) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.got = append(v.got, metrics.VerifyOutcome(err))
}

// Take returns the outcomes recorded since the last Take.
func (v *VerifyOutcomes) Take() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	got := v.got
	v.got = nil
	return got
}
