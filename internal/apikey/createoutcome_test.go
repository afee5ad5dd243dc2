package apikey_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/memstore"
)

// failingMeta fails the writes (and, once failReads is set by a write,
// the reads) of the key set it is told to: conflicts, the compare-and-swap
// lost, writing nothing.
type failingMeta struct {
	*memstore.Store
	mu        sync.Mutex
	conflicts int  // the next writes of the set that lose their compare-and-swap
	thenRead  bool // once they are spent, reads of the set fail
	failReads bool
}

func (m *failingMeta) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if name == apikey.DocName && m.conflicts > 0 {
		m.conflicts--
		m.failReads = m.conflicts == 0 && m.thenRead
		return 0, fmt.Errorf("failingMeta: version moved: %w", sessiond.ErrConflict)
	}
	return m.Store.PutMeta(ctx, name, value, version)
}

func (m *failingMeta) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	m.mu.Lock()
	fail := m.failReads && name == apikey.DocName
	m.mu.Unlock()
	if fail {
		return nil, 0, fmt.Errorf("failingMeta: %w", sessiond.ErrStoreUnavailable)
	}
	return m.Store.GetMeta(ctx, name)
}

// TestKeys_CreateFailedDefinitively: Create returns its key with an error
// only when the write's outcome is unknown (it may land: the callers then
// record it revoked, RevokeUnreceived). A write that definitively did not
// land (every compare-and-swap lost; a conflict, then the re-read failing)
// returns no key: before, it returned the key of its last lost try, and
// the API, the console and apikey create added it to the set revoked,
// listed and recorded created then revoked, a key that never existed.
func TestKeys_CreateFailedDefinitively(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		meta    *failingMeta
		wantErr error
	}{
		{name: "every compare-and-swap lost", meta: &failingMeta{conflicts: 1000}, wantErr: sessiond.ErrConflict},
		{name: "a conflict, then the re-read fails", meta: &failingMeta{conflicts: 1, thenRead: true}, wantErr: sessiond.ErrStoreUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.meta.Store = memstore.New()
			defer tc.meta.Close()
			_, key, err := apikey.New(tc.meta, nil, 0).Create(ctx, "victim")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("Create = %v; want %v", err, tc.wantErr)
			}
			if key.ID != "" {
				t.Errorf("Create = key %s, %v; want no key: its write cannot land", key.ID, err)
			}
		})
	}
}
