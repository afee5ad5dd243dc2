package sessiond

import (
	"fmt"
	"testing"
	"time"
)

// TestRevokedSet_PruneOnAddKeepsLive: the prune an addition runs once the
// set has grown (no collector on the node) drops only entries past their
// drop time at the caller's now: every revocation whose access tokens may
// still verify stays, however many additions cross the prune size.
func TestRevokedSet_PruneOnAddKeepsLive(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		past, live int // entries already past their drop time, and live ones
	}{
		{"all live", 0, 3 * revokedPruneFloor},
		{"past and live", 2 * revokedPruneFloor, 2 * revokedPruneFloor},
		{"mostly past", 3 * revokedPruneFloor, revokedPruneFloor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRevokedSet(15*time.Minute, 0)
			now := t0
			for i := range tt.past {
				r.add(SessionID(fmt.Sprintf("past-%d", i)), now.Add(time.Minute), now)
			}
			now = now.Add(time.Hour) // every entry so far is past its time
			for i := range tt.live {
				// Each live entry drops a second after now: the prune
				// must compare with the caller's now, nothing later.
				r.add(SessionID(fmt.Sprintf("live-%d", i)), now.Add(time.Second), now)
			}
			for i := range tt.live {
				if id := SessionID(fmt.Sprintf("live-%d", i)); !r.has(id) {
					t.Fatalf("%s dropped before its time by a prune on addition (%d entries left)", id, r.len())
				}
			}
			if tt.past > 0 && tt.live >= revokedPruneFloor && r.len() != tt.live {
				t.Errorf("%d entries after the live additions crossed the prune size; want the %d live ones alone", r.len(), tt.live)
			}
		})
	}
}
