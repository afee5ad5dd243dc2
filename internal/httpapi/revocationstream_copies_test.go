package httpapi_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/verifier/stream"
)

// feedStore is a memory store with a revocation feed, as PostgreSQL's
// NOTIFY and Redis's PUBLISH are: each single revocation is announced
// with the session as stored. Its write takes writeTime on the clock, as
// a database's does under load.
type feedStore struct {
	*memstore.Store
	clock *sessiondtest.Clock
	waker *httpapi.Waker
	mu    sync.Mutex
	feed  []sessiond.Revocation
}

const writeTime = 7800 * time.Microsecond

func (f *feedStore) RevokeRecorded(ctx context.Context, id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason,
	revoked func(*sessiond.Session) sessiond.ChangeRecords) (*sessiond.Session, bool, error) {
	f.clock.Advance(writeTime)
	s, recorded, err := f.Store.RevokeRecorded(ctx, id, at, reason, revoked)
	if err == nil && recorded {
		f.mu.Lock()
		f.feed = append(f.feed, sessiond.Revocation{SessionID: s.ID, Subject: s.Subject, RevokedAt: s.RevokedAt,
			ExpiresAt: s.ExpiresAt, Reason: s.RevokeReason})
		f.mu.Unlock()
		f.waker.Wake()
	}
	return s, recorded, err
}

// recent is a RevocationStream.Recent over the feed.
func (f *feedStore) recent(after uint64) ([]sessiond.Revocation, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	last := uint64(len(f.feed))
	if after >= last {
		return nil, last
	}
	return append([]sessiond.Revocation(nil), f.feed[after:]...), last
}

// TestRevocationStream_FeedAndLogAgree pins what a live stream sends of
// one revocation on a store with a feed: a copy from the feed (the
// heartbeat's cursor as id) and a copy from the event log (the entry's
// ID), in either order, with the same session_id, subject, reason and
// revoked_at, which is the store's revocation time (the snapshot's); only
// until may differ, the feed's bounded by the session's expiry.
func TestRevocationStream_FeedAndLogAgree(t *testing.T) {
	t.Parallel()
	var fs *feedStore
	e := newStreamEnvStore(t, authenticate, func(rs *httpapi.RevocationStream) {
		rs.Recent = func(after uint64) ([]sessiond.Revocation, uint64) { return fs.recent(after) }
	}, nil, func(e *streamEnv) testenv.EventLogStore {
		fs = &feedStore{Store: e.store, clock: e.clock, waker: e.waker}
		return fs
	})
	sid := e.session("lena")
	c := e.live()
	e.revoke(sid)

	revs, err := e.store.Revocations(t.Context(), t0.Add(-time.Hour))
	if err != nil || len(revs) != 1 {
		t.Fatalf("store revocations = %v, %v; want one", revs, err)
	}
	stored := revs[0]
	logged, _, err := e.store.QueryEvents(t.Context(), sessiond.EventQuery{Type: sessiond.EventSessionRevoked, SessionID: sid})
	if err != nil || len(logged) != 1 {
		t.Fatalf("session.revoked entries = %v, %v; want one", logged, err)
	}
	copies := map[string]stream.Revoked{} // "feed" or "log"
	for len(copies) < 2 {
		r, id := c.revoked()
		if r.SessionID != string(sid) {
			t.Fatalf("revoked %s; want only %s", r.SessionID, sid)
		}
		from := "feed"
		if id == logged[0].ID {
			from = "log"
		} else if _, _, err := stream.ParseCursor(id); err != nil {
			t.Fatalf("feed copy's id %q: %v", id, err)
		}
		if _, dup := copies[from]; dup {
			t.Fatalf("two %s copies of %s; want one from the feed and one from the log", from, sid)
		}
		copies[from] = r
	}
	feed, log := copies["feed"], copies["log"]
	for name, r := range copies {
		if !r.RevokedAt.Equal(stored.RevokedAt) || r.Subject != stored.Subject || r.Reason != string(stored.Reason) {
			t.Errorf("%s copy = %+v; want revoked_at %s (the store's), subject %s, reason %s", name, r,
				stored.RevokedAt.Format(time.RFC3339Nano), stored.Subject, stored.Reason)
		}
	}
	if log.Until.Before(feed.Until) {
		t.Errorf("log copy's until %s is before the feed copy's %s", log.Until, feed.Until)
	}
}
