package sessiondtest

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sessiond/sessiond"
)

// TestMetaStore checks sessiond.MetaStore, failing at once if newStore's
// stores do not implement it. TestStore runs it when they do.
func TestMetaStore(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	runSuite(t, newStore, []subtest[sessiond.MetaStore]{
		{"RoundTripAndCAS", metaRoundTripAndCAS},
		{"ConcurrentCAS", metaConcurrentCAS},
	})
}

func metaRoundTripAndCAS(t *testing.T, f *fixture, m sessiond.MetaStore) {
	_, _, err := m.GetMeta(f.ctx, "keys")
	wantErr(t, "GetMeta(missing)", err, sessiond.ErrNotFound)
	v1, err := m.PutMeta(f.ctx, "keys", []byte(`{"a":1}`), 0)
	if err != nil || v1 == 0 {
		t.Fatalf("PutMeta(new) = %d, %v", v1, err)
	}
	_, err = m.PutMeta(f.ctx, "keys", []byte(`{"a":2}`), 0)
	wantErr(t, "PutMeta(exists, version 0)", err, sessiond.ErrConflict)
	v2, err := m.PutMeta(f.ctx, "keys", []byte(`{"a":3}`), v1)
	if err != nil || v2 == v1 {
		t.Fatalf("PutMeta(v1) = %d, %v; want a new version", v2, err)
	}
	_, err = m.PutMeta(f.ctx, "keys", []byte(`{"a":4}`), v1)
	wantErr(t, "PutMeta(stale version)", err, sessiond.ErrConflict)
	got, v, err := m.GetMeta(f.ctx, "keys")
	if err != nil || v != v2 || string(got) != `{"a":3}` {
		t.Fatalf("GetMeta = %s, %d, %v; want {\"a\":3}, %d", got, v, err, v2)
	}
	if _, _, err := m.GetMeta(f.ctx, "other"); !errors.Is(err, sessiond.ErrNotFound) {
		t.Errorf("documents are not independent: %v", err)
	}
}

func metaConcurrentCAS(t *testing.T, f *fixture, m sessiond.MetaStore) {
	v, err := m.PutMeta(f.ctx, "ring", []byte("0"), 0)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := m.PutMeta(f.ctx, "ring", []byte(fmt.Sprint(i)), v)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				wins++
			} else if !errors.Is(err, sessiond.ErrConflict) {
				t.Errorf("PutMeta = %v", err)
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d concurrent PutMeta with one version won; want exactly 1", wins)
	}
}
