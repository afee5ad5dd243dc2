package sessiond

import (
	"context"
	"fmt"
	"time"
)

// CollectGarbage deletes expired sessions in batches of batch until none
// is left, and prunes the in-process sets. It returns how many sessions it
// deleted.
func (m *Manager) CollectGarbage(ctx context.Context, batch int) (int, error) {
	now := m.clock.Now()
	m.revoked.prune(now)
	if m.cache != nil {
		m.cache.prune(now)
	}
	if m.grants != nil {
		m.grants.prune(now)
	}
	if !m.flow.keepsSessions() {
		return 0, nil
	}
	before := now
	if m.revoked != nil {
		// hybrid: a session's last access token may end at its absolute
		// expiry, and a verifier may accept it up to MaxVerifierLeeway
		// after; its revocation must stay in the store (and the snapshot
		// verifiers load) until then.
		before = now.Add(-MaxVerifierLeeway - m.revoked.leeway - time.Second)
	}
	total := 0
	for {
		n, err := m.store.DeleteExpired(ctx, before, batch)
		total += n
		if err != nil {
			return total, fmt.Errorf("sessiond: collect garbage: %w", m.storeErr.check("delete_expired", err))
		}
		if n < batch {
			return total, nil
		}
	}
}

// collect runs CollectGarbage every interval until ctx ends.
func (m *Manager) collect(ctx context.Context, every time.Duration, batch int) {
	defer m.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := m.CollectGarbage(ctx, batch); err != nil && ctx.Err() == nil {
				m.log.Warn("garbage collection", "err", err, "deleted", n)
			} else if n > 0 {
				m.log.Debug("garbage collection", "deleted", n)
			}
		}
	}
}
