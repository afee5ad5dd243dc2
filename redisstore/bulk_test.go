package redisstore_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

// TestStore_BatchBySlot runs the conformance suite with bulk work batched
// by slot, as on a Redis Cluster, where one script may touch one slot only.
func TestStore_BatchBySlot(t *testing.T) {
	redisURL(t)
	sessiondtest.TestStore(t, func(t *testing.T) sessiond.Store {
		st := newStore(t, redisstore.Options{})
		redisstore.BatchBySlot(st)
		return st
	})
}

func TestKeySlot(t *testing.T) {
	// The values of CLUSTER KEYSLOT.
	for tag, want := range map[string]int{"123456789": 12739, "foo": 12182, "bar": 5061, "": 0} {
		if got := redisstore.KeySlot(tag); got != want {
			t.Errorf("KeySlot(%q) = %d; want %d", tag, got, want)
		}
	}
}

// TestStore_RevokeMatchingQuiet checks that a bulk revocation publishes
// nothing on the revocation feed (the Manager's watermark carries it) but
// is in Revocations, and that the client-side cache of the same store does
// not serve the sessions as they were.
func TestStore_RevokeMatchingQuiet(t *testing.T) {
	t.Parallel()
	prefix := randomPrefix()
	a := newStore(t, redisstore.Options{Prefix: prefix, ClientCache: time.Minute})
	b := newStore(t, redisstore.Options{Prefix: prefix})
	ctx := t.Context()
	t0 := now()
	got := make(chan sessiond.Revocation, 16)
	if err := b.SubscribeRevocations(ctx, func(r sessiond.Revocation) { got <- r }, func() {}); err != nil {
		t.Fatalf("SubscribeRevocations() = %v", err)
	}
	var toks []sessiond.Token
	for i := range 5 {
		s := newSession(fmt.Sprintf("user%d", i), t0)
		tok := newToken(sessiond.KindAccess, s.ID, t0)
		if err := a.Create(ctx, s, tok); err != nil {
			t.Fatalf("Create() = %v", err)
		}
		toks = append(toks, tok)
	}
	time.Sleep(2100 * time.Millisecond) // past the store's own-write guard
	for _, tok := range toks {
		for range 2 { // the second from the client-side cache
			if _, s, err := a.Lookup(ctx, tok.Hash); err != nil || s.Revoked() {
				t.Fatalf("Lookup() = %v, %v; want a live session", s, err)
			}
		}
	}
	n, subjects, err := a.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, t0.Add(time.Second), sessiond.ReasonIncident)
	if err != nil || n != 5 || len(subjects) != 5 {
		t.Fatalf("RevokeMatching(all) = %d, %v, %v; want 5, 5 subjects", n, subjects, err)
	}
	for _, tok := range toks {
		if _, s, err := a.Lookup(ctx, tok.Hash); err != nil || !s.Revoked() {
			t.Errorf("Lookup() right after RevokeMatching = revoked %t, %v; want revoked", s != nil && s.Revoked(), err)
		}
	}
	revs, err := b.Revocations(ctx, t0)
	if err != nil || len(revs) != 5 {
		t.Errorf("Revocations() = %d, %v; want 5", len(revs), err)
	}
	// A revocation published after the bulk one arrives alone.
	s := newSession("zed", t0)
	if err := a.Create(ctx, s); err != nil {
		t.Fatalf("Create() = %v", err)
	}
	if _, err := a.Revoke(ctx, s.ID, t0.Add(time.Second), sessiond.ReasonLogout); err != nil {
		t.Fatalf("Revoke() = %v", err)
	}
	select {
	case r := <-got:
		if r.SessionID != s.ID {
			t.Errorf("feed delivered %+v first; want only %s (bulk revocations are not published)", r, s.ID)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the feed delivered nothing within 2s")
	}
	select {
	case r := <-got:
		t.Errorf("feed delivered %+v too", r)
	case <-time.After(100 * time.Millisecond):
	}
}

// TestStore_RevokeMatchingScriptSize checks the bound that keeps Redis
// free for other clients during an incident revocation: no revocation
// script handles more than BulkBatch sessions, every live session is in
// exactly one, and, batched as on a Cluster, each script's keys share a
// slot. (How long a script holds Redis is measured, not tested:
// docs/redisstore.md.)
func TestStore_RevokeMatchingScriptSize(t *testing.T) {
	eachBatching(t, func(t *testing.T, st *redisstore.Store, bySlot bool) {
		ctx := t.Context()
		t0 := now()
		const sessions = 2*redisstore.BulkBatch + 101
		want := make(map[sessiond.SessionID]bool, sessions)
		for i := range sessions {
			s := newSession(fmt.Sprintf("user%d", i%300), t0)
			if err := st.Create(ctx, s); err != nil {
				t.Fatalf("Create() = %v", err)
			}
			want[s.ID] = true
		}
		scripts, err := redisstore.BulkScripts(ctx, st, t0.Add(time.Second))
		if err != nil {
			t.Fatalf("BulkScripts() = %v", err)
		}
		if !bySlot && len(scripts) != 3 {
			t.Errorf("%d sessions went to %d scripts; want 3 (%d each at most)", sessions, len(scripts), redisstore.BulkBatch)
		}
		seen := make(map[sessiond.SessionID]bool, sessions)
		for i, keys := range scripts {
			if len(keys) == 0 || len(keys) > redisstore.BulkBatch {
				t.Errorf("script %d has %d sessions; want 1 to %d", i, len(keys), redisstore.BulkBatch)
			}
			slots := make(map[int]bool)
			for _, k := range keys {
				// <prefix>:{<tag>}:s:<id>
				tag := k[strings.Index(k, "{")+1 : strings.Index(k, "}")]
				slots[redisstore.KeySlot(tag)] = true
				id := sessiond.SessionID(k[strings.LastIndex(k, ":")+1:])
				if !want[id] || seen[id] {
					t.Errorf("script %d has %s: unknown or twice", i, k)
				}
				seen[id] = true
			}
			if bySlot && len(slots) != 1 {
				t.Errorf("script %d spans %d slots; want 1", i, len(slots))
			}
		}
		if len(seen) != sessions {
			t.Errorf("scripts cover %d sessions; want %d", len(seen), sessions)
		}
	})
}

// TestStore_RevokeMatchingIndexes checks that RevokeMatching without
// subjects takes what it revokes out of the live count and puts it in
// Revocations, and leaves the rest alone, however the batches are cut: one
// script revoking and recording each batch, or, batched as on a Cluster, a
// script and then record.
func TestStore_RevokeMatchingIndexes(t *testing.T) {
	eachBatching(t, func(t *testing.T, st *redisstore.Store, bySlot bool) {
		ctx := t.Context()
		t0 := now()
		const old, late = redisstore.BulkBatch + 7, 3
		create := func(n int, created time.Time) {
			for i := range n {
				s := newSession(fmt.Sprintf("user%d", i%5), created)
				if i%2 == 1 {
					s.Strategy = sessiond.StrategyHybrid
				}
				if err := st.Create(ctx, s); err != nil {
					t.Fatalf("Create() = %v", err)
				}
			}
		}
		create(old, t0)
		create(late, t0.Add(time.Minute))
		at := t0.Add(2 * time.Minute)
		countLive := func() int {
			t.Helper()
			live, err := st.CountLive(ctx, at)
			if err != nil {
				t.Fatalf("CountLive() = %v", err)
			}
			return live[sessiond.StrategyDatabase] + live[sessiond.StrategyHybrid]
		}
		f := sessiond.RevokeFilter{IssuedBefore: t0.Add(30 * time.Second)}
		n, subjects, err := st.RevokeMatching(ctx, f, at, sessiond.ReasonIncident)
		if err != nil || n != old || len(subjects) != 5 {
			t.Fatalf("RevokeMatching(issued before) = %d, %v, %v; want %d, 5 subjects", n, subjects, err, old)
		}
		if got := countLive(); got != late {
			t.Errorf("CountLive() after RevokeMatching = %d; want %d", got, late)
		}
		revs, err := st.Revocations(ctx, at)
		if err != nil || len(revs) != old {
			t.Errorf("Revocations() = %d, %v; want %d", len(revs), err, old)
		}
		if n, _, err := st.RevokeMatching(ctx, f, at, sessiond.ReasonIncident); err != nil || n != 0 {
			t.Errorf("RevokeMatching() again = %d, %v; want 0", n, err)
		}
		if n, _, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, at, sessiond.ReasonIncident); err != nil || n != late {
			t.Errorf("RevokeMatching(all) = %d, %v; want %d", n, err, late)
		}
		if got := countLive(); got != 0 {
			t.Errorf("CountLive() after RevokeMatching(all) = %d; want 0", got)
		}
		if revs, err := st.Revocations(ctx, at); err != nil || len(revs) != old+late {
			t.Errorf("Revocations() = %d, %v; want %d", len(revs), err, old+late)
		}
	})
}

// eachBatching runs test in parallel subtests on a fresh store, once with
// the batches cut as on a single Redis and once as on a Cluster (by slot).
func eachBatching(t *testing.T, test func(t *testing.T, st *redisstore.Store, bySlot bool)) {
	t.Parallel()
	for _, bySlot := range []bool{false, true} {
		t.Run(fmt.Sprintf("BySlot=%t", bySlot), func(t *testing.T) {
			t.Parallel()
			st := newStore(t, redisstore.Options{})
			if bySlot {
				redisstore.BatchBySlot(st)
			}
			test(t, st, bySlot)
		})
	}
}
