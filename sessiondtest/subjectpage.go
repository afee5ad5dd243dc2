package sessiondtest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestSubjectPager checks sessiond.SubjectPager (the bounded reads of a
// subject's sessions the Manager makes after each login and on a replayed
// refresh token of a rotated session), failing at once if newStore's
// stores do not implement it. TestStore runs it when they do.
//
// Beyond the doc comment, the suite pins down that a walk in either
// direction returns exactly the sessions List returns, each once, in one
// of the two page orders (CreatedAt or ExpiresAt, then ID), the newest
// walk being the other's reverse; that a page returns only the live ones
// of the Limit sessions it read (so a walk takes no more pages than the
// subject has sessions stored, over Limit); that a cursor still leads on
// once its session is gone, and a walk during other writes returns each
// session live throughout exactly once, cursors inside ties included;
// that times finer than a cursor's microsecond walk as any; and that a
// subject is matched as an exact string.
func TestSubjectPager(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	runSuite(t, newStore, []subtest[sessiond.SubjectPager]{
		{"WalkIsList", pagerWalkIsList},
		{"ReadsAtMostLimit", pagerReadsAtMostLimit},
		{"CursorOfGoneSession", pagerCursorOfGoneSession},
		{"WalkDuringChanges", pagerWalkDuringChanges},
		{"SubMicrosecondTimes", pagerSubMicrosecond},
		{"BadInput", pagerBadInput},
		{"Empty", pagerEmpty},
		{"ExactSubject", pagerExactSubject},
		{"Span", pagerSpan},
		{"Copies", pagerCopies},
		{"CanceledContext", pagerCanceled},
	})
}

// pagerNow is when the suite's walks look: after every session below was
// created, before most of them end.
var pagerNow = at(10 * time.Minute)

// createPagerSubject stores alice's sessions for the walks: eight live
// ones whose order by creation differs from their order by expiry (two
// created in one instant, two ending in one), and five that are not live at
// pagerNow (three revoked, one past its absolute expiry, one past its idle
// expiry), beside bob's. It returns how many of alice's it stored.
func createPagerSubject(f *fixture) int {
	f.t.Helper()
	for i := range 8 {
		created := at(time.Duration(min(i, 6)) * time.Minute) // the last two in one instant
		s := NewSession("alice", created)
		s.ExpiresAt = at(time.Duration(20-2*min(i, 4)) * time.Hour) // from the fourth on, one end
		s.Client.UserAgent = "ua-" + strconv.Itoa(i)
		f.create(s, NewToken(sessiond.KindAccess, s.ID, created))
	}
	for i := range 3 {
		s := NewSession("alice", at(time.Duration(i)*time.Minute+time.Second))
		f.create(clone(s))
		f.revoke(s.ID, at(8*time.Minute), sessiond.ReasonLogout)
	}
	expired := NewSession("alice", t0)
	expired.ExpiresAt = pagerNow // not before now: over
	idle := NewSession("alice", at(time.Minute))
	idle.IdleExpiresAt = pagerNow
	for _, s := range []*sessiond.Session{expired, idle, NewSession("bob", t0), NewSession("bob", at(3*time.Minute))} {
		f.create(clone(s))
	}
	return 8 + 3 + 2
}

// walk reads every page of a walk through subject's sessions with limit,
// failing the test on an error, on a page of more than limit sessions, or
// on more than maxPages pages.
func walk(t *testing.T, f *fixture, p sessiond.SubjectPager, subject string, now time.Time, limit int, newest bool, maxPages int) []*sessiond.Session {
	t.Helper()
	q := sessiond.PageQuery{Subject: subject, Now: now, Limit: limit, Newest: newest}
	out := []*sessiond.Session{}
	for pages := 1; ; pages++ {
		page, err := p.ListPage(f.ctx, q)
		if err != nil {
			t.Fatalf("ListPage(%q, limit %d, newest %t, after %q) = %v; want nil", subject, limit, newest, q.After, err)
		}
		if page.Sessions == nil {
			t.Fatalf("ListPage(%q, limit %d) = nil sessions; want a slice, empty when none", subject, limit)
		}
		if len(page.Sessions) > limit {
			t.Fatalf("ListPage(%q, limit %d) = %d sessions; want at most %d", subject, limit, len(page.Sessions), limit)
		}
		out = append(out, page.Sessions...)
		if page.Next == "" {
			return out
		}
		if pages == maxPages {
			t.Fatalf("walk of %q with limit %d (newest %t): a page after %d; want at most %d pages", subject, limit, newest, pages, maxPages)
		}
		q.After = page.Next
	}
}

// byKey sorts sessions by key, then ID.
func byKey(ss []*sessiond.Session, key func(*sessiond.Session) time.Time) []*sessiond.Session {
	out := slices.Clone(ss)
	slices.SortFunc(out, func(a, b *sessiond.Session) int {
		if c := key(a).Compare(key(b)); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// pagerWalkIsList: every walk, whatever its limit and direction, returns
// List's sessions, each once and as List has it, in one page order for
// every walk (the newest walk its reverse), in at most the pages the
// subject's stored sessions fill.
func pagerWalkIsList(t *testing.T, f *fixture, p sessiond.SubjectPager) {
	stored := createPagerSubject(f)
	list, err := f.st.List(f.ctx, "alice", pagerNow)
	if err != nil || len(list) != 8 {
		t.Fatalf("List(alice) = %d sessions, %v; want 8", len(list), err)
	}
	orders := map[string][]sessiond.SessionID{
		"CreatedAt": ids(byKey(list, func(s *sessiond.Session) time.Time { return s.CreatedAt })),
		"ExpiresAt": ids(byKey(list, func(s *sessiond.Session) time.Time { return s.ExpiresAt })),
	}
	if slices.Equal(orders["CreatedAt"], orders["ExpiresAt"]) {
		t.Fatal("the suite's sessions are in the same order by creation and by expiry; want them apart")
	}
	want := map[sessiond.SessionID]*sessiond.Session{}
	for _, s := range list {
		want[s.ID] = s
	}
	order := ""
	for _, limit := range []int{1, 2, 3, 5, 13, sessiond.MaxPageLimit} {
		for _, newest := range []bool{false, true} {
			got := walk(t, f, p, "alice", pagerNow, limit, newest, max(1, (stored+limit-1)/limit))
			gotIDs := ids(got)
			if newest {
				slices.Reverse(gotIDs)
			}
			name := ""
			for n, o := range orders {
				if slices.Equal(gotIDs, o) {
					name = n
				}
			}
			if name == "" {
				t.Fatalf("walk(limit %d, newest %t) = %v; want List's sessions %v by CreatedAt or %v by ExpiresAt (then ID)",
					limit, newest, ids(got), orders["CreatedAt"], orders["ExpiresAt"])
			}
			if order != "" && name != order {
				t.Errorf("walk(limit %d, newest %t) is in %s order, an earlier walk in %s order; want one order", limit, newest, name, order)
			}
			order = name
			for _, s := range got {
				checkSession(t, fmt.Sprintf("walk(limit %d, newest %t) session %s", limit, newest, s.ID), s, want[s.ID])
			}
		}
	}
	t.Logf("page order: %s, then ID", order)
	if got := walk(t, f, p, "alice", at(37*time.Minute), 4, false, 4); len(got) != 0 {
		t.Errorf("walk(alice) after the idle expiry = %v; want none", ids(got))
	}
}

// pagerReadsAtMostLimit: a page returns the live ones of the Limit
// sessions it read, not the first Limit live ones: with the subject's
// newest sessions (by creation and by expiry) revoked, the newest page of
// fewer than them holds none, and says the walk goes on.
func pagerReadsAtMostLimit(t *testing.T, f *fixture, p sessiond.SubjectPager) {
	old := NewSession("alice", t0)
	f.create(clone(old))
	for i := range 6 {
		s := NewSession("alice", at(time.Duration(i+1)*time.Minute))
		s.ExpiresAt = old.ExpiresAt.Add(time.Duration(i+1) * time.Minute)
		f.create(clone(s))
		f.revoke(s.ID, at(8*time.Minute), sessiond.ReasonLogout)
	}
	page, err := p.ListPage(f.ctx, sessiond.PageQuery{Subject: "alice", Now: pagerNow, Limit: 3, Newest: true})
	if err != nil || len(page.Sessions) != 0 || page.Next == "" {
		t.Fatalf("ListPage(newest, limit 3) over 6 revoked sessions = %v, next %q, %v; want none and a next page", ids(page.Sessions), page.Next, err)
	}
	got := walk(t, f, p, "alice", pagerNow, 3, true, 3)
	if len(got) != 1 || got[0].ID != old.ID {
		t.Errorf("walk(newest, limit 3) = %v; want only %s, the one live session", ids(got), old.ID)
	}
}

// pagerCursorOfGoneSession: a walk goes on from a cursor whose session
// was deleted meanwhile, and reaches the sessions after it, walking from
// the oldest and from the newest.
func pagerCursorOfGoneSession(t *testing.T, f *fixture, p sessiond.SubjectPager) {
	for _, tc := range []struct {
		subject string
		newest  bool
		gone    int // the second session of the first page
	}{
		{"alice", false, 1},
		{"bob", true, 3},
	} {
		var all []*sessiond.Session
		for i := range 5 {
			s := NewSession(tc.subject, at(time.Duration(i)*time.Minute))
			s.ExpiresAt = at(time.Duration(8+i) * time.Hour)
			if i == tc.gone {
				s.IdleExpiresAt = at(11 * time.Minute) // gone by DeleteExpired below
			}
			f.create(clone(s))
			all = append(all, s)
		}
		want := all[tc.gone+1:]
		if tc.newest {
			want = slices.Clone(all[:tc.gone])
			slices.Reverse(want)
		}
		page, err := p.ListPage(f.ctx, sessiond.PageQuery{Subject: tc.subject, Now: pagerNow, Limit: 2, Newest: tc.newest})
		if err != nil || len(page.Sessions) != 2 || page.Next == "" {
			t.Fatalf("%s: ListPage(limit 2, newest %t) = %v, next %q, %v; want two sessions and a next page", tc.subject, tc.newest, ids(page.Sessions), page.Next, err)
		}
		if page.Sessions[1].ID != all[tc.gone].ID {
			t.Fatalf("%s: ListPage(limit 2, newest %t) = %v; want %s second (its order by creation and by expiry)", tc.subject, tc.newest, ids(page.Sessions), all[tc.gone].ID)
		}
		if n, err := f.st.DeleteExpired(f.ctx, at(12*time.Minute), 10); err != nil || n != 1 {
			t.Fatalf("DeleteExpired = %d, %v; want 1", n, err)
		}
		rest := []*sessiond.Session{}
		q := sessiond.PageQuery{Subject: tc.subject, Now: pagerNow, Limit: 2, After: page.Next, Newest: tc.newest}
		for range 3 {
			page, err := p.ListPage(f.ctx, q)
			if err != nil {
				t.Fatalf("ListPage(after %q) = %v", q.After, err)
			}
			rest = append(rest, page.Sessions...)
			if q.After = page.Next; q.After == "" {
				break
			}
		}
		if !slices.Equal(ids(rest), ids(want)) || q.After != "" {
			t.Errorf("%s: the walk (newest %t) after the deleted session's cursor = %v (next %q); want %v", tc.subject, tc.newest, ids(rest), q.After, ids(want))
		}
		f.wantGone(all[tc.gone].ID)
	}
}

// pagerWalkDuringChanges: a walk in either direction while the subject's
// other sessions are created, revoked and deleted, concurrently and at its
// cursor, returns each session live for the whole walk exactly once, and
// nothing twice. The sessions tie in groups on CreatedAt and on ExpiresAt
// (a rotation's family shares both), so cursors fall inside a tie, and
// the walker deletes the session its cursor names before going on.
func pagerWalkDuringChanges(t *testing.T, f *fixture, p sessiond.SubjectPager) {
	// created and expires give session i its place in a tie of both orders.
	created := func(i int) time.Time { return at(time.Duration(i%6) * time.Minute) }
	expires := func(i int) time.Time { return at(8*time.Hour + time.Duration(i%4)*time.Minute) }
	stable := map[sessiond.SessionID]bool{}
	for i := range 36 {
		s := NewSession("alice", created(i))
		s.ExpiresAt = expires(i)
		f.create(s)
		stable[s.ID] = true
	}
	f.create(NewSession("bob", created(0)))
	// gone is when each churn session stops being live for DeleteExpired
	// (its idle expiry), after pagerNow; each walk's get later ones.
	gone := map[sessiond.SessionID]time.Time{}
	tick := 0
	churn := func(n int) {
		for i := range n {
			tick++
			s := NewSession("alice", created(i))
			s.ExpiresAt = expires(i + 1)
			s.IdleExpiresAt = pagerNow.Add(time.Duration(tick) * time.Microsecond)
			f.create(s)
			gone[s.ID] = s.IdleExpiresAt
		}
	}
	for _, limit := range []int{1, 2, 3, 7} {
		for _, newest := range []bool{false, true} {
			churn(24)
			// The other writer: one step (a revocation, and every other
			// step a new session in a tie) per page, run while the walker
			// reads the next.
			steps, done := make(chan int, 1), make(chan struct{})
			var revocable []sessiond.SessionID
			for id := range gone {
				revocable = append(revocable, id)
			}
			var wg sync.WaitGroup
			wg.Go(func() {
				for k := range steps {
					s := NewSession("alice", created(k))
					s.ExpiresAt = expires(k)
					s.IdleExpiresAt = pagerNow.Add(time.Microsecond) // swept with the churn
					if k%2 == 0 {
						if err := f.st.Create(f.ctx, s); err != nil {
							t.Errorf("Create during the walk = %v", err)
						}
					}
					if k < len(revocable) {
						if _, err := f.st.Revoke(f.ctx, revocable[k], at(9*time.Minute), sessiond.ReasonLogout); err != nil && !errors.Is(err, sessiond.ErrNotFound) {
							t.Errorf("Revoke during the walk = %v", err)
						}
					}
				}
				close(done)
			})
			seen := map[sessiond.SessionID]int{}
			q := sessiond.PageQuery{Subject: "alice", Now: pagerNow, Limit: limit, Newest: newest}
			for pages := 0; ; pages++ {
				if pages > 4*(36+24)+10 { // a page reads at least one, the other writer adds one every other page
					t.Fatalf("walk (limit %d, newest %t): no end after %d pages", limit, newest, pages)
				}
				page, err := p.ListPage(f.ctx, q)
				if err != nil {
					t.Fatalf("ListPage(limit %d, newest %t, after %q) = %v", limit, newest, q.After, err)
				}
				for _, s := range page.Sessions {
					seen[s.ID]++
				}
				if q.After = page.Next; q.After == "" {
					break
				}
				steps <- pages
				// The cursor's session goes, with the churn sessions
				// before it, as a sweep of the idle-expired would.
				c, err := sessiond.CheckPageQuery(q)
				if err != nil {
					t.Fatalf("Next %q: %v", q.After, err)
				}
				if end, ok := gone[c.ID]; ok {
					if _, err := f.st.DeleteExpired(f.ctx, end.Add(time.Microsecond), 1000); err != nil {
						t.Fatalf("DeleteExpired = %v", err)
					}
				}
			}
			close(steps)
			wg.Wait()
			<-done
			for id, n := range seen {
				if n > 1 {
					t.Errorf("walk (limit %d, newest %t) returned %s %d times; want once", limit, newest, id, n)
				}
			}
			for id := range stable {
				if seen[id] != 1 {
					t.Errorf("walk (limit %d, newest %t) returned live session %s %d times; want once", limit, newest, id, seen[id])
				}
			}
			// The churn left is swept before the next walk.
			if _, err := f.st.DeleteExpired(f.ctx, pagerNow.Add(time.Duration(tick+1)*time.Microsecond), 1000); err != nil {
				t.Fatalf("DeleteExpired = %v", err)
			}
		}
	}
}

// pagerSubMicrosecond: sessions created within one microsecond, at
// times finer than a cursor holds (a Store is given any time.Time; the
// Manager's are whole microseconds, a direct caller's need not be), are
// walked each once in both directions, with every limit.
func pagerSubMicrosecond(t *testing.T, f *fixture, p sessiond.SubjectPager) {
	base := at(time.Minute).Truncate(time.Microsecond)
	want := map[sessiond.SessionID]bool{}
	for i := range 5 {
		s := NewSession("alice", base.Add(time.Duration(100*(5-i))*time.Nanosecond))
		s.ExpiresAt = at(8 * time.Hour).Add(time.Duration(100*i+1) * time.Nanosecond)
		f.create(s)
		want[s.ID] = true
	}
	for _, limit := range []int{1, 2, 4} {
		for _, newest := range []bool{false, true} {
			got := walk(t, f, p, "alice", pagerNow, limit, newest, 5/limit+1)
			seen := map[sessiond.SessionID]bool{}
			for _, s := range got {
				if seen[s.ID] || !want[s.ID] {
					t.Errorf("walk(limit %d, newest %t) = %v; want each of the %d sessions once", limit, newest, ids(got), len(want))
				}
				seen[s.ID] = true
			}
			if len(seen) != len(want) {
				t.Errorf("walk(limit %d, newest %t) = %v; want all %d sessions", limit, newest, ids(got), len(want))
			}
		}
	}
}

// pagerBadInput: a limit out of range or a cursor not as PageCursor.String
// writes it is ErrInvalidArgument; a well-formed cursor no page returned
// is a position all the same.
func pagerBadInput(t *testing.T, f *fixture, p sessiond.SubjectPager) {
	s := NewSession("alice", t0)
	f.create(clone(s))
	id := string(sessiond.NewSessionID())
	for _, limit := range []int{0, -1, sessiond.MaxPageLimit + 1} {
		_, err := p.ListPage(f.ctx, sessiond.PageQuery{Subject: "alice", Now: t0, Limit: limit})
		wantErr(t, fmt.Sprintf("ListPage(limit %d)", limit), err, sessiond.ErrInvalidArgument)
	}
	for _, after := range []string{
		"x", "1", "1.", "." + id, "01." + id, "-1." + id, "+1." + id, " 1." + id, "1." + id + " ", "1." + id + ".x",
		"1." + strings.ToUpper(id), "1." + id[1:], "9007199254740992." + id, "99999999999999999999." + id,
		"1\x00." + id, "1.\xff" + id[1:], strings.Repeat("1", 4096) + "." + id,
	} {
		_, err := p.ListPage(f.ctx, sessiond.PageQuery{Subject: "alice", Now: t0, Limit: 5, After: after})
		wantErr(t, fmt.Sprintf("ListPage(after %.40q)", after), err, sessiond.ErrInvalidArgument)
	}
	for _, tc := range []struct {
		at     time.Time
		newest bool
		want   int
	}{
		{t0.Add(-time.Hour), false, 1}, {t0.Add(100 * time.Hour), false, 0},
		{t0.Add(100 * time.Hour), true, 1}, {t0.Add(-time.Hour), true, 0},
		{time.UnixMicro(0), false, 1}, {time.UnixMicro(1<<53 - 1), true, 1},
	} {
		after := sessiond.PageCursor{At: tc.at, ID: sessiond.SessionID(id)}.String()
		page, err := p.ListPage(f.ctx, sessiond.PageQuery{Subject: "alice", Now: t0, Limit: 5, After: after, Newest: tc.newest})
		if err != nil || len(page.Sessions) != tc.want {
			t.Errorf("ListPage(after %q, newest %t) = %v, %v; want %d session(s)", after, tc.newest, ids(page.Sessions), err, tc.want)
		}
	}
}

// pagerEmpty: a subject without sessions, or one no store could hold, is
// one empty page and the end of the walk; so is ListSpan's answer.
func pagerEmpty(t *testing.T, f *fixture, p sessiond.SubjectPager) {
	s := NewSession("alice", t0)
	f.create(clone(s))
	for _, subject := range unknownSubjects {
		for _, newest := range []bool{false, true} {
			page, err := p.ListPage(f.ctx, sessiond.PageQuery{Subject: subject, Now: t0, Limit: 10, Newest: newest})
			if err != nil || page.Sessions == nil || len(page.Sessions) != 0 || page.Next != "" {
				t.Errorf("ListPage(%.40q, newest %t) = %v (nil: %t), next %q, %v; want an empty page, the last",
					subject, newest, ids(page.Sessions), page.Sessions == nil, page.Next, err)
			}
		}
		got, err := p.ListSpan(f.ctx, subject, s.CreatedAt, s.ExpiresAt, t0)
		if err != nil || got == nil || len(got) != 0 {
			t.Errorf("ListSpan(%.40q) = %v (nil: %t), %v; want an empty slice", subject, ids(got), got == nil, err)
		}
	}
}

// pagerExactSubject: each subject of oddSubjects gets its own session and
// nobody else's, by ListPage and by ListSpan.
func pagerExactSubject(t *testing.T, f *fixture, p sessiond.SubjectPager) {
	for subject, id := range createOddSubjects(f) {
		for _, newest := range []bool{false, true} {
			if got := walk(t, f, p, subject, t0, 3, newest, len(oddSubjects)); len(got) != 1 || got[0].ID != id {
				t.Errorf("walk(%q, newest %t) = %v; want only %s", subject, newest, ids(got), id)
			}
		}
		s := f.get(id)
		if got, err := p.ListSpan(f.ctx, subject, s.CreatedAt, s.ExpiresAt, t0); err != nil || len(got) != 1 || got[0].ID != id {
			t.Errorf("ListSpan(%q) = %v, %v; want only %s", subject, ids(got), err, id)
		}
	}
}

// pagerSpan: ListSpan returns the subject's live sessions created at the
// one instant and ending at the other, in full: not those revoked or past
// an expiry, not those that share one of the two times only, not another
// subject's.
func pagerSpan(t *testing.T, f *fixture, p sessiond.SubjectPager) {
	created, expires := at(time.Minute), at(8*time.Hour+time.Minute)
	family := func(subject string) *sessiond.Session {
		s := NewSession(subject, created)
		s.ExpiresAt = expires
		return s
	}
	want := map[sessiond.SessionID]*sessiond.Session{}
	for range 3 {
		s := family("alice")
		f.create(clone(s), NewToken(sessiond.KindRefresh, s.ID, created))
		want[s.ID] = s
	}
	revoked, idle := family("alice"), family("alice")
	idle.IdleExpiresAt = pagerNow
	sameStart, sameEnd := family("alice"), family("alice")
	sameStart.ExpiresAt = expires.Add(time.Microsecond)
	sameEnd.CreatedAt = created.Add(-time.Microsecond)
	for _, s := range []*sessiond.Session{revoked, idle, sameStart, sameEnd, family("bob"), NewSession("alice", t0)} {
		f.create(clone(s))
	}
	f.revoke(revoked.ID, at(2*time.Minute), sessiond.ReasonRotated)

	got, err := p.ListSpan(f.ctx, "alice", created, expires, pagerNow)
	if err != nil || len(got) != len(want) {
		t.Fatalf("ListSpan(alice) = %v, %v; want the %d live sessions of the span", ids(got), err, len(want))
	}
	for _, s := range got {
		if w, ok := want[s.ID]; !ok {
			t.Errorf("ListSpan(alice) has %s; want only the span's live sessions", s.ID)
		} else {
			checkSession(t, "ListSpan(alice) session "+string(s.ID), s, w)
		}
	}
	if got, err := p.ListSpan(f.ctx, "alice", created, expires, expires); err != nil || len(got) != 0 {
		t.Errorf("ListSpan(alice) at the span's end = %v, %v; want none", ids(got), err)
	}
	if got, err := p.ListSpan(f.ctx, "alice", created.Add(time.Hour), expires, pagerNow); err != nil || got == nil || len(got) != 0 {
		t.Errorf("ListSpan(alice) of a span without sessions = %v, %v; want an empty slice", ids(got), err)
	}
}

// pagerCopies: what ListPage and ListSpan return is the caller's.
func pagerCopies(t *testing.T, f *fixture, p sessiond.SubjectPager) {
	s := NewSession("alice", t0)
	f.create(clone(s))
	page, err := p.ListPage(f.ctx, sessiond.PageQuery{Subject: "alice", Now: t0, Limit: 1})
	if err != nil || len(page.Sessions) != 1 {
		t.Fatalf("ListPage = %v, %v; want one session", ids(page.Sessions), err)
	}
	span, err := p.ListSpan(f.ctx, "alice", s.CreatedAt, s.ExpiresAt, t0)
	if err != nil || len(span) != 1 {
		t.Fatalf("ListSpan = %v, %v; want one session", ids(span), err)
	}
	for _, got := range []*sessiond.Session{page.Sessions[0], span[0]} {
		got.Claims[0] = 'X'
		got.Client.IP = "198.51.100.1"
	}
	f.wantSession(s)
}

func pagerCanceled(t *testing.T, f *fixture, p sessiond.SubjectPager) {
	s := NewSession("alice", t0)
	f.create(clone(s))
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	if page, err := p.ListPage(ctx, sessiond.PageQuery{Subject: "alice", Now: t0, Limit: 5}); err == nil {
		t.Errorf("ListPage(canceled context) = %v, nil; want an error", ids(page.Sessions))
	}
	if got, err := p.ListSpan(ctx, "alice", s.CreatedAt, s.ExpiresAt, t0); err == nil || errors.Is(err, sessiond.ErrInvalidArgument) {
		t.Errorf("ListSpan(canceled context) = %v, %v; want the context's error", ids(got), err)
	}
}
