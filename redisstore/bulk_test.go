package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

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
	}, sessiondtest.ReplayByStoreClock())
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
// script handles more than WalkBatch sessions on a single Redis, where
// each walks the expiry index itself, or BulkBatch on a Cluster, where
// they are batched by slot (each script's keys share one), and every
// live session is in exactly one. (How long a script holds Redis is
// measured, not tested: docs/redisstore.md.)
func TestStore_RevokeMatchingScriptSize(t *testing.T) {
	eachBatching(t, func(t *testing.T, st *redisstore.Store, bySlot bool) {
		ctx := t.Context()
		t0 := now()
		batch := redisstore.WalkBatch
		if bySlot {
			batch = redisstore.BulkBatch
		}
		sessions := 2*batch + 101
		want := make(map[sessiond.SessionID]bool, sessions)
		for i := range sessions {
			s := newSession(fmt.Sprintf("user%d", i%300), t0)
			if err := st.Create(ctx, s); err != nil {
				t.Fatalf("Create() = %v", err)
			}
			want[s.ID] = true
		}
		if !bySlot {
			at := t0.Add(time.Second)
			if _, err := redisstore.BulkBegin(ctx, st, at, true); err != nil {
				t.Fatalf("BulkBegin() = %v", err)
			}
			var got []int
			for done := false; !done && len(got) <= sessions; {
				n, d, err := redisstore.WalkStep(ctx, st, at)
				if err != nil {
					t.Fatalf("WalkStep() = %v", err)
				}
				got, done = append(got, n), d
			}
			if w := []int{batch, batch, 101}; !slices.Equal(got, w) {
				t.Errorf("walk scripts revoked %v sessions; want %v", got, w)
			}
			return
		}
		scripts, err := redisstore.BulkScripts(ctx, st, t0.Add(time.Second))
		if err != nil {
			t.Fatalf("BulkScripts() = %v", err)
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
			if len(slots) != 1 {
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
			if !bySlot && redisstore.OnCluster(st) {
				t.Skip("a Redis Cluster takes the by-slot paths only")
			}
			if bySlot {
				redisstore.BatchBySlot(st)
			}
			test(t, st, bySlot)
		})
	}
}

// TestStore_RevokeMatchingWalk checks the walk of the expiry index by
// RevokeMatching{All} on a single Redis while sessions come and go: every
// session live for the whole walk is revoked, and the count is what was
// revoked, also when the last session walked leaves the index before the
// next script (the walk goes on from where it was).
func TestStore_RevokeMatchingWalk(t *testing.T) {
	singleRedis(t)
	t.Parallel()
	// walkFixture creates the sessions of a walk at at: stay, live
	// throughout; doomed, idle until 2 minutes after t0, which
	// DeleteExpired removes part way. Their absolute expiries take 7
	// values, so the index has ties, and each set lies all along it.
	type fixture struct {
		st           *redisstore.Store
		t0, at       time.Time
		stay, doomed []sessiond.SessionID
		create       func(n int, idle time.Duration) []sessiond.SessionID
		incident     func(ids []sessiond.SessionID) int
	}
	setup := func(t *testing.T) (string, rueidis.Client, *fixture) {
		prefix, st, raw := layoutStore(t)
		f := &fixture{st: st, t0: now()}
		f.at = f.t0.Add(time.Second)
		f.create = func(n int, idle time.Duration) []sessiond.SessionID {
			t.Helper()
			ids := make([]sessiond.SessionID, 0, n)
			for i := range n {
				s := newSession(fmt.Sprintf("user%d", i%50), f.t0)
				s.IdleExpiresAt = f.t0.Add(idle)
				s.ExpiresAt = f.t0.Add(time.Hour + time.Duration(i%7)*time.Minute)
				if err := st.Create(t.Context(), s); err != nil {
					t.Fatalf("Create() = %v", err)
				}
				ids = append(ids, s.ID)
			}
			return ids
		}
		// incident counts the sessions of ids revoked by the incident.
		f.incident = func(ids []sessiond.SessionID) int {
			t.Helper()
			n := 0
			for _, id := range ids {
				s, err := st.Get(t.Context(), id)
				if errors.Is(err, sessiond.ErrNotFound) {
					continue
				}
				if err != nil {
					t.Fatalf("Get() = %v", err)
				}
				if s.RevokeReason == sessiond.ReasonIncident {
					n++
				}
			}
			return n
		}
		f.stay = f.create(3*redisstore.WalkBatch, 30*time.Minute)
		f.doomed = f.create(redisstore.WalkBatch, 2*time.Minute)
		return prefix, raw, f
	}
	checkStay := func(t *testing.T, f *fixture, except sessiond.SessionID) {
		t.Helper()
		for _, id := range f.stay {
			s, err := f.st.Get(t.Context(), id)
			want := sessiond.ReasonIncident
			if id == except {
				want = sessiond.ReasonLogout
			}
			if err != nil || s.RevokeReason != want {
				t.Fatalf("Get(session live throughout) = %v, %v; want revoked (%s)", s, err, want)
			}
		}
	}

	t.Run("step by step", func(t *testing.T) {
		t.Parallel()
		prefix, raw, f := setup(t)
		ctx := t.Context()
		if _, err := redisstore.BulkBegin(ctx, f.st, f.at, true); err != nil {
			t.Fatalf("BulkBegin() = %v", err)
		}
		total, steps := 0, 0
		step := func() bool {
			t.Helper()
			n, done, err := redisstore.WalkStep(ctx, f.st, f.at)
			if err != nil || n > redisstore.WalkBatch {
				t.Fatalf("WalkStep() = %d, %v; want at most %d", n, err, redisstore.WalkBatch)
			}
			total += n
			steps++
			return done
		}
		if step() {
			t.Fatal("WalkStep() = done after one script")
		}
		// The last session walked leaves the index, as a session swept
		// at its expiry does.
		walk := globalKey(prefix, fmt.Sprintf("walk:%d:", f.at.UnixMicro()))
		last, err := raw.Do(ctx, raw.B().Hget().Key(walk).Field("m").Build()).ToString()
		if err != nil {
			t.Fatalf("HGET %s m = %v", walk, err)
		}
		if err := raw.Do(ctx, raw.B().Zrem().Key(globalKey(prefix, "exp")).Member(last).Build()).Error(); err != nil {
			t.Fatalf("ZREM = %v", err)
		}
		// The doomed sessions are deleted, those the walk revoked first
		// with them; one session live so far is revoked by a logout; new
		// logins land before and after the walk's position.
		revoked := f.incident(f.doomed)
		if _, err := f.st.DeleteExpired(ctx, f.t0.Add(3*time.Minute), 10*redisstore.WalkBatch); err != nil {
			t.Fatalf("DeleteExpired() = %v", err)
		}
		var logout sessiond.SessionID
		for _, id := range f.stay {
			if s, err := f.st.Get(ctx, id); err == nil && !s.Revoked() {
				logout = id
				break
			}
		}
		if _, err := f.st.Revoke(ctx, logout, f.at, sessiond.ReasonLogout); err != nil {
			t.Fatalf("Revoke() = %v", err)
		}
		late := f.create(redisstore.WalkBatch, 30*time.Minute)
		for !step() {
			if steps > 10 {
				t.Fatalf("the walk is not over after %d scripts", steps)
			}
		}
		checkStay(t, f, logout)
		if want := revoked + f.incident(f.stay) + f.incident(late); total != want {
			t.Errorf("the walk counted %d revocations; want %d", total, want)
		}
		// The same revocation again resumes the walk, which is over; a
		// later one walks afresh and finds the logins behind it.
		if n, _, err := f.st.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, f.at, sessiond.ReasonIncident); err != nil || n != 0 {
			t.Errorf("RevokeMatching(all) resuming the walk = %d, %v; want 0", n, err)
		}
		behind := len(late) - f.incident(late)
		if n, _, err := f.st.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, f.at.Add(time.Microsecond), sessiond.ReasonIncident); err != nil || n != behind || behind == 0 {
			t.Errorf("RevokeMatching(all) later = %d, %v; want %d > 0 (the logins behind the walk)", n, err, behind)
		}
		if k := keys(t, raw, prefix+":{"+prefix+"}:walk"); len(k) != 0 {
			t.Errorf("walk hashes left after RevokeMatching: %v", k)
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		t.Parallel()
		_, _, f := setup(t)
		ctx := t.Context()
		type result struct {
			n   int
			err error
		}
		res := make(chan result, 1)
		go func() {
			n, _, err := f.st.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, f.at, sessiond.ReasonIncident)
			res <- result{n, err}
		}()
		var late []sessiond.SessionID
		var r result
	loop:
		for {
			select {
			case r = <-res:
				break loop
			default:
			}
			late = append(late, f.create(10, 30*time.Minute)...)
			if _, err := f.st.DeleteExpired(ctx, f.t0.Add(3*time.Minute), 50); err != nil {
				t.Fatalf("DeleteExpired() = %v", err)
			}
		}
		if r.err != nil {
			t.Fatalf("RevokeMatching(all) = %v", r.err)
		}
		checkStay(t, f, "")
		// Doomed sessions may have been revoked, counted, then deleted.
		seen := f.incident(f.stay) + f.incident(f.doomed) + f.incident(late)
		if r.n < seen || r.n > seen+len(f.doomed) {
			t.Errorf("RevokeMatching(all) = %d; want %d to %d", r.n, seen, seen+len(f.doomed))
		}
	})
}

// TestStore_RevokeMatchingLateLogin checks the kill switch as the Manager
// calls it (every session, issued before just after at), where the live
// indexes are set aside whole (on a single Redis and on a Cluster): a
// session created after at, before the store gets to it, is not revoked
// and still counts as live.
func TestStore_RevokeMatchingLateLogin(t *testing.T) {
	eachBatching(t, func(t *testing.T, st *redisstore.Store, _ bool) {
		ctx := t.Context()
		t0 := now()
		at := t0.Add(time.Minute)
		for i := range 4 {
			s := newSession(fmt.Sprintf("user%d", i), t0)
			if i%2 == 1 {
				s.Strategy = sessiond.StrategyHybrid
			}
			if err := st.Create(ctx, s); err != nil {
				t.Fatalf("Create() = %v", err)
			}
		}
		late := newSession("user9", at.Add(time.Second))
		late.Strategy = sessiond.StrategyHybrid
		if err := st.Create(ctx, late); err != nil {
			t.Fatalf("Create(late) = %v", err)
		}
		f := sessiond.RevokeFilter{All: true, IssuedBefore: at.Add(time.Microsecond)}
		if n, _, err := st.RevokeMatching(ctx, f, at, sessiond.ReasonIncident); err != nil || n != 4 {
			t.Fatalf("RevokeMatching() = %d, %v; want 4", n, err)
		}
		live, err := st.CountLive(ctx, at)
		if err != nil || live[sessiond.StrategyHybrid] != 1 || live[sessiond.StrategyDatabase] != 0 {
			t.Errorf("CountLive() = %v, %v; want the late login only (hybrid 1)", live, err)
		}
		if s, err := st.Get(ctx, late.ID); err != nil || s.Revoked() {
			t.Errorf("Get(late) = %v, %v; want live", s, err)
		}
	})
}

// TestStore_RevokeMatchingNoSubjects: with NoSubjects, RevokeMatching
// revokes and counts the same sessions but neither collects nor returns
// their subjects (a million of them cost the walk much of its time), on a
// single Redis (the walk) as on a Cluster, across batches.
func TestStore_RevokeMatchingNoSubjects(t *testing.T) {
	eachBatching(t, func(t *testing.T, st *redisstore.Store, _ bool) {
		ctx := t.Context()
		t0 := now()
		at := t0.Add(time.Minute)
		const sessions = 2*redisstore.WalkBatch + 7
		for _, c := range []struct {
			name       string
			noSubjects bool
			subjects   int
		}{
			{"subjects", false, 3},
			{"nosubjects", true, 0},
		} {
			prefix := c.name + "-"
			var ids []sessiond.SessionID
			for i := range sessions {
				s := newSession(fmt.Sprintf("%suser%d", prefix, i%3), t0)
				if err := st.Create(ctx, s); err != nil {
					t.Fatalf("Create() = %v", err)
				}
				ids = append(ids, s.ID)
			}
			f := sessiond.RevokeFilter{All: true, IssuedBefore: at.Add(time.Microsecond), NoSubjects: c.noSubjects}
			n, got, err := st.RevokeMatching(ctx, f, at, sessiond.ReasonIncident)
			if err != nil || n != sessions || len(got) != c.subjects {
				t.Fatalf("RevokeMatching(%+v) = %d, %q, %v; want %d, %d subjects", f, n, got, err, sessions, c.subjects)
			}
			for _, id := range []sessiond.SessionID{ids[0], ids[sessions-1]} {
				if s, err := st.Get(ctx, id); err != nil || s.RevokeReason != sessiond.ReasonIncident {
					t.Errorf("Get(%s) = %v, %v; want revoked", id, s, err)
				}
			}
			at = at.Add(time.Minute) // the next case's sessions are all live at its at
		}
	})
}

// TestStore_LivePages checks the walk of the expiry index that a
// Cluster's RevokeMatching drives from Go: it starts after at, gives every
// member present for the whole walk once, also when the member it went on
// from has left the index before the next page (swept, deleted), and
// reaches a member added ahead of it.
func TestStore_LivePages(t *testing.T) {
	t.Parallel()
	st := newStore(t, redisstore.Options{})
	raw := rawClient(t)
	ctx := t.Context()
	t0 := now()
	at := t0.Add(time.Hour)
	expired := newSession("gone", t0)
	expired.ExpiresAt = at // not after at: not live at at
	if err := st.Create(ctx, expired); err != nil {
		t.Fatalf("Create() = %v", err)
	}
	want := make(map[string]bool)
	for i := range 9 {
		s := newSession(fmt.Sprintf("user%d", i), t0.Add(time.Duration(i)*time.Second))
		if err := st.Create(ctx, s); err != nil {
			t.Fatalf("Create() = %v", err)
		}
		want[ref(s.Subject, s.ID)] = true
	}
	late := newSession("late", t0.Add(time.Minute)) // the latest expiry: ahead of every position
	got := make(map[string]int)
	var pages []int
	err := redisstore.LivePages(ctx, st, at, 2, func(members []string, last bool) bool {
		pages = append(pages, len(members))
		for _, m := range members {
			got[m]++
		}
		if len(pages) == 1 {
			if err := st.Create(ctx, late); err != nil {
				t.Errorf("Create(late) = %v", err)
			}
			want[ref(late.Subject, late.ID)] = true
		}
		if !last {
			// The position's member leaves the index, as a sweep or
			// DeleteExpired would take it.
			pos := members[len(members)-1]
			if err := raw.Do(ctx, raw.B().Zrem().Key(redisstore.ExpKey(st)).Member(pos).Build()).Error(); err != nil {
				t.Errorf("ZREM = %v", err)
			}
		}
		return true
	})
	if err != nil {
		t.Fatalf("LivePages() = %v", err)
	}
	for m := range want {
		if got[m] != 1 {
			t.Errorf("member %s given %d times; want once", m, got[m])
		}
	}
	for m, n := range got {
		if !want[m] {
			t.Errorf("member %s given %d times; want none (not live at at)", m, n)
		}
	}
	if w := []int{2, 2, 2, 2, 2, 0}; !slices.Equal(pages, w) {
		t.Errorf("pages of %v members; want %v", pages, w)
	}
	// fn stops the walk: no page after, though the next was asked for.
	calls := 0
	err = redisstore.LivePages(ctx, st, at, 2, func([]string, bool) bool { calls++; return false })
	if err != nil || calls != 1 {
		t.Errorf("LivePages(stopped by fn) = %v after %d pages; want nil after 1", err, calls)
	}
}

// TestStore_RevokeMatchingFailsPartWay: a RevokeMatching that fails part
// way returns, with the error, exactly how many sessions it revoked (the
// kill switch's problem carries it as its revoked member), and the same
// call again revokes the rest. One script fails at once (a key it reads
// holds a string: WRONGTYPE, before it writes anything) while the
// kill switch's other round trips are in flight behind it: they were
// canceled on the first error, and a script Redis had already received
// revoked its sessions without being counted (All on a Cluster: 1,093
// counted of 2,000 revoked; Subjects: 0 of 384). With an issued-before
// bound on a Cluster the failed round trip records its batch before it
// reports, so the others have answered by then: it held before too.
func TestStore_RevokeMatchingFailsPartWay(t *testing.T) {
	t.Parallel()
	const sessions = 2000
	for _, c := range []struct {
		name     string
		bySlot   bool // the Cluster's paths: scripts of a slot, pipelined
		subjects bool // RevokeFilter.Subjects, the bad subject first
		filter   func(t0, at time.Time) sessiond.RevokeFilter
	}{
		{"BySlot/All", true, false, func(_, _ time.Time) sessiond.RevokeFilter { return sessiond.RevokeFilter{All: true} }},
		{"BySlot/IssuedBefore", true, false, func(t0, _ time.Time) sessiond.RevokeFilter {
			return sessiond.RevokeFilter{IssuedBefore: t0.Add(time.Second)}
		}},
		{"Subjects", false, true, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if !c.bySlot {
				singleRedis(t)
			}
			prefix, st, raw := layoutStore(t)
			if c.bySlot {
				redisstore.BatchBySlot(st)
			}
			ctx := t.Context()
			t0 := now()
			at := t0.Add(time.Minute)
			// The bad key is in slot 0, the first a window's scripts go
			// to, and no session is.
			var bad string
			for bad == "" || redisstore.KeySlot(bad) != 0 {
				bad = randomHex(8)
			}
			var (
				ids      []sessiond.SessionID
				subjects = []string{"bad"}
			)
			for i := 0; len(ids) < sessions; i++ {
				sub := fmt.Sprintf("user%d", i)
				if redisstore.KeySlot(tagOf(sub)) == 0 || c.subjects && tagOf(sub) == tagOf("bad") {
					continue
				}
				s := newSession(sub, t0)
				if err := st.Create(ctx, s); err != nil {
					t.Fatalf("Create() = %v", err)
				}
				ids, subjects = append(ids, s.ID), append(subjects, sub)
			}
			var fault, unfault []rueidis.Completed
			if c.subjects {
				k := idxKey(prefix, "bad")
				fault = rueidis.Commands{raw.B().Set().Key(k).Value("x").Build()}
				unfault = rueidis.Commands{raw.B().Del().Key(k).Build()}
			} else {
				k, m := prefix+":{"+bad+"}:s:bad", bad+"bad"
				exp := globalKey(prefix, "exp")
				fault = rueidis.Commands{raw.B().Set().Key(k).Value("x").Build(),
					raw.B().Zadd().Key(exp).ScoreMember().ScoreMember(float64(t0.Add(time.Hour).UnixMicro()), m).Build()}
				unfault = rueidis.Commands{raw.B().Zrem().Key(exp).Member(m).Build(), raw.B().Del().Key(k).Build()}
			}
			for _, r := range raw.DoMulti(ctx, fault...) {
				if err := r.Error(); err != nil {
					t.Fatal(err)
				}
			}
			f := sessiond.RevokeFilter{Subjects: subjects}
			if !c.subjects {
				f = c.filter(t0, at)
			}
			revokedNow := func() int { return countRevoked(ctx, t, st, ids) }
			n, _, err := st.RevokeMatching(ctx, f, at, sessiond.ReasonIncident)
			revoked := revokedNow()
			if err == nil || n != revoked {
				t.Fatalf("RevokeMatching with a bad key = %d, %v; want an error and %d, the sessions it revoked", n, err, revoked)
			}
			for _, r := range raw.DoMulti(ctx, unfault...) {
				if err := r.Error(); err != nil {
					t.Fatal(err)
				}
			}
			rest, _, err := st.RevokeMatching(ctx, f, at, sessiond.ReasonIncident)
			if err != nil || n+rest != sessions || revokedNow() != sessions {
				t.Errorf("RevokeMatching again = %d, %v after %d; want the other %d", rest, err, n, sessions-n)
			}
		})
	}
}

// TestStore_RevokeMatchingCanceledPartWay: a RevokeMatching whose caller
// cancels its context part way (a library caller's deadline, Ctrl-C)
// returns exactly how many sessions it revoked: the scripts already sent
// run in Redis whatever the caller does, so their answers are waited for
// and counted, as after a script's own failure; none starts after the
// cancellation. The same call again revokes the rest. Canceled on the
// first answer, with the other round trips in flight: the walk (All, a
// single Redis), the subjects' batches, and a Cluster's batches by slot.
func TestStore_RevokeMatchingCanceledPartWay(t *testing.T) {
	t.Parallel()
	const sessions = 3000
	for _, c := range []struct {
		name     string
		bySlot   bool
		subjects bool
	}{
		{"Walk", false, false},
		{"Subjects", false, true},
		{"BySlot", true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if !c.bySlot {
				singleRedis(t)
			}
			prefix, st, raw := layoutStore(t)
			if c.bySlot {
				redisstore.BatchBySlot(st)
			}
			if !c.bySlot && !c.subjects {
				// Several scripts in flight from the first: walkDepth's
				// probes go one at a time, and the cancellation comes at
				// the first answer.
				redisstore.FixWalkDepth(st, 4)
			}
			ctx := t.Context()
			t0 := now()
			var ids []sessiond.SessionID
			var subjects []string
			for i := range sessions {
				sub := fmt.Sprintf("user%d", i%300)
				if i < 300 {
					subjects = append(subjects, sub)
				}
				s := newSession(sub, t0)
				if err := st.Create(ctx, s); err != nil {
					t.Fatalf("Create() = %v", err)
				}
				ids = append(ids, s.ID)
			}
			runCtx, cancel := context.WithCancel(ctx)
			defer cancel()
			if c.subjects {
				redisstore.ObserveSubjectBatches(st, func(int) { cancel() })
			} else {
				// Canceled once the revocation index holds a session: a
				// round trip has answered, others are in flight.
				go func() {
					for runCtx.Err() == nil {
						if n, _ := raw.Do(ctx, raw.B().Zcard().Key(globalKey(prefix, "rev")).Build()).AsInt64(); n > 0 {
							cancel()
						}
					}
				}()
			}
			f := sessiond.RevokeFilter{All: true}
			if c.subjects {
				f = sessiond.RevokeFilter{Subjects: subjects}
			}
			at := t0.Add(time.Minute)
			revokedNow := func() int { return countRevoked(ctx, t, st, ids) }
			n, _, err := st.RevokeMatching(runCtx, f, at, sessiond.ReasonIncident)
			cancel()
			if revoked := revokedNow(); n != revoked || err == nil && n != sessions {
				t.Fatalf("RevokeMatching canceled part way = %d, %v; the store shows %d revoked", n, err, revoked)
			}
			redisstore.ObserveSubjectBatches(st, nil)
			rest, _, err := st.RevokeMatching(ctx, f, at, sessiond.ReasonIncident)
			if err != nil || n+rest != sessions || revokedNow() != sessions {
				t.Errorf("RevokeMatching again = %d, %v after %d; want the other %d", rest, err, n, sessions-n)
			}
		})
	}
}

// countRevoked is how many of ids st holds revoked.
func countRevoked(ctx context.Context, t *testing.T, st sessiond.Store, ids []sessiond.SessionID) int {
	t.Helper()
	n := 0
	for _, id := range ids {
		s, err := st.Get(ctx, id)
		if err != nil {
			t.Fatalf("Get() = %v", err)
		}
		if s.Revoked() {
			n++
		}
	}
	return n
}
