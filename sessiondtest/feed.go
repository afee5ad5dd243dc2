package sessiondtest

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// feedWait bounds the wait for a revocation to arrive. It guards against a
// hang, it measures nothing: a working feed delivers within milliseconds.
const feedWait = 10 * time.Second

// TestRevocationNotifier checks sessiond.RevocationNotifier, failing at
// once if newStore's stores do not implement it. join returns another
// store on st's data, as another node of the same cluster sees it (the
// same schema, the same key prefix), registering its own cleanup; with a
// nil join the suite checks one node hearing its own revocations.
// TestStore runs it with a nil join when the store implements it; a
// backend with several nodes calls it again with a join.
//
// Beyond the RevocationNotifier doc comment it pins down: every Revoke,
// RevokeSubject and Limiter eviction that changes a session is delivered,
// and so is each made through the ways the Manager uses in their place
// (the recorders, a SubjectBatchRevoker's batches),
// with times in UTC; nothing is delivered for a revocation that changed
// nothing, for one rolled back, or for another store's data; delivery may
// repeat a revocation (at least once). SubscribeRevocations fails with a
// canceled context, and with ErrStoreUnavailable after Close; Close ends
// running subscriptions.
//
// When the store is also a sessiond.MetaNotifier, the Meta* subtests check
// that the same feed carries meta notices: PublishMeta on either node
// reaches a SubscribeFeed subscription on the other as MetaChanged (and
// never as a revocation or a resync), in order with the revocations around
// it; a subscription made with SubscribeRevocations hears none of them;
// another store's notices are not heard; a bad name is refused.
//
// SwapAcrossNodes checks the swap on two nodes: a SwapRefresh on one node
// refuses a token the other retired (ErrRefreshReused, outside the grace)
// and a session the other revoked (ErrRevoked), and stores no successor.
func TestRevocationNotifier(t *testing.T, newStore func(t *testing.T) sessiond.Store, join func(t *testing.T, st sessiond.Store) sessiond.Store) {
	if join == nil {
		join = func(_ *testing.T, st sessiond.Store) sessiond.Store { return st }
	}
	runSuite(t, newStore, []subtest[sessiond.RevocationNotifier]{
		{"Revoke", func(t *testing.T, f *fixture, _ sessiond.RevocationNotifier) { feedRevoke(t, f, join) }},
		{"RevokeSubject", func(t *testing.T, f *fixture, _ sessiond.RevocationNotifier) { feedRevokeSubject(t, f, join) }},
		{"Evictions", func(t *testing.T, f *fixture, _ sessiond.RevocationNotifier) { feedEvictions(t, f, join) }},
		{"EveryWayOfRevoking", func(t *testing.T, f *fixture, _ sessiond.RevocationNotifier) { feedEveryWay(t, f, join) }},
		{"NothingFromOtherData", func(t *testing.T, f *fixture, _ sessiond.RevocationNotifier) { feedOtherData(t, f, join) }},
		{"CanceledContext", feedCanceledContext},
		{"Close", feedClose},
		{"MetaAcrossNodes", func(t *testing.T, f *fixture, _ sessiond.RevocationNotifier) { metaAcrossNodes(t, f, join) }},
		{"MetaNotForRevocationSubscribers", func(t *testing.T, f *fixture, _ sessiond.RevocationNotifier) { metaNotForRevocations(t, f, join) }},
		{"MetaFromOtherData", func(t *testing.T, f *fixture, _ sessiond.RevocationNotifier) { metaOtherData(t, f, join) }},
		{"MetaArguments", metaArguments},
		{"SwapAcrossNodes", func(t *testing.T, f *fixture, _ sessiond.RevocationNotifier) { swapAcrossNodes(t, f, join) }},
	})
}

// swapAcrossNodes: a node's swap sees, in its own atomic step, a token
// another node retired and a session another node revoked. A hybrid
// Manager whose grant cache skips the Lookup relies on exactly this.
func swapAcrossNodes(t *testing.T, f *fixture, join func(*testing.T, sessiond.Store) sessiond.Store) {
	other := join(t, f.st)
	s := NewSession("dana", t0)
	old := NewToken(sessiond.KindRefresh, s.ID, t0)
	f.create(clone(s), old)
	swap := func(from sessiond.TokenHash, now time.Time, grace time.Duration) sessiond.RefreshSwap {
		return sessiond.RefreshSwap{Old: from, Next: NewToken(sessiond.KindRefresh, s.ID, now), Now: now,
			GraceSince: now.Add(-grace), LastActiveAt: now, IdleExpiresAt: now.Add(30 * time.Minute)}
	}
	first := swap(old.Hash, at(time.Minute), 0)
	if err := other.SwapRefresh(f.ctx, first); err != nil {
		t.Fatalf("SwapRefresh on the other node = %v; want nil", err)
	}
	late := swap(old.Hash, at(2*time.Minute), 5*time.Second)
	if err := f.st.SwapRefresh(f.ctx, late); !errors.Is(err, sessiond.ErrRefreshReused) {
		t.Fatalf("SwapRefresh of a token the other node retired a minute ago = %v; want ErrRefreshReused", err)
	}
	if _, err := other.Revoke(f.ctx, s.ID, at(3*time.Minute), sessiond.ReasonLogout); err != nil {
		t.Fatal(err)
	}
	after := swap(first.Next.Hash, at(3*time.Minute+time.Second), 0)
	if err := f.st.SwapRefresh(f.ctx, after); !errors.Is(err, sessiond.ErrRevoked) {
		t.Fatalf("SwapRefresh of a session the other node revoked = %v; want ErrRevoked", err)
	}
	// Neither refused swap stored its successor.
	for _, h := range []sessiond.TokenHash{late.Next.Hash, after.Next.Hash} {
		if _, _, err := f.st.Lookup(f.ctx, h); !errors.Is(err, sessiond.ErrNotFound) {
			t.Errorf("Lookup(successor of a refused swap) = %v; want ErrNotFound", err)
		}
	}
}

// metaListener collects what one SubscribeFeed subscription delivers, in
// order: a revocation as its session ID, a meta notice as "meta:" + name,
// a resync as "resync".
type metaListener struct {
	t     *testing.T
	got   chan string
	heard []string
}

func metaNotifier(t *testing.T, st sessiond.Store) sessiond.MetaNotifier {
	t.Helper()
	n, ok := st.(sessiond.MetaNotifier)
	if !ok {
		t.Skipf("%T is no sessiond.MetaNotifier", st)
	}
	return n
}

func listenFeed(f *fixture, st sessiond.Store) *metaListener {
	f.t.Helper()
	l := &metaListener{t: f.t, got: make(chan string, 256)}
	err := metaNotifier(f.t, st).SubscribeFeed(f.ctx, sessiond.Feed{
		Revoked:     func(r sessiond.Revocation) { l.got <- string(r.SessionID) },
		Resync:      func() { l.got <- "resync" },
		MetaChanged: func(name string) { l.got <- "meta:" + name },
	})
	if err != nil {
		f.t.Fatalf("SubscribeFeed() = %v; want nil", err)
	}
	return l
}

// expect waits for each of want, in any order (a Redis Cluster may
// reorder messages published through different nodes). Delivery is at
// least once, so something already heard may come again; anything else is
// an error.
func (l *metaListener) expect(what string, want ...string) {
	l.t.Helper()
	pending := slices.Clone(want)
	timeout := time.After(feedWait)
	for len(pending) > 0 {
		select {
		case got := <-l.got:
			if i := slices.Index(pending, got); i >= 0 {
				pending = slices.Delete(pending, i, i+1)
				l.heard = append(l.heard, got)
			} else if !slices.Contains(l.heard, got) {
				l.t.Fatalf("%s: the feed delivered %q; want one of %q", what, got, pending)
			}
		case <-timeout:
			l.t.Fatalf("%s: %q not delivered within %v", what, pending, feedWait)
		}
	}
}

func publishMeta(f *fixture, st sessiond.Store, name string) {
	f.t.Helper()
	if err := metaNotifier(f.t, st).PublishMeta(f.ctx, name); err != nil {
		f.t.Fatalf("PublishMeta(%q) = %v; want nil", name, err)
	}
}

func metaAcrossNodes(t *testing.T, f *fixture, join func(*testing.T, sessiond.Store) sessiond.Store) {
	metaNotifier(t, f.st)
	other := join(t, f.st)
	l := listenFeed(f, other)
	publishMeta(f, f.st, "revocation_watermarks")
	l.expect("PublishMeta on the other node", "meta:revocation_watermarks")
	// Revocations and notices share the feed.
	r := revokeOne(f, f.st, "alice")
	publishMeta(f, f.st, "keys")
	r2 := revokeOne(f, other, "bob")
	publishMeta(f, other, "revocation_watermarks") // a node hears its own notices too
	l.expect("revocations and notices", string(r.SessionID), "meta:keys", string(r2.SessionID), "meta:revocation_watermarks")
}

func metaNotForRevocations(t *testing.T, f *fixture, join func(*testing.T, sessiond.Store) sessiond.Store) {
	metaNotifier(t, f.st)
	other := join(t, f.st)
	resyncs := make(chan struct{}, 16)
	revs := make(chan sessiond.Revocation, 16)
	if err := other.(sessiond.RevocationNotifier).SubscribeRevocations(f.ctx,
		func(r sessiond.Revocation) { revs <- r }, func() { resyncs <- struct{}{} }); err != nil {
		t.Fatalf("SubscribeRevocations() = %v; want nil", err)
	}
	l := listenFeed(f, other) // proves the notice went out
	publishMeta(f, f.st, "revocation_watermarks")
	l.expect("PublishMeta", "meta:revocation_watermarks")
	// Published after the notice: once the subscriber has it, it has had
	// its chance to mishandle the notice.
	r := revokeOne(f, f.st, "carol")
	select {
	case got := <-revs:
		if got.SessionID != r.SessionID {
			t.Fatalf("a SubscribeRevocations subscriber was given %+v for a meta notice; want only the revocation", got)
		}
	case <-time.After(feedWait):
		t.Fatalf("revocation not delivered within %v", feedWait)
	}
	if len(resyncs) != 0 {
		t.Errorf("a meta notice made a SubscribeRevocations subscriber resync %d times; want none", len(resyncs))
	}
}

func metaOtherData(t *testing.T, f *fixture, join func(*testing.T, sessiond.Store) sessiond.Store) {
	metaNotifier(t, f.st)
	l := listenFeed(f, join(t, f.st))
	publishMeta(f, f.newStore(t), "revocation_watermarks") // another store's data: not heard
	publishMeta(f, f.st, "keys")
	l.expect("PublishMeta after one on another store", "meta:keys")
}

func metaArguments(t *testing.T, f *fixture, _ sessiond.RevocationNotifier) {
	n := metaNotifier(t, f.st)
	for _, name := range []string{"", "with space", "line\nbreak", "caf\u00e9", strings.Repeat("a", sessiond.MaxMetaName+1)} {
		name, _ = strconv.Unquote(`"` + name + `"`)
		if err := n.PublishMeta(f.ctx, name); !errors.Is(err, sessiond.ErrInvalidArgument) {
			t.Errorf("PublishMeta(%q) = %v; want ErrInvalidArgument", name, err)
		}
	}
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	if err := n.PublishMeta(ctx, "keys"); err == nil {
		t.Error("PublishMeta(canceled context) = nil; want an error")
	}
	if err := f.st.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.PublishMeta(f.ctx, "keys"); !errors.Is(err, sessiond.ErrStoreUnavailable) {
		t.Errorf("PublishMeta() after Close = %v; want ErrStoreUnavailable", err)
	}
	err := n.SubscribeFeed(f.ctx, sessiond.Feed{})
	if !errors.Is(err, sessiond.ErrStoreUnavailable) {
		t.Errorf("SubscribeFeed() after Close = %v; want ErrStoreUnavailable", err)
	}
}

// listener collects what one subscription delivers.
type listener struct {
	t    *testing.T
	revs chan sessiond.Revocation
	seen map[sessiond.SessionID]bool
}

// listen subscribes on st (a node joined to f's store) until the test ends.
func listen(f *fixture, st sessiond.Store) *listener {
	f.t.Helper()
	l := &listener{t: f.t, revs: make(chan sessiond.Revocation, 256), seen: make(map[sessiond.SessionID]bool)}
	n, ok := st.(sessiond.RevocationNotifier)
	if !ok {
		f.t.Fatalf("joined store %T does not implement sessiond.RevocationNotifier", st)
	}
	if err := n.SubscribeRevocations(f.ctx, func(r sessiond.Revocation) { l.revs <- r }, func() {}); err != nil {
		f.t.Fatalf("SubscribeRevocations() = %v; want nil", err)
	}
	return l
}

// expect waits for each of want, in any order. A revocation delivered
// before may come again; anything else is an error.
func (l *listener) expect(what string, want ...sessiond.Revocation) {
	l.t.Helper()
	pending := slices.Clone(want)
	timeout := time.After(feedWait)
	for len(pending) > 0 {
		select {
		case got := <-l.revs:
			i := slices.IndexFunc(pending, func(w sessiond.Revocation) bool { return sameRevocation(got, w) })
			if i < 0 {
				if !l.seen[got.SessionID] {
					l.t.Errorf("%s: the feed delivered %+v; want one of %+v", what, got, pending)
				}
				continue
			}
			if got.RevokedAt.Location() != time.UTC || got.ExpiresAt.Location() != time.UTC {
				l.t.Errorf("%s: the feed delivered times %v, %v; want UTC", what, got.RevokedAt, got.ExpiresAt)
			}
			l.seen[got.SessionID] = true
			pending = slices.Delete(pending, i, i+1)
		case <-timeout:
			l.t.Fatalf("%s: %d revocations not delivered within %v: %+v", what, len(pending), feedWait, pending)
		}
	}
}

func sameRevocation(a, b sessiond.Revocation) bool {
	return a.SessionID == b.SessionID && a.Subject == b.Subject && a.Reason == b.Reason &&
		a.RevokedAt.Equal(b.RevokedAt) && a.ExpiresAt.Equal(b.ExpiresAt)
}

// revokeOne creates a session of subject on st and revokes it, returning
// what a listener should hear.
func revokeOne(f *fixture, st sessiond.Store, subject string) sessiond.Revocation {
	f.t.Helper()
	s := NewSession(subject, t0)
	if err := st.Create(f.ctx, clone(s)); err != nil {
		f.t.Fatalf("Create() = %v; want nil", err)
	}
	if _, err := st.Revoke(f.ctx, s.ID, at(time.Minute), sessiond.ReasonAdmin); err != nil {
		f.t.Fatalf("Revoke() = %v; want nil", err)
	}
	return revocation(s, at(time.Minute), sessiond.ReasonAdmin)
}

func feedRevoke(t *testing.T, f *fixture, join func(*testing.T, sessiond.Store) sessiond.Store) {
	other := join(t, f.st)
	l := listen(f, other)
	first := revokeOne(f, f.st, "alice")
	l.expect("Revoke on the other node", first)
	// Revoking again changes nothing, so nothing is sent: the next
	// revocation heard (one the listening node makes) is the next one.
	f.revoke(first.SessionID, at(time.Hour), sessiond.ReasonLogout)
	l.expect("Revoke on the listening node", revokeOne(f, other, "bob"))
}

func feedRevokeSubject(t *testing.T, f *fixture, join func(*testing.T, sessiond.Store) sessiond.Store) {
	l := listen(f, join(t, f.st))
	a, b := NewSession("carol", t0), NewSession("carol", t0)
	f.create(clone(a))
	f.create(clone(b))
	got, err := f.st.RevokeSubject(f.ctx, "carol", "", at(time.Minute), sessiond.ReasonIncident)
	if err != nil || len(got) != 2 {
		t.Fatalf("RevokeSubject(carol) = %v, %v; want 2 revocations", got, err)
	}
	l.expect("RevokeSubject", revocation(a, at(time.Minute), sessiond.ReasonIncident), revocation(b, at(time.Minute), sessiond.ReasonIncident))
}

func feedEvictions(t *testing.T, f *fixture, join func(*testing.T, sessiond.Store) sessiond.Store) {
	lim, ok := f.st.(sessiond.Limiter)
	if !ok {
		t.Skip("the store is no sessiond.Limiter")
	}
	l := listen(f, join(t, f.st))
	old := NewSession("dave", t0)
	f.create(clone(old))
	// An eviction whose insert then fails (the ID exists) is rolled
	// back, and is not heard.
	dup := NewSession("dave", at(time.Minute))
	dup.ID = old.ID
	if _, err := lim.CreateLimited(f.ctx, dup, 1, true); !errors.Is(err, sessiond.ErrConflict) {
		t.Fatalf("CreateLimited(existing ID) = %v; want ErrConflict", err)
	}
	next := NewSession("dave", at(time.Minute))
	if _, err := lim.CreateLimited(f.ctx, clone(next), 1, true); err != nil {
		t.Fatalf("CreateLimited() = %v; want nil", err)
	}
	l.expect("CreateLimited eviction", revocation(old, next.CreatedAt, sessiond.ReasonLimit))
}

func feedOtherData(t *testing.T, f *fixture, join func(*testing.T, sessiond.Store) sessiond.Store) {
	l := listen(f, join(t, f.st))
	revokeOne(f, f.newStore(t), "erin") // another store's data: not heard
	l.expect("Revoke after one on another store", revokeOne(f, f.st, "frank"))
}

func feedCanceledContext(t *testing.T, f *fixture, n sessiond.RevocationNotifier) {
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	if err := n.SubscribeRevocations(ctx, func(sessiond.Revocation) {}, func() {}); err == nil {
		t.Error("SubscribeRevocations(canceled context) = nil; want an error")
	}
}

func feedClose(t *testing.T, f *fixture, n sessiond.RevocationNotifier) {
	ctx, cancel := context.WithCancel(f.ctx)
	if err := n.SubscribeRevocations(ctx, func(sessiond.Revocation) {}, func() {}); err != nil {
		t.Fatalf("SubscribeRevocations() = %v; want nil", err)
	}
	cancel() // one subscription ended by its context, one still running
	if err := n.SubscribeRevocations(f.ctx, func(sessiond.Revocation) {}, func() {}); err != nil {
		t.Fatalf("SubscribeRevocations() = %v; want nil", err)
	}
	done := make(chan error, 1)
	go func() { done <- f.st.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close() with a running subscription = %v; want nil", err)
		}
	case <-time.After(feedWait):
		t.Fatalf("Close() with a running subscription did not return within %v", feedWait)
	}
	err := n.SubscribeRevocations(f.ctx, func(sessiond.Revocation) {}, func() {})
	if !errors.Is(err, sessiond.ErrStoreUnavailable) {
		t.Errorf("SubscribeRevocations() after Close = %v; want ErrStoreUnavailable", err)
	}
}
