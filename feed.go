package sessiond

import (
	"context"
	"fmt"
	"sync"
)

// subscribe wires the store's cross-node feed into the revoked set and the
// incident watermarks: each revocation made on another node is noted at
// once, a watermark notice (MetaNotifier) has them reloaded at once, and
// after a reconnect both are reloaded from the store. The store runs the
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
			m.reloadWatermarks() // a watermark notice may have been lost too
			if !m.catchUp(ctx) {
				m.reloadWatermarks() // the loop retries it, from now on
			}
		}
	}
	var err error
	if m.pub != nil {
		err = m.pub.SubscribeFeed(ctx, Feed{Revoked: note, Resync: resync, MetaChanged: func(name string) {
			if name == watermarkDoc {
				m.reloadWatermarks()
			}
		}})
	} else {
		err = n.SubscribeRevocations(ctx, note, resync)
	}
	if err != nil {
		return fmt.Errorf("sessiond: subscribe to revocations: %w", err)
	}
	return nil
}

// catchUp reloads the revocations made while the feed was away. One that
// fails (the store dropped again just after the reconnect) is retried by
// the watermark loop until it succeeds (a Manager that runs no such loop,
// on a store without MetaStore, or with neither a poll nor a MetaNotifier,
// catches up again only on the feed's next reconnect): the feed reconnects only after its
// next disconnection, and until a catch-up succeeds a session revoked
// during the outage would verify here for its access lifetime.
//
// The retry is cleared before the reload, not after it succeeds: the feed
// and the watermark loop catch up concurrently, and a reload that began
// before another one failed covers nothing that failure missed.
func (m *Manager) catchUp(ctx context.Context) (ok bool) {
	m.resyncDue.Store(false)
	if err := m.Resync(ctx); err != nil {
		m.resyncDue.Store(true)
		if ctx.Err() == nil {
			m.log.Warn("revocation catch-up; retried until it succeeds", "err", err)
		}
		return false
	}
	return true
}

// reloadWatermarks asks the watermark loop to read the shared watermarks
// now. It never blocks: requests made while one is pending merge into it.
func (m *Manager) reloadWatermarks() {
	select {
	case m.kick <- struct{}{}:
	default:
	}
}

// publishWatermarks tells the other nodes, over the store's feed, that this
// node raised the watermarks. A lost notice only delays them until their
// next poll, so a failure is logged, not returned: the kill switch itself
// has taken effect.
func (m *Manager) publishWatermarks(ctx context.Context) {
	if m.pub == nil {
		return
	}
	if err := m.storeErr.check("publish_meta", m.pub.PublishMeta(ctx, watermarkDoc)); err != nil {
		m.log.WarnContext(ctx, "incident watermark notice not sent; other nodes learn of it at their next poll", "err", err)
	}
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
