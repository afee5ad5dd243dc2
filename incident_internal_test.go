package sessiond

import (
	"context"
	"sync"
	"testing"
	"time"
)

// slowMeta is a one-document MetaStore whose GetMeta can run a hook after
// it has read the document and before it returns it: a read that a write
// overtakes.
type slowMeta struct {
	mu      sync.Mutex
	value   []byte
	version int64
	onRead  func()
}

func (m *slowMeta) GetMeta(context.Context, string) ([]byte, int64, error) {
	m.mu.Lock()
	v, ver, hook := m.value, m.version, m.onRead
	m.onRead = nil
	m.mu.Unlock()
	if ver == 0 {
		return nil, 0, ErrNotFound
	}
	if hook != nil {
		hook()
	}
	return v, ver, nil
}

func (m *slowMeta) PutMeta(_ context.Context, _ string, value []byte, version int64) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if version != m.version {
		return 0, ErrConflict
	}
	m.value, m.version = value, m.version+1
	return m.version, nil
}

// TestWatermarks_SyncOvertakenByRaise: a sync whose read started before
// this node raised a watermark must not install what it read over it
// (which would let the node that ran the kill switch forget it until its
// next sync); the next sync brings the node up to date as usual.
func TestWatermarks_SyncOvertakenByRaise(t *testing.T) {
	ctx := context.Background()
	t1 := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	meta := &slowMeta{}
	w := &watermarks{meta: meta, keep: 24 * time.Hour}
	if err := w.raise(ctx, RevokeFilter{Subjects: []string{"bob"}}, t1); err != nil {
		t.Fatal(err)
	}
	// The sync reads version 1; before it returns, this node's kill switch
	// raises the all-sessions watermark (version 2).
	meta.onRead = func() {
		if err := w.raise(ctx, RevokeFilter{All: true}, t2); err != nil {
			t.Error(err)
		}
	}
	// A second node's view: it never raised anything itself.
	other := &watermarks{meta: meta, keep: 24 * time.Hour}
	if err := w.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !w.revoked("alice", t2.Add(-time.Minute)) {
		t.Fatal("after a sync overtaken by this node's raise, the all-sessions watermark is gone")
	}
	if err := other.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !other.revoked("alice", t2.Add(-time.Minute)) || !other.revoked("bob", t1.Add(-time.Minute)) {
		t.Error("another node's sync did not install both watermarks")
	}
	if err := w.sync(ctx); err != nil {
		t.Fatal(err)
	}
	if !w.revoked("alice", t2.Add(-time.Minute)) || !w.revoked("bob", t1.Add(-time.Minute)) || w.revoked("alice", t2.Add(time.Second)) {
		t.Error("the next sync left this node with other watermarks than the store's")
	}
}
