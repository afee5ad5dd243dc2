package testenv

import (
	"context"
	"fmt"
	"sync"

	"github.com/sessiond/sessiond"
)

// ConflictMeta is a MetaStore that loses the compare-and-swap of the next
// n writes of document Doc once armed (Arm), writing nothing: a set that
// keeps changing under the writer.
type ConflictMeta struct {
	sessiond.MetaStore
	Doc string

	mu sync.Mutex
	n  int
}

// Arm makes the next n writes of Doc lose their compare-and-swap.
func (m *ConflictMeta) Arm(n int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.n = n
}

func (m *ConflictMeta) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	m.mu.Lock()
	lose := name == m.Doc && m.n > 0
	if lose {
		m.n--
	}
	m.mu.Unlock()
	if lose {
		return 0, fmt.Errorf("testenv.ConflictMeta: version moved: %w", sessiond.ErrConflict)
	}
	return m.MetaStore.PutMeta(ctx, name, value, version)
}
