package testenv

import (
	"context"
	"fmt"
	"sync"

	"github.com/sessiond/sessiond"
)

// LingeringMeta is a MetaStore whose first write of document Doc after Arm
// gives up (its answer lost: ErrStoreUnavailable) while the write runs
// on, to land at Land as the compare-and-swap it is: PostgreSQL runs a
// statement on past a client that gave up until the cancel request
// reaches it. For the API key set's writes whose outcome is unknown.
type LingeringMeta struct {
	sessiond.MetaStore
	Doc string
	// FailAfter makes the writes of Doc after the lingering one, until it
	// lands, fail (ErrStoreUnavailable, nothing written): the clean-up's
	// revocation failing too.
	FailAfter bool

	mu      sync.Mutex
	armed   bool
	pending func()
}

// Arm makes the next write of Doc linger.
func (m *LingeringMeta) Arm() {
	m.mu.Lock()
	m.armed = true
	m.mu.Unlock()
}

func (m *LingeringMeta) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if name == m.Doc && m.FailAfter && !m.armed && m.pending != nil {
		return 0, fmt.Errorf("testenv.LingeringMeta: store unavailable: %w", sessiond.ErrStoreUnavailable)
	}
	if name != m.Doc || !m.armed {
		return m.MetaStore.PutMeta(ctx, name, value, version)
	}
	m.armed = false
	m.pending = func() { _, _ = m.MetaStore.PutMeta(context.Background(), name, value, version) }
	return 0, fmt.Errorf("testenv.LingeringMeta: answer lost: %w", sessiond.ErrStoreUnavailable)
}

// Land lands the write that gave up, if it has not yet.
func (m *LingeringMeta) Land() {
	m.mu.Lock()
	p := m.pending
	m.pending = nil
	m.mu.Unlock()
	if p != nil {
		p()
	}
}
