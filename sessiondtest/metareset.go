package sessiondtest

import (
	"context"
	"fmt"
	"sync/atomic"

	"github.com/sessiond/sessiond"
)

// LosingMeta is a MetaStore over another that can lose every document at
// once, as a Redis without persistence does when it restarts, or a
// failover to an empty replica: after Lose each document reads as missing
// (ErrNotFound) until written again, and versions start again from 1. It
// works on any store, so code that must survive the loss is tested on
// each. Safe for concurrent use.
type LosingMeta struct {
	meta sessiond.MetaStore
	gen  atomic.Int64
}

var _ sessiond.MetaStore = (*LosingMeta)(nil)

// NewLosingMeta returns meta, able to lose its documents.
func NewLosingMeta(meta sessiond.MetaStore) *LosingMeta { return &LosingMeta{meta: meta} }

// Lose makes every document written so far vanish.
func (m *LosingMeta) Lose() { m.gen.Add(1) }

// name is where the current generation keeps the document name.
func (m *LosingMeta) name(name string) string {
	if g := m.gen.Load(); g > 0 {
		return fmt.Sprintf("%s~%d", name, g)
	}
	return name
}

// GetMeta reads name in the current generation.
func (m *LosingMeta) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	return m.meta.GetMeta(ctx, m.name(name))
}

// PutMeta writes name in the current generation.
func (m *LosingMeta) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	return m.meta.PutMeta(ctx, m.name(name), value, version)
}
