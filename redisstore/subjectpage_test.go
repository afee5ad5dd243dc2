package redisstore_test

import (
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"
)

// TestStore_SubjectPagerScripts: ListPage and ListSpan read a subject
// index 128 members a script (redisstore.PageScriptSessions) and go on
// from the last member read, so a Limit or a family larger than a script
// is several scripts that miss nothing and read nothing twice; the index
// members that are not the subject's live sessions are skipped: revoked,
// gone (a member whose hash Redis expired), or of another subject whose
// tag is the same (planted, as two real subjects share one at odds of
// 2^-64).
func TestStore_SubjectPagerScripts(t *testing.T) {
	t.Parallel()
	prefix := randomPrefix()
	st := newStore(t, redisstore.Options{Prefix: prefix})
	c := rawClient(t)
	ctx := t.Context()
	t0 := now()
	const family = 2*redisstore.PageScriptSessions + 40 // three scripts
	expires := t0.Add(8 * time.Hour)
	var live []sessiond.SessionID
	for i := range family {
		s := newSession("alice", t0) // one rotation's family: one creation, one end
		s.ExpiresAt = expires
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		if i%20 == 0 {
			live = append(live, s.ID)
		} else if _, err := st.Revoke(ctx, s.ID, t0, sessiond.ReasonRotated); err != nil {
			t.Fatal(err)
		}
	}
	other := newSession("alice", t0.Add(time.Second)) // the same end, created later
	other.ExpiresAt = expires
	if err := st.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	idx, base := idxKey(prefix, "alice"), prefix+":{"+tagOf("alice")+"}:s:"
	score := strconv.FormatInt(expires.UnixMicro(), 10)
	created := strconv.FormatInt(t0.UnixMicro(), 10)
	gone, planted := string(sessiond.NewSessionID()), string(sessiond.NewSessionID())
	for _, cmd := range [][]string{
		{"ZADD", idx, score, gone},
		{"ZADD", idx, score, planted},
		{"HSET", base + planted, "sub", "mallory", "str", "database", "c", created, "la", created,
			"ie", score, "e", score, "p", "0", "ip", "198.51.100.1", "ua", "x", "ra", "0", "rr", ""},
		{"PEXPIRE", base + planted, "60000"},
	} {
		if err := c.Do(ctx, c.B().Arbitrary(cmd...).Build()).Error(); err != nil {
			t.Fatalf("%v: %v", cmd, err)
		}
	}
	slices.Sort(live)

	span, err := st.ListSpan(ctx, "alice", t0, expires, t0)
	if err != nil {
		t.Fatal(err)
	}
	var got []sessiond.SessionID
	for _, s := range span {
		got = append(got, s.ID)
	}
	slices.Sort(got)
	if !slices.Equal(got, live) {
		t.Errorf("ListSpan over a family of %d = %v; want its %d live sessions %v", family, got, len(live), live)
	}

	all := append(slices.Clone(live), other.ID)
	slices.Sort(all)
	for _, limit := range []int{1, redisstore.PageScriptSessions, redisstore.PageScriptSessions + 1, sessiond.MaxPageLimit} {
		for _, newest := range []bool{false, true} {
			q := sessiond.PageQuery{Subject: "alice", Now: t0, Limit: limit, Newest: newest}
			var walked []sessiond.SessionID
			for pages := 0; ; pages++ {
				if pages > family+3 {
					t.Fatalf("walk with limit %d: no end after %d pages", limit, pages)
				}
				page, err := st.ListPage(ctx, q)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range page.Sessions {
					walked = append(walked, s.ID)
				}
				if q.After = page.Next; q.After == "" {
					break
				}
			}
			slices.Sort(walked)
			if !slices.Equal(walked, all) {
				t.Errorf("walk with limit %d (newest %t) = %v; want %v, each once", limit, newest, walked, all)
			}
		}
	}
}
