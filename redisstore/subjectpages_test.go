package redisstore_test

import (
	"maps"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"
)

// List and SubjectClients read a subject's sessions a page a script, so
// that a subject with very many sessions does not hold Redis for one long
// script (on 100,000 sessions the one script List was took seconds): these
// tests walk with pages of a few sessions what the conformance suite
// reads in one.

// TestStore_SubjectPages: whatever the page size, List and SubjectClients
// return every live session of the subject once, sessions that share an
// absolute expiry (one score in the subject index) included, and skip
// the index members that are not: revoked, past their idle expiry, gone
// (a member whose hash Redis expired), or of another subject whose tag is
// the same (planted here: two real subjects share one at odds of 2^-64).
func TestStore_SubjectPages(t *testing.T) {
	t.Parallel()
	prefix := randomPrefix()
	st := newStore(t, redisstore.Options{Prefix: prefix})
	c := rawClient(t)
	ctx := t.Context()
	t0 := now()
	var live []*sessiond.Session
	for i := range 7 {
		s := newSession("alice", t0.Add(time.Duration(i)*time.Second))
		if i < 4 {
			s.ExpiresAt = t0.Add(8 * time.Hour) // one score for four
		}
		s.Client = sessiond.Client{IP: "203.0.113." + strconv.Itoa(i), UserAgent: "agent " + strconv.Itoa(i)}
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		live = append(live, s)
	}
	revoked, idle := newSession("alice", t0), newSession("alice", t0)
	idle.IdleExpiresAt = t0.Add(time.Minute)
	for _, s := range []*sessiond.Session{revoked, idle, newSession("bob", t0)} {
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := st.Revoke(ctx, revoked.ID, t0, sessiond.ReasonLogout); err != nil {
		t.Fatal(err)
	}
	idx, base := idxKey(prefix, "alice"), prefix+":{"+tagOf("alice")+"}:s:"
	expiry := strconv.FormatInt(t0.Add(8*time.Hour).UnixMicro(), 10)
	for _, cmd := range [][]string{
		{"ZADD", idx, expiry, "gone"},
		{"ZADD", idx, expiry, "planted"},
		{"HSET", base + "planted", "sub", "mallory", "str", "database", "c", "1", "la", "1",
			"ie", expiry, "e", expiry, "p", "0", "ip", "198.51.100.1", "ua", "x", "ra", "0", "rr", ""},
		{"PEXPIRE", base + "planted", "60000"},
	} {
		if err := c.Do(ctx, c.B().Arbitrary(cmd...).Build()).Error(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	at := t0.Add(2 * time.Minute) // idle's idle expiry is past
	want := map[sessiond.SessionID]sessiond.Client{}
	var wantIDs []sessiond.SessionID
	for _, s := range live {
		want[s.ID] = s.Client
		wantIDs = append(wantIDs, s.ID) // created a second apart: List's order
	}
	for _, page := range []int{1, 2, 3, 4, 7, 8, redisstore.ClientsPage} {
		t.Run("page "+strconv.Itoa(page), func(t *testing.T) {
			list, err := redisstore.ListPaged(ctx, st, "alice", at, page)
			if err != nil {
				t.Fatal(err)
			}
			var got []sessiond.SessionID
			for _, s := range list {
				got = append(got, s.ID)
			}
			if !slices.Equal(got, wantIDs) {
				t.Errorf("List = %v; want %v", got, wantIDs)
			}
			clients, seen := map[sessiond.SessionID]sessiond.Client{}, 0
			err = redisstore.SubjectClientsPaged(ctx, st, "alice", at, page, func(id sessiond.SessionID, c sessiond.Client) {
				clients[id] = c
				seen++
			})
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(clients, want) || seen != len(want) {
				t.Errorf("SubjectClients = %v (%d calls); want %v, each once", clients, seen, want)
			}
		})
	}
}

// TestStore_SubjectPagesGoOnPastRemoved: a walk goes on from the last
// member a script read even when that member leaves the index before the
// next script (a session collected, or expired by Redis, meanwhile): the
// sessions after it are all read, none twice.
func TestStore_SubjectPagesGoOnPastRemoved(t *testing.T) {
	t.Parallel()
	prefix := randomPrefix()
	st := newStore(t, redisstore.Options{Prefix: prefix})
	c := rawClient(t)
	ctx := t.Context()
	t0 := now()
	want := map[sessiond.SessionID]int{}
	for range 9 {
		s := newSession("alice", t0) // one score: the walk goes by member
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		want[s.ID] = 1
	}
	idx, base := idxKey(prefix, "alice"), prefix+":{"+tagOf("alice")+"}:s:"
	got, calls := map[sessiond.SessionID]int{}, 0
	err := redisstore.SubjectClientsPaged(ctx, st, "alice", t0, 2, func(id sessiond.SessionID, _ sessiond.Client) {
		got[id]++
		if calls++; calls%2 == 0 { // the last of a page: gone before the next script
			for _, cmd := range [][]string{{"ZREM", idx, string(id)}, {"DEL", base + string(id)}} {
				if err := c.Do(ctx, c.B().Arbitrary(cmd...).Build()).Error(); err != nil {
					t.Fatalf("%v: %v", cmd, err)
				}
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Errorf("SubjectClients read %v (times each); want each of %v once", got, want)
	}
	if n, err := c.Do(ctx, c.B().Zcard().Key(idx).Build()).AsInt64(); err != nil || n != 5 {
		t.Errorf("ZCARD of the index = %d, %v; want 5 (the walk put back nothing it found removed)", n, err)
	}
}
