package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
)

// lookupResult is what one Lookup returned.
type lookupResult struct {
	tok  sessiond.Token
	sess *sessiond.Session
	err  error
}

// groupedLookups runs a Lookup of each of hashes in its own goroutine, with
// ctxs[i] when given, while every read slot is held, waits until all of
// them queue, then releases the slots so that they go out as one group.
func groupedLookups(t *testing.T, st *pgstore.Store, ctxs []context.Context, hashes ...sessiond.TokenHash) []lookupResult {
	t.Helper()
	release := pgstore.HoldReadSlots(st)
	out := make([]lookupResult, len(hashes))
	var wg sync.WaitGroup
	for i, h := range hashes {
		ctx := t.Context()
		if ctxs != nil && ctxs[i] != nil {
			ctx = ctxs[i]
		}
		wg.Go(func() {
			r := &out[i]
			r.tok, r.sess, r.err = st.Lookup(ctx, h)
		})
	}
	for pgstore.QueuedReads(st) < len(hashes) {
		time.Sleep(time.Millisecond)
	}
	release()
	wg.Wait()
	return out
}

func TestGroupRead_Lookup(t *testing.T) {
	st, _ := newStore(t, pgstore.Options{})
	var (
		hashes []sessiond.TokenHash
		alone  []lookupResult // each Lookup run on its own first
	)
	for i := range 3 {
		sess := newSession(fmt.Sprintf("user%d", i), t0)
		sess.Claims = []byte(fmt.Sprintf(`{"n":%d}`, i))
		access, refresh := newToken(sessiond.KindAccess, sess.ID, t0), newToken(sessiond.KindRefresh, sess.ID, t0)
		if err := st.Create(t.Context(), sess, access, refresh); err != nil {
			t.Fatalf("Create() = %v", err)
		}
		for _, tok := range []sessiond.Token{access, refresh} {
			hashes = append(hashes, tok.Hash)
		}
	}
	missing := newToken(sessiond.KindRefresh, "absent", t0).Hash
	hashes = append(hashes, hashes[0], missing) // the same token twice, and one that does not exist
	for _, h := range hashes {
		var r lookupResult
		r.tok, r.sess, r.err = st.Lookup(t.Context(), h)
		alone = append(alone, r)
	}

	got := groupedLookups(t, st, nil, hashes...)
	if n := pgstore.GroupedReads(st); n != int64(len(hashes)) {
		t.Errorf("GroupedReads = %d; want %d (one group)", n, len(hashes))
	}
	for i := range hashes {
		g, w := got[i], alone[i]
		if !errors.Is(g.err, sessiond.ErrNotFound) || !errors.Is(w.err, sessiond.ErrNotFound) {
			if g.err != nil || w.err != nil {
				t.Errorf("Lookup(hash %d) in a group = %v; alone %v", i, g.err, w.err)
				continue
			}
		}
		if !reflect.DeepEqual(g.tok, w.tok) || !reflect.DeepEqual(g.sess, w.sess) {
			t.Errorf("Lookup(hash %d) in a group = %+v, %+v; alone %+v, %+v", i, g.tok, g.sess, w.tok, w.sess)
		}
	}
	if !errors.Is(got[len(got)-1].err, sessiond.ErrNotFound) {
		t.Errorf("Lookup(missing) in a group = %v; want ErrNotFound", got[len(got)-1].err)
	}
	// The same token asked twice: two sessions the callers may change
	// independently.
	if a, b := got[0].sess, got[len(got)-2].sess; a == b || &a.Claims[0] == &b.Claims[0] {
		t.Errorf("Lookup of one hash twice in a group shares its session or claims")
	}
}

func TestGroupRead_CanceledCallerLeavesOthers(t *testing.T) {
	st, _ := newStore(t, pgstore.Options{})
	sess := newSession("alice", t0)
	tok := newToken(sessiond.KindRefresh, sess.ID, t0)
	if err := st.Create(t.Context(), sess, tok); err != nil {
		t.Fatalf("Create() = %v", err)
	}
	canceled, cancel := context.WithCancel(t.Context())
	release := pgstore.HoldReadSlots(st)
	var (
		wg       sync.WaitGroup
		errGone  error
		gone     = make(chan struct{})
		gotOther lookupResult
	)
	go func() { defer close(gone); _, _, errGone = st.Lookup(canceled, tok.Hash) }()
	for pgstore.QueuedReads(st) < 1 {
		time.Sleep(time.Millisecond)
	}
	wg.Go(func() { gotOther.tok, gotOther.sess, gotOther.err = st.Lookup(t.Context(), tok.Hash) })
	for pgstore.QueuedReads(st) < 2 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-gone // withdrawn while the slots were held
	release()
	wg.Wait()
	if !errors.Is(errGone, context.Canceled) {
		t.Errorf("Lookup(canceled while queued) = %v; want context.Canceled", errGone)
	}
	if gotOther.err != nil || gotOther.sess == nil || gotOther.sess.ID != sess.ID {
		t.Errorf("Lookup(other caller) = %v, %v; want its session", gotOther.sess, gotOther.err)
	}
}
