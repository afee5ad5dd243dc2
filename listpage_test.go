package sessiond_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
	"github.com/sessiond/sessiond/sessiondtest"
)

// walk reads every page of subject's sessions with limit, and returns the
// IDs in the walk's order and how many pages it took. A page with more
// than limit sessions, or a cursor answered twice, fails t.
func walk(t *testing.T, m *sessiond.Manager, subject string, limit int, newest bool) (ids []sessiond.SessionID, pages int) {
	t.Helper()
	r := sessiond.PageRequest{Limit: limit, Newest: newest}
	seen := map[string]bool{}
	for {
		p, err := m.ListPage(context.Background(), subject, r)
		if err != nil {
			t.Fatalf("ListPage(%q, %+v): %v", subject, r, err)
		}
		pages++
		if len(p.Sessions) > limit || p.Sessions == nil {
			t.Fatalf("page %d holds %d sessions (nil %v); want at most %d, not nil", pages, len(p.Sessions), p.Sessions == nil, limit)
		}
		for _, s := range p.Sessions {
			if s.Subject != subject {
				t.Fatalf("page %d of %s holds a session of %s", pages, subject, s.Subject)
			}
			ids = append(ids, s.ID)
		}
		if p.Next == "" {
			return ids, pages
		}
		if seen[p.Next] {
			t.Fatalf("cursor %q answered twice", p.Next)
		}
		seen[p.Next] = true
		r.After = p.Next
	}
}

// TestManager_ListPage_Walk: a walk of every page, either way, returns
// each live session of the subject once, none revoked, none of another
// subject, the same sessions as List; it asks the store to read no more
// than the limits asked, and never lists the subject whole. On every
// store.
func TestManager_ListPage_Walk(t *testing.T) {
	const n, revoked = 230, 30
	for _, ms := range managerStores() {
		t.Run(ms.name, func(t *testing.T) {
			start := time.Now().UTC().Truncate(time.Second)
			m, st, _, _ := subjectReadsManager(t, ms, sessiond.StrategyDatabase, start, nil)
			planted := plant(t, st, "walker", n, revoked, start, start.Add(time.Hour), sessiond.Client{})
			plant(t, st, "other", 5, 0, start, start.Add(time.Hour), sessiond.Client{})
			var want []sessiond.SessionID
			for _, s := range planted[revoked:] {
				want = append(want, s.ID)
			}
			slices.Sort(want)
			list, err := m.List(context.Background(), "walker")
			if err != nil {
				t.Fatal(err)
			}
			var listed []sessiond.SessionID
			for _, s := range list {
				listed = append(listed, s.ID)
			}
			slices.Sort(listed)
			if !slices.Equal(listed, want) {
				t.Fatalf("List holds %d sessions; want the %d live ones", len(listed), len(want))
			}
			var forward []sessiond.SessionID
			for _, tc := range []struct {
				limit     int
				newest    bool
				wantPages int
			}{
				{7, false, (n + 6) / 7},
				{7, true, (n + 6) / 7},
				{100, false, 3},
				{sessiond.MaxPageLimit, true, 1},
			} {
				st.reset()
				got, pages := walk(t, m, "walker", tc.limit, tc.newest)
				if pages != tc.wantPages {
					t.Errorf("limit %d newest %v: %d pages; want %d", tc.limit, tc.newest, pages, tc.wantPages)
				}
				if c := st.of("walker"); c.lists != 0 || c.pages != pages || c.asked != pages*tc.limit {
					t.Errorf("limit %d: the store saw %d List calls, %d ListPage calls asking %d; want 0, %d, %d",
						tc.limit, c.lists, c.pages, c.asked, pages, pages*tc.limit)
				}
				switch {
				case forward == nil && !tc.newest:
					forward = slices.Clone(got)
				case tc.newest:
					back := slices.Clone(got)
					if slices.Reverse(back); !slices.Equal(back, forward) {
						t.Errorf("limit %d newest first is not the oldest-first walk backwards", tc.limit)
					}
				case !slices.Equal(got, forward):
					t.Errorf("limit %d oldest first is not the same order as the walk by 7", tc.limit)
				}
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("limit %d newest %v: walked %d sessions (%d distinct); want each of the %d live ones once",
						tc.limit, tc.newest, len(got), len(slices.Compact(got)), len(want))
				}
			}
		})
	}
}

// TestManager_ListPage_Watermark: a session an incident's watermark ended
// that the store still holds live (another node's login stored after the
// bulk revocation) is not on a page, as it is not in List. On every store.
func TestManager_ListPage_Watermark(t *testing.T) {
	for _, ms := range managerStores() {
		t.Run(ms.name, func(t *testing.T) {
			start := time.Now().UTC().Truncate(time.Second)
			m, st, clock, _ := subjectReadsManager(t, ms, sessiond.StrategyDatabase, start, nil)
			ctx := context.Background()
			clock.Set(start.Add(400 * time.Millisecond))
			if _, err := m.RevokeMatching(ctx, sessiond.RevokeFilter{Subjects: []string{"alice"}}, sessiond.ReasonIncident, false); err != nil {
				t.Fatal(err)
			}
			zombie := sessiondtest.NewSession("alice", start.Add(700*time.Millisecond))
			if err := st.Create(ctx, zombie); err != nil {
				t.Fatal(err)
			}
			clock.Set(start.Add(2 * time.Second))
			iss, err := m.Create(ctx, "alice", sessiond.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := st.Get(ctx, zombie.ID); got == nil || got.Revoked() {
				t.Skipf("the login ended the zombie in the store (%+v): nothing left for ListPage to filter", got)
			}
			got, _ := walk(t, m, "alice", 1, false)
			if !slices.Equal(got, []sessiond.SessionID{iss.Session.ID}) {
				t.Errorf("walk of alice = %v; want only %s (not the zombie %s)", got, iss.Session.ID, zombie.ID)
			}
		})
	}
}

// listOnly is a store that is no SubjectPager: the Manager must cut its
// pages from List.
type listOnly struct{ sessiond.Store }

// TestManager_ListPage_WithoutPager: on a store without SubjectPager the
// pages are cut from List with the same cursors as memstore's own pager
// writes (same order, CreatedAt then ID, same Next), and the walk returns
// each live session once.
func TestManager_ListPage_WithoutPager(t *testing.T) {
	start := time.Now().UTC().Truncate(time.Second)
	st := memstore.New()
	// Sessions sharing a microsecond (ordered by ID) and some apart.
	for i := range 40 {
		s := sessiondtest.NewSession("walker", start.Add(-time.Duration(i/3)*time.Microsecond-time.Duration(i%3)*time.Nanosecond))
		if err := st.Create(context.Background(), s); err != nil {
			t.Fatal(err)
		}
	}
	clock := sessiondtest.NewClock(start)
	opts := sessiond.Options{Strategy: sessiond.StrategyDatabase, Opaque: opaquetoken.Codec{}, Clock: clock, GCInterval: -1}
	opts.Store = st
	paged := newManager(t, opts, nil)
	opts.Store = listOnly{st}
	listed := newManager(t, opts, nil)
	for _, newest := range []bool{false, true} {
		for _, limit := range []int{1, 3, 40, 41} {
			r := sessiond.PageRequest{Limit: limit, Newest: newest}
			var all []sessiond.SessionID
			for {
				want, err := paged.ListPage(context.Background(), "walker", r)
				if err != nil {
					t.Fatal(err)
				}
				got, err := listed.ListPage(context.Background(), "walker", r)
				if err != nil {
					t.Fatal(err)
				}
				if ids(got.Sessions) != ids(want.Sessions) || got.Next != want.Next {
					t.Fatalf("limit %d newest %v after %q: cut from List %s next %q; memstore's pager %s next %q",
						limit, newest, r.After, ids(got.Sessions), got.Next, ids(want.Sessions), want.Next)
				}
				for _, s := range got.Sessions {
					all = append(all, s.ID)
				}
				if got.Next == "" {
					break
				}
				r.After = got.Next
			}
			if slices.Sort(all); len(slices.Compact(all)) != 40 || len(all) != 40 {
				t.Errorf("limit %d newest %v: walked %d sessions; want each of 40 once", limit, newest, len(all))
			}
		}
	}
}

func ids(ss []sessiond.Session) string {
	var b strings.Builder
	for _, s := range ss {
		b.WriteString(string(s.ID)[:6] + " ")
	}
	return b.String()
}

// TestManager_ListPage_BadInput: a limit out of bounds, a malformed or
// oversized cursor, a cursor of another subject's walk, and a bad subject
// are ErrInvalidArgument, on a store with SubjectPager and one without.
func TestManager_ListPage_BadInput(t *testing.T) {
	start := time.Now().UTC().Truncate(time.Second)
	st := memstore.New()
	for _, subject := range []string{"alice", "bob"} {
		for i := range 3 {
			if err := st.Create(context.Background(), sessiondtest.NewSession(subject, start.Add(-time.Duration(i)*time.Second))); err != nil {
				t.Fatal(err)
			}
		}
	}
	opts := sessiond.Options{Strategy: sessiond.StrategyDatabase, Opaque: opaquetoken.Codec{}, Clock: sessiondtest.NewClock(start), GCInterval: -1, Store: st}
	for name, store := range map[string]sessiond.Store{"pager": st, "list": listOnly{st}} {
		t.Run(name, func(t *testing.T) {
			opts.Store = store
			m := newManager(t, opts, nil)
			ctx := context.Background()
			alice, err := m.ListPage(ctx, "alice", sessiond.PageRequest{Limit: 1})
			if err != nil || alice.Next == "" {
				t.Fatalf("alice's first page: %+v, %v", alice, err)
			}
			bob, err := m.ListPage(ctx, "bob", sessiond.PageRequest{Limit: 1})
			if err != nil || bob.Next == "" {
				t.Fatalf("bob's first page: %+v, %v", bob, err)
			}
			pos, tag, _ := strings.Cut(alice.Next, "."+string(alice.Sessions[0].ID))
			for _, tc := range []struct {
				name, subject, after string
				limit                int
			}{
				{"limit 0", "alice", "", 0},
				{"limit -1", "alice", "", -1},
				{"limit over the maximum", "alice", "", sessiond.MaxPageLimit + 1},
				{"limit 0 with a cursor", "alice", alice.Next, 0},
				{"bob's cursor", "alice", bob.Next, 1},
				{"alice's cursor for bob", "bob", alice.Next, 1},
				{"the store's cursor without the subject", "alice", pos + "." + string(alice.Sessions[0].ID), 1},
				{"no ID", "alice", pos + tag, 1},
				{"junk", "alice", "x", 1},
				{"a dot", "alice", ".", 1},
				{"a sign", "alice", "-" + alice.Next, 1},
				{"a leading zero", "alice", "0" + alice.Next, 1},
				{"oversized", "alice", strings.Repeat("1", 100) + alice.Next, 1},
				{"an ID too long", "alice", pos + "." + string(alice.Sessions[0].ID) + "a" + tag, 1},
				{"tag upper case", "alice", strings.ToUpper(alice.Next), 1},
				{"empty subject", "", "", 1},
				{"subject with a control character", "al\x00ice", "", 1},
			} {
				if _, err := m.ListPage(ctx, tc.subject, sessiond.PageRequest{After: tc.after, Limit: tc.limit}); !errors.Is(err, sessiond.ErrInvalidArgument) {
					t.Errorf("%s: ListPage(%q, after %q, limit %d) = %v; want ErrInvalidArgument", tc.name, tc.subject, tc.after, tc.limit, err)
				}
			}
			if _, err := m.ListPage(ctx, "alice", sessiond.PageRequest{After: alice.Next, Limit: 1}); err != nil {
				t.Errorf("alice's own cursor: %v", err)
			}
		})
	}
}
