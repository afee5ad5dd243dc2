package sessiond

import (
	"context"
	"fmt"
	"sync"
)

// subscribe wires the store's cross-node revocation feed into the revoked
// set: each revocation made on another node is noted at once, and after a
// reconnect the set is reloaded from the store. The store runs the
// subscription until ctx ends; the gate makes sure no callback runs after
// Close returns.
func (m *Manager) subscribe(ctx context.Context, n RevocationNotifier) error {
	note := func(r Revocation) {
		if m.feed.enter() {
			defer m.feed.leave()
			m.NoteRevoked(r)
		}
	}
	resync := func() {
		if m.feed.enter() {
			defer m.feed.leave()
			if err := m.Resync(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("revocation catch-up", "err", err)
			}
		}
	}
	if err := n.SubscribeRevocations(ctx, note, resync); err != nil {
		return fmt.Errorf("sessiond: subscribe to revocations: %w", err)
	}
	return nil
}

// feedGate lets callbacks from a goroutine the Manager does not own (the
// store's feed) run until close, and close wait for those running.
type feedGate struct {
	mu     sync.RWMutex
	closed bool
}

// enter reports whether a callback may run; if so the caller must leave.
func (g *feedGate) enter() bool {
	g.mu.RLock()
	if g.closed {
		g.mu.RUnlock()
		return false
	}
	return true
}

func (g *feedGate) leave() { g.mu.RUnlock() }

// close waits for running callbacks and turns away later ones.
func (g *feedGate) close() {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
}
