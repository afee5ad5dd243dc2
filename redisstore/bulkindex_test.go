package redisstore_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"
)

// TestStore_RevokeMatchingBulkIndex checks the layout of a bulk revocation
// of every session when Redis is not a Cluster: one entry in the bulk
// index for the incident instead of one per session in the revocation
// index, the live indexes replaced rather than emptied one by one, and
// nothing left behind; and that Revocations, CountLive and later logins
// see exactly what they saw before.
func TestStore_RevokeMatchingBulkIndex(t *testing.T) {
	singleRedis(t)
	t.Parallel()
	prefix, st, raw := layoutStore(t)
	ctx := t.Context()
	t0 := now()
	const sessions = redisstore.BulkBatch + 9
	for i := range sessions {
		s := newSession(fmt.Sprintf("user%d", i%7), t0)
		if i%2 == 1 {
			s.Strategy = sessiond.StrategyHybrid
		}
		if err := st.Create(ctx, s); err != nil {
			t.Fatalf("Create() = %v", err)
		}
	}
	// One of them revoked one by one first: in the revocation index, and
	// listed once by Revocations.
	first := newSession("user0", t0)
	if err := st.Create(ctx, first); err != nil {
		t.Fatalf("Create() = %v", err)
	}
	if _, err := st.Revoke(ctx, first.ID, t0.Add(time.Second), sessiond.ReasonLogout); err != nil {
		t.Fatalf("Revoke() = %v", err)
	}
	at := t0.Add(time.Minute)
	n, subjects, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, at, sessiond.ReasonIncident)
	if err != nil || n != sessions || len(subjects) != 7 {
		t.Fatalf("RevokeMatching(all) = %d, %v, %v; want %d, 7 subjects", n, subjects, err, sessions)
	}
	rev := globalKey(prefix, "rev")
	if got, err := raw.Do(ctx, raw.B().Zcard().Key(rev).Build()).AsInt64(); err != nil || got != 1 {
		t.Errorf("ZCARD %s = %d, %v; want 1 (the session revoked alone, not the bulk)", rev, got, err)
	}
	bulk := globalKey(prefix, "bulk")
	if got, err := raw.Do(ctx, raw.B().Zcard().Key(bulk).Build()).AsInt64(); err != nil || got != 1 {
		t.Errorf("ZCARD %s = %d, %v; want 1 (the incident)", bulk, got, err)
	}
	if ttl, err := raw.Do(ctx, raw.B().Pttl().Key(bulk).Build()).AsInt64(); err != nil || ttl <= 0 {
		t.Errorf("PTTL %s = %d, %v; want > 0", bulk, ttl, err)
	}
	for _, k := range keys(t, raw, prefix) {
		if strings.Contains(k, ":bulk:") {
			t.Errorf("key %s left behind", k)
		}
	}
	revs, err := st.Revocations(ctx, t0)
	if err != nil || len(revs) != sessions+1 {
		t.Fatalf("Revocations(before both) = %d, %v; want %d", len(revs), err, sessions+1)
	}
	seen := map[sessiond.SessionID]bool{}
	for _, r := range revs {
		if seen[r.SessionID] {
			t.Errorf("Revocations() lists %s twice", r.SessionID)
		}
		seen[r.SessionID] = true
		if r.SessionID == first.ID {
			if r.Reason != sessiond.ReasonLogout {
				t.Errorf("Revocations() gives the first session reason %q; want logout", r.Reason)
			}
		} else if r.Reason != sessiond.ReasonIncident || !r.RevokedAt.Equal(at) || r.Subject == "" || r.ExpiresAt.IsZero() {
			t.Errorf("Revocations() entry %+v; want the incident at %v", r, at)
		}
	}
	if revs, err := st.Revocations(ctx, at.Add(time.Microsecond)); err != nil || len(revs) != 0 {
		t.Errorf("Revocations(after the incident) = %d, %v; want 0", len(revs), err)
	}
	// Logins after the incident are counted in the new live indexes, and
	// a later touch moves their entry as before.
	late := newSession("user1", at)
	if err := st.Create(ctx, late); err != nil {
		t.Fatalf("Create(late) = %v", err)
	}
	if err := st.Touch(ctx, late.ID, at.Add(time.Minute), at.Add(10*time.Minute)); err != nil {
		t.Fatalf("Touch(late) = %v", err)
	}
	live, err := st.CountLive(ctx, at)
	if err != nil || live[sessiond.StrategyDatabase] != 1 || live[sessiond.StrategyHybrid] != 0 {
		t.Errorf("CountLive() = %v, %v; want 1 database session", live, err)
	}
	if live, err := st.CountLive(ctx, at.Add(9*time.Minute)); err != nil || live[sessiond.StrategyDatabase] != 1 {
		t.Errorf("CountLive(after the touch) = %v, %v; want 1 database session", live, err)
	}
	if n, _, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, at.Add(2*time.Minute), sessiond.ReasonIncident); err != nil || n != 1 {
		t.Errorf("RevokeMatching(all) again = %d, %v; want 1 (the late login)", n, err)
	}
	if live, err := st.CountLive(ctx, at); err != nil || live[sessiond.StrategyDatabase] != 0 {
		t.Errorf("CountLive() after the second incident = %v, %v; want 0", live, err)
	}
}

// TestStore_RevokeMatchingResumed checks a bulk revocation that stopped
// right after its first step (the incident entered, the live indexes set
// aside), as after a crash or a lost connection: the sessions it did not
// reach are not counted, and running it again revokes and counts them,
// lists them in Revocations and leaves logins since then counted.
func TestStore_RevokeMatchingResumed(t *testing.T) {
	t.Parallel()
	_, st, raw := layoutStore(t)
	ctx := t.Context()
	t0 := now()
	for i := range 5 {
		if err := st.Create(ctx, newSession(fmt.Sprintf("user%d", i), t0)); err != nil {
			t.Fatalf("Create() = %v", err)
		}
	}
	at := t0.Add(time.Minute)
	aside, err := redisstore.BulkBegin(ctx, st, at, true)
	if err != nil || len(aside) != 1 {
		t.Fatalf("BulkBegin() = %v, %v; want one set-aside live index", aside, err)
	}
	if ttl, err := raw.Do(ctx, raw.B().Pttl().Key(aside[0]).Build()).AsInt64(); err != nil || ttl <= 0 {
		t.Errorf("PTTL %s = %d, %v; want > 0 (it is left behind until it expires)", aside[0], ttl, err)
	}
	late := newSession("user9", at)
	if err := st.Create(ctx, late); err != nil {
		t.Fatalf("Create(late) = %v", err)
	}
	if live, err := st.CountLive(ctx, at); err != nil || live[sessiond.StrategyDatabase] != 1 {
		t.Errorf("CountLive() after the first step = %v, %v; want 1 (the login since)", live, err)
	}
	// Resumed before the login: it revokes the five.
	n, subjects, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{All: true, IssuedBefore: at}, at, sessiond.ReasonIncident)
	if err != nil || n != 5 || len(subjects) != 5 {
		t.Fatalf("RevokeMatching() again = %d, %v, %v; want 5, 5 subjects", n, subjects, err)
	}
	if live, err := st.CountLive(ctx, at); err != nil || live[sessiond.StrategyDatabase] != 1 {
		t.Errorf("CountLive() = %v, %v; want 1", live, err)
	}
	if revs, err := st.Revocations(ctx, t0); err != nil || len(revs) != 5 {
		t.Errorf("Revocations() = %d, %v; want 5", len(revs), err)
	}
	if s, err := st.Get(ctx, late.ID); err != nil || s.Revoked() {
		t.Errorf("Get(late) = %v, %v; want live", s, err)
	}
}
