package sessiondtest

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sessiond/sessiond"
)

// RollbackMeta is a MetaStore over another that can go back to an earlier
// state at the versions it had then, as a Redis restarted from its last
// RDB snapshot (its default persistence) or a failover to a lagging
// replica does, or lose every document (Lose), as LosingMeta. It works on
// any store: a rollback moves to fresh names and writes each saved
// document there as many times as its version was. It counts the writes
// of each document (Puts). Safe for concurrent use.
type RollbackMeta struct {
	meta  sessiond.MetaStore
	id    string // keeps its documents apart from others' on the store
	mu    sync.Mutex
	gen   int
	names map[string]bool
	saved map[string]savedMeta
	puts  map[string]int
}

type savedMeta struct {
	value   []byte
	version int64
}

var _ sessiond.MetaStore = (*RollbackMeta)(nil)

// NewRollbackMeta returns meta, able to roll back and to lose its
// documents.
func NewRollbackMeta(meta sessiond.MetaStore) *RollbackMeta {
	return &RollbackMeta{meta: meta, id: rand.Text(), names: map[string]bool{}, puts: map[string]int{}}
}

func (m *RollbackMeta) name(name string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.names[name] = true
	return m.stored(name)
}

// stored is the name name has in the store now. The caller holds m.mu.
func (m *RollbackMeta) stored(name string) string { return fmt.Sprintf("%s~%s~%d", name, m.id, m.gen) }

// GetMeta reads name as the store holds it now.
func (m *RollbackMeta) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	return m.meta.GetMeta(ctx, m.name(name))
}

// PutMeta writes name, and counts the write.
func (m *RollbackMeta) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	m.mu.Lock()
	m.puts[name]++
	m.mu.Unlock()
	return m.meta.PutMeta(ctx, m.name(name), value, version)
}

// Puts returns how many writes of name PutMeta was asked for since the
// last ResetPuts.
func (m *RollbackMeta) Puts(name string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.puts[name]
}

// ResetPuts starts the counts of Puts again from zero.
func (m *RollbackMeta) ResetPuts() {
	m.mu.Lock()
	defer m.mu.Unlock()
	clear(m.puts)
}

// Snapshot saves every document as it is now.
func (m *RollbackMeta) Snapshot(tb testing.TB) {
	tb.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.saved = map[string]savedMeta{}
	for name := range m.names {
		v, version, err := m.meta.GetMeta(context.Background(), m.stored(name))
		if errors.Is(err, sessiond.ErrNotFound) {
			continue
		} else if err != nil {
			tb.Fatal(err)
		}
		m.saved[name] = savedMeta{v, version}
	}
}

// Rollback brings back the documents saved by Snapshot, at their
// versions; those made since are gone.
func (m *RollbackMeta) Rollback(tb testing.TB) {
	tb.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
	for name, d := range m.saved {
		for v := int64(0); v < d.version; v++ {
			if _, err := m.meta.PutMeta(context.Background(), m.stored(name), d.value, v); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// Lose makes every document vanish.
func (m *RollbackMeta) Lose() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gen++
}
