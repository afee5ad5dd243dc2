package sessiondtest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sessiond/sessiond"
)

// TestMetaDeleter checks sessiond.MetaDeleter, failing at once if
// newStore's stores do not implement it. TestStore runs it when they do.
func TestMetaDeleter(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	runSuite(t, newStore, []subtest[sessiond.MetaDeleter]{
		{"Missing", metaDeleteMissing},
		{"StaleVersion", metaDeleteStale},
		{"CurrentVersion", metaDeleteCurrent},
		{"BadVersion", metaDeleteBadVersion},
		{"CanceledContext", metaDeleteCanceled},
		{"ConcurrentWrite", metaDeleteConcurrentWrite},
		{"ConcurrentDeletes", metaDeleteConcurrentDeletes},
		{"Closed", metaDeleteClosed},
	})
}

// putMeta stores value as name at version and returns the new version.
func putMeta(t *testing.T, f *fixture, m sessiond.MetaStore, name, value string, version int64) int64 {
	t.Helper()
	v, err := m.PutMeta(f.ctx, name, []byte(value), version)
	if err != nil {
		t.Fatalf("PutMeta(%s, %s, %d) = %v", name, value, version, err)
	}
	return v
}

// wantMeta fails t unless name holds value at version.
func wantMeta(t *testing.T, f *fixture, m sessiond.MetaStore, op, name, value string, version int64) {
	t.Helper()
	got, v, err := m.GetMeta(f.ctx, name)
	if err != nil || string(got) != value || v != version {
		t.Errorf("after %s: GetMeta(%s) = %s, %d, %v; want %s, %d", op, name, got, v, err, value, version)
	}
}

// wantNoMeta fails t unless name reads as missing.
func wantNoMeta(t *testing.T, f *fixture, m sessiond.MetaStore, op, name string) {
	t.Helper()
	if got, v, err := m.GetMeta(f.ctx, name); !errors.Is(err, sessiond.ErrNotFound) {
		t.Errorf("after %s: GetMeta(%s) = %s, %d, %v; want ErrNotFound", op, name, got, v, err)
	}
}

func metaDeleteMissing(t *testing.T, f *fixture, m sessiond.MetaDeleter) {
	vo := putMeta(t, f, m, "other", "o", 0)
	for _, v := range []int64{1, 7} {
		wantErr(t, fmt.Sprintf("DeleteMeta(missing, %d)", v), m.DeleteMeta(f.ctx, "keys", v), sessiond.ErrNotFound)
	}
	wantNoMeta(t, f, m, "DeleteMeta(missing)", "keys")
	wantMeta(t, f, m, "DeleteMeta(missing)", "other", "o", vo)
}

func metaDeleteStale(t *testing.T, f *fixture, m sessiond.MetaDeleter) {
	v1 := putMeta(t, f, m, "keys", "a", 0)
	v2 := putMeta(t, f, m, "keys", "b", v1)
	for _, v := range []int64{v1, v2 + 1} {
		wantErr(t, fmt.Sprintf("DeleteMeta(version %d, current %d)", v, v2), m.DeleteMeta(f.ctx, "keys", v), sessiond.ErrConflict)
	}
	wantMeta(t, f, m, "DeleteMeta(stale version)", "keys", "b", v2)
}

func metaDeleteCurrent(t *testing.T, f *fixture, m sessiond.MetaDeleter) {
	v1 := putMeta(t, f, m, "keys", "a", 0)
	v2 := putMeta(t, f, m, "keys", "b", v1)
	vo := putMeta(t, f, m, "other", "o", 0)
	if err := m.DeleteMeta(f.ctx, "keys", v2); err != nil {
		t.Fatalf("DeleteMeta(current version) = %v; want nil", err)
	}
	wantNoMeta(t, f, m, "DeleteMeta", "keys")
	wantMeta(t, f, m, "DeleteMeta of another document", "other", "o", vo)
	wantErr(t, "DeleteMeta again", m.DeleteMeta(f.ctx, "keys", v2), sessiond.ErrNotFound)
	// A writer that read the document before the delete does not bring
	// it back: its version is gone with it.
	_, err := m.PutMeta(f.ctx, "keys", []byte("late"), v2)
	wantErr(t, "PutMeta(version read before the delete)", err, sessiond.ErrConflict)
	wantNoMeta(t, f, m, "PutMeta(version read before the delete)", "keys")
	// It can be made again, from version 0.
	v := putMeta(t, f, m, "keys", "c", 0)
	wantMeta(t, f, m, "PutMeta(0) after the delete", "keys", "c", v)
}

func metaDeleteBadVersion(t *testing.T, f *fixture, m sessiond.MetaDeleter) {
	v := putMeta(t, f, m, "keys", "a", 0)
	for _, bad := range []int64{0, -1} {
		wantErr(t, fmt.Sprintf("DeleteMeta(version %d)", bad), m.DeleteMeta(f.ctx, "keys", bad), sessiond.ErrInvalidArgument)
	}
	wantMeta(t, f, m, "DeleteMeta(bad version)", "keys", "a", v)
}

func metaDeleteCanceled(t *testing.T, f *fixture, m sessiond.MetaDeleter) {
	v := putMeta(t, f, m, "keys", "a", 0)
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	if err := m.DeleteMeta(ctx, "keys", v); err == nil {
		t.Errorf("DeleteMeta(canceled context) = nil; want an error")
	}
	wantMeta(t, f, m, "DeleteMeta(canceled context)", "keys", "a", v)
}

// metaDeleteConcurrentWrite: a write and a delete made at the same
// version race; exactly one wins, and a write that won is never lost.
func metaDeleteConcurrentWrite(t *testing.T, f *fixture, m sessiond.MetaDeleter) {
	const rounds = 30
	wins := map[string]int{}
	for i := range rounds {
		name := fmt.Sprintf("queue%d", i)
		v := putMeta(t, f, m, name, "old", 0)
		var putErr, delErr error
		calls := []func(){
			func() { _, putErr = m.PutMeta(f.ctx, name, []byte("new"), v) },
			func() { delErr = m.DeleteMeta(f.ctx, name, v) },
		}
		if i%2 == 1 { // neither always the first one started
			calls[0], calls[1] = calls[1], calls[0]
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, call := range calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				call()
			}()
		}
		close(start)
		wg.Wait()
		switch {
		case putErr == nil && delErr == nil:
			t.Fatalf("round %d: PutMeta and DeleteMeta at one version both succeeded", i)
		case putErr == nil:
			wantErr(t, fmt.Sprintf("round %d: DeleteMeta losing to a write", i), delErr, sessiond.ErrConflict)
			wantMeta(t, f, m, fmt.Sprintf("round %d: a write racing a delete", i), name, "new", v+1)
			wins["put"]++
		case delErr == nil:
			wantErr(t, fmt.Sprintf("round %d: PutMeta losing to a delete", i), putErr, sessiond.ErrConflict)
			wantNoMeta(t, f, m, fmt.Sprintf("round %d: a delete racing a write", i), name)
			wins["delete"]++
		default:
			t.Fatalf("round %d: PutMeta = %v, DeleteMeta = %v; want one of them to succeed", i, putErr, delErr)
		}
	}
	t.Logf("%d rounds: %v", rounds, wins)
}

// metaDeleteConcurrentDeletes: of many deletes at one version exactly
// one succeeds.
func metaDeleteConcurrentDeletes(t *testing.T, f *fixture, m sessiond.MetaDeleter) {
	v := putMeta(t, f, m, "keys", "a", 0)
	var wg sync.WaitGroup
	var mu sync.Mutex
	wins := 0
	start := make(chan struct{})
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			err := m.DeleteMeta(f.ctx, "keys", v)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				wins++
			case !errors.Is(err, sessiond.ErrNotFound) && !errors.Is(err, sessiond.ErrConflict):
				t.Errorf("DeleteMeta = %v; want nil, ErrNotFound or ErrConflict", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	if wins != 1 {
		t.Errorf("%d of 10 concurrent DeleteMeta at one version succeeded; want exactly 1", wins)
	}
	wantNoMeta(t, f, m, "concurrent DeleteMeta", "keys")
}

func metaDeleteClosed(t *testing.T, f *fixture, m sessiond.MetaDeleter) {
	v := putMeta(t, f, m, "keys", "a", 0)
	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}
	wantErr(t, "DeleteMeta after Close", m.DeleteMeta(f.ctx, "keys", v), sessiond.ErrStoreUnavailable)
}
