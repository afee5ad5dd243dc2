package sessiondtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestRevocationPager checks sessiond.RevocationPager (the bounded reads of
// the revocations the revocation stream's snapshot makes), failing at once
// if newStore's stores do not implement it. TestStore runs it when they do.
//
// Beyond the doc comment, the suite pins down that Revocations returns its
// entries in the walk's order too (the snapshot's bytes do not depend on
// which one the server reads); that a walk, whatever its limit and the
// reason it leaves out, returns exactly what Revocations returns less that
// reason, ties of one instant (one subject's, several subjects', a bulk
// revocation's, a bulk revocation's beside single ones) included; that a
// long run of left-out revocations costs pages, not an endless walk; that
// a cursor still leads on once its session is gone; and that a walk during
// other writes returns each revocation present throughout exactly once.
func TestRevocationPager(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	runSuite(t, newStore, []subtest[sessiond.RevocationPager]{
		{"WalkIsRevocations", revPagerWalkIsRevocations},
		{"Ties", revPagerTies},
		{"BulkTie", revPagerBulkTie},
		{"LeftOut", revPagerLeftOut},
		{"CursorOfGoneSession", revPagerCursorOfGone},
		{"WalkDuringChanges", revPagerDuringChanges},
		{"SubMicrosecondSince", revPagerSubMicrosecond},
		{"BadInput", revPagerBadInput},
		{"Empty", revPagerEmpty},
		{"CanceledContext", revPagerCanceled},
	})
}

// revSince is the since of the suite's walks.
var revSince = at(time.Hour)

// longSession is NewSession whose idle expiry is its absolute one, so that
// it is live (for RevokeMatching and RevokeSubject) until then.
func longSession(subject string, created time.Time) *sessiond.Session {
	s := NewSession(subject, created)
	s.IdleExpiresAt = s.ExpiresAt
	return s
}

// revWalk reads every page of a walk from after with limit, leaving out
// except, failing the test on an error, on a page of more than limit, out
// of order, or not after the cursor it started from, and on more than
// maxPages pages.
func revWalk(t *testing.T, f *fixture, p sessiond.RevocationPager, since time.Time, except sessiond.RevokeReason,
	after sessiond.RevocationCursor, limit, maxPages int) []sessiond.Revocation {
	t.Helper()
	q := sessiond.RevocationQuery{Since: since, Except: except, After: after, Limit: limit}
	out := []sessiond.Revocation{}
	for pages := 1; ; pages++ {
		page, err := p.PageRevocations(f.ctx, q)
		if err != nil {
			t.Fatalf("PageRevocations(except %q, limit %d, after %v) = %v; want nil", except, limit, q.After, err)
		}
		if page.Revocations == nil {
			t.Fatalf("PageRevocations(limit %d) = nil revocations; want a slice, empty when none", limit)
		}
		if len(page.Revocations) > limit {
			t.Fatalf("PageRevocations(limit %d) = %d revocations; want at most %d", limit, len(page.Revocations), limit)
		}
		for _, r := range page.Revocations {
			if !q.After.Precedes(r) {
				t.Fatalf("PageRevocations(after %v) returned %s revoked %v: not after the cursor", q.After, r.SessionID, r.RevokedAt)
			}
			if page.Next.Precedes(r) {
				t.Fatalf("PageRevocations(after %v) = …, next %v; want next at or past its last revocation (%s revoked %v)",
					q.After, page.Next, r.SessionID, r.RevokedAt)
			}
		}
		if page.Next.Precedes(sessiond.Revocation{RevokedAt: q.After.At, SessionID: q.After.ID}) {
			t.Fatalf("PageRevocations(after %v) next = %v; want it not to move back", q.After, page.Next)
		}
		for _, r := range page.Revocations {
			if n := len(out); n > 0 && sessiond.CompareRevocations(out[n-1], r) >= 0 {
				t.Fatalf("walk (limit %d) returned %s (%v) after %s (%v); want the order of CompareRevocations",
					limit, r.SessionID, r.RevokedAt, out[n-1].SessionID, out[n-1].RevokedAt)
			}
			out = append(out, r)
		}
		if page.Done {
			return out
		}
		if pages == maxPages {
			t.Fatalf("walk (except %q, limit %d): a page after %d; want at most %d pages", except, limit, pages, maxPages)
		}
		q.After = page.Next
	}
}

// without returns revs less those with reason except ("": all of them).
func without(revs []sessiond.Revocation, except sessiond.RevokeReason) []sessiond.Revocation {
	return slices.DeleteFunc(slices.Clone(revs), func(r sessiond.Revocation) bool { return except != "" && r.Reason == except })
}

// checkRevocationOrder reports differences between got and want, entries
// and their order alike.
func checkRevocationOrder(t *testing.T, op string, got, want []sessiond.Revocation) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s = %d revocations; want %d", op, len(got), len(want))
		checkRevocations(t, op, got, want)
		return
	}
	for i := range got {
		if d := fieldDiffs(fmt.Sprintf("%s[%d]", op, i), got[i], want[i]); len(d) > 0 {
			t.Errorf("%s", strings.Join(d, "\n"))
			return
		}
	}
}

// checkWalks checks that Revocations(since) is want in the walk's order,
// and that a walk with every limit and left-out reason returns it less
// that reason.
func checkWalks(t *testing.T, f *fixture, p sessiond.RevocationPager, since time.Time, want []sessiond.Revocation, limits []int) {
	t.Helper()
	want = slices.Clone(want)
	slices.SortFunc(want, sessiond.CompareRevocations)
	got, err := f.st.Revocations(f.ctx, since)
	if err != nil {
		t.Fatalf("Revocations(%v) = %v; want nil", since, err)
	}
	checkRevocationOrder(t, fmt.Sprintf("Revocations(%v)", since), got, want)
	for _, except := range []sessiond.RevokeReason{"", sessiond.ReasonIncident, sessiond.ReasonLogout, "nothing-has-this"} {
		w := without(want, except)
		for _, limit := range limits {
			// Every page returns one at least, or is the last, or
			// stands on a left-out revocation.
			got := revWalk(t, f, p, since, except, sessiond.RevocationCursor{}, limit, len(want)+2)
			checkRevocationOrder(t, fmt.Sprintf("walk(except %q, limit %d)", except, limit), got, w)
		}
	}
}

// revPagerWalkIsRevocations: revocations of every kind the store writes
// (single, a subject's, a bulk revocation's by time and of every session,
// at one instant or apart), and the ones Revocations leaves out (before
// since, ended at since, not revoked), walked with every limit.
func revPagerWalkIsRevocations(t *testing.T, f *fixture, p sessiond.RevocationPager) {
	t1, t2, t3, t4 := at(2*time.Hour), at(3*time.Hour), at(4*time.Hour), at(5*time.Hour)
	var want []sessiond.Revocation
	mk := func(subject string, created time.Time) *sessiond.Session {
		s := longSession(subject, created)
		f.create(clone(s))
		return s
	}
	var old []*sessiond.Session
	for i := range 4 {
		old = append(old, mk(fmt.Sprintf("old%d", i), t0))
	}
	var alice []*sessiond.Session
	for range 6 {
		alice = append(alice, mk("alice", at(20*time.Minute)))
	}
	bob, carol, dave := mk("bob", at(20*time.Minute)), mk("carol", at(20*time.Minute)), mk("dave", at(20*time.Minute))
	erin := []*sessiond.Session{mk("erin", at(20*time.Minute)), mk("erin", at(20*time.Minute))}
	var frank []*sessiond.Session
	for range 3 {
		frank = append(frank, mk("frank", at(20*time.Minute)))
	}
	// IDs of another shape than NewSessionID's (a store takes any): the
	// walk's cursors carry them. Lower case and digits only, which sort
	// alike in every collation a database may order them by.
	var odd []*sessiond.Session
	for _, id := range []sessiond.SessionID{"legacy0001", "legacy0002", "0003"} {
		s := longSession("odd", at(20*time.Minute))
		s.ID = id
		f.create(clone(s))
		odd = append(odd, s)
	}
	early := mk("early", at(20*time.Minute))
	ended := NewSession("ended", t0)
	ended.ExpiresAt = revSince
	f.create(clone(ended))
	mk("live", at(20*time.Minute)) // revoked by the incident below, if any

	br, bulk := f.st.(sessiond.BulkRevoker)
	if bulk {
		// A bulk revocation by time (on Redis and PostgreSQL its sessions
		// are found in the sessions themselves, not the revocation index)
		// with a single revocation at its very instant.
		if n, _, err := br.RevokeMatching(f.ctx, sessiond.RevokeFilter{IssuedBefore: at(10 * time.Minute)}, t2, sessiond.ReasonAdmin); err != nil || n != len(old) {
			t.Fatalf("RevokeMatching(issued before) = %d, %v; want %d, nil", n, err, len(old))
		}
		for _, s := range old {
			want = append(want, revocation(s, t2, sessiond.ReasonAdmin))
		}
	}
	f.revoke(erin[0].ID, t2, sessiond.ReasonLogout)
	want = append(want, revocation(erin[0], t2, sessiond.ReasonLogout))
	revs, err := f.st.RevokeSubject(f.ctx, "alice", "", t1, sessiond.ReasonLogout)
	if err != nil || len(revs) != len(alice) {
		t.Fatalf("RevokeSubject(alice) = %d, %v; want %d, nil", len(revs), err, len(alice))
	}
	for _, s := range alice {
		want = append(want, revocation(s, t1, sessiond.ReasonLogout))
	}
	for _, c := range []struct {
		s      *sessiond.Session
		at     time.Time
		reason sessiond.RevokeReason
	}{{bob, t1, sessiond.ReasonAdmin}, {carol, t1, sessiond.ReasonReuse}, {dave, t1, sessiond.ReasonIncident}, {erin[1], t3, sessiond.ReasonAnomaly},
		{odd[0], t3, sessiond.ReasonLogout}, {odd[1], t3, sessiond.ReasonLogout}, {odd[2], t3, sessiond.ReasonLogout}} {
		f.revoke(c.s.ID, c.at, c.reason)
		want = append(want, revocation(c.s, c.at, c.reason))
	}
	f.revoke(early.ID, revSince.Add(-time.Microsecond), sessiond.ReasonLogout) // before since
	f.revoke(ended.ID, revSince, sessiond.ReasonLogout)                        // over at since
	if bulk {
		// The kill switch: every session still live, in one instant.
		if _, _, err := br.RevokeMatching(f.ctx, sessiond.RevokeFilter{All: true}, t4, sessiond.ReasonIncident); err != nil {
			t.Fatalf("RevokeMatching(all) = %v; want nil", err)
		}
		for _, s := range frank {
			want = append(want, revocation(s, t4, sessiond.ReasonIncident))
		}
		// and "live"
		got, err := f.st.Revocations(f.ctx, t4)
		if err != nil {
			t.Fatalf("Revocations(%v) = %v; want nil", t4, err)
		}
		for _, r := range got {
			if r.Subject == "live" {
				want = append(want, r)
			}
		}
	}
	checkWalks(t, f, p, revSince, want, []int{1, 2, 3, 5, 7, sessiond.MaxPageLimit})
	// From a cursor before since: the same walk.
	got := revWalk(t, f, p, revSince, "", sessiond.RevocationCursor{At: t0, ID: sessiond.NewSessionID()}, 4, len(want)+2)
	if len(got) != len(want) {
		t.Errorf("walk from a cursor before since = %d revocations; want %d", len(got), len(want))
	}
	// From the middle: what comes after the cursor.
	all := revWalk(t, f, p, revSince, "", sessiond.RevocationCursor{}, sessiond.MaxPageLimit, 2)
	for _, i := range []int{0, 3, len(all) / 2, len(all) - 1} {
		from := sessiond.CursorOf(all[i])
		got := revWalk(t, f, p, revSince, "", from, 2, len(all)+2)
		checkRevocationOrder(t, fmt.Sprintf("walk after %d", i), got, all[i+1:])
		// A cursor at the instant with no ID: every one of that instant.
		j := slices.IndexFunc(all, func(r sessiond.Revocation) bool { return r.RevokedAt.Equal(all[i].RevokedAt) })
		got = revWalk(t, f, p, revSince, "", sessiond.RevocationCursor{At: all[i].RevokedAt}, 3, len(all)+2)
		checkRevocationOrder(t, fmt.Sprintf("walk from the instant of %d", i), got, all[j:])
	}
}

// revPagerTies: 600 sessions of one subject revoked in one instant (a
// store may revoke them in batches; more than redisstore reads of its
// index at a time), after a few others, and in another instant 30
// sessions of one subject with 20 other subjects' sessions, walked with
// limits that cut the instants anywhere: in order of session ID.
func revPagerTies(t *testing.T, f *fixture, p sessiond.RevocationPager) {
	tie1, tie2 := at(2*time.Hour), at(3*time.Hour)
	var want []sessiond.Revocation
	revokeSubject := func(subject string, n int, when time.Time) {
		var ss []*sessiond.Session
		for range n {
			s := longSession(subject, at(20*time.Minute))
			f.create(clone(s))
			ss = append(ss, s)
		}
		revs, err := f.st.RevokeSubject(f.ctx, subject, "", when, sessiond.ReasonLogout)
		if err != nil || len(revs) != n {
			t.Fatalf("RevokeSubject(%s) = %d, %v; want %d, nil", subject, len(revs), err, n)
		}
		for _, s := range ss {
			want = append(want, revocation(s, when, sessiond.ReasonLogout))
		}
	}
	// A few before it, so that a read of redisstore's index from the
	// start ends inside the 600 and must read them again.
	for i := range 5 {
		s := longSession(fmt.Sprintf("early%d", i), at(20*time.Minute))
		f.create(clone(s))
		f.revoke(s.ID, tie1.Add(-time.Minute), sessiond.ReasonLogout)
		want = append(want, revocation(s, tie1.Add(-time.Minute), sessiond.ReasonLogout))
	}
	revokeSubject("alice", 600, tie1)
	for i := range 20 {
		s := longSession(fmt.Sprintf("user%02d", i), at(20*time.Minute))
		f.create(clone(s))
		reason := sessiond.ReasonAdmin
		if i%4 == 0 {
			reason = sessiond.ReasonIncident
		}
		f.revoke(s.ID, tie2, reason)
		want = append(want, revocation(s, tie2, reason))
	}
	revokeSubject("bob", 30, tie2)
	checkWalks(t, f, p, revSince, want, []int{7, 64, sessiond.MaxPageLimit})
}

// revPagerBulkTie: a bulk revocation of 150 subjects' sessions, one
// instant, with a reason the snapshot keeps, beside single revocations in
// that instant and around it, walked with limits that cut the instant,
// before and after its single revocations.
func revPagerBulkTie(t *testing.T, f *fixture, p sessiond.RevocationPager) {
	br, ok := f.st.(sessiond.BulkRevoker)
	if !ok {
		t.Skip("not a BulkRevoker")
	}
	tie := at(2 * time.Hour)
	var want []sessiond.Revocation
	var bulk []*sessiond.Session
	for i := range 150 {
		s := longSession(fmt.Sprintf("user%03d", i), at(20*time.Minute))
		f.create(clone(s))
		bulk = append(bulk, s)
	}
	for i, d := range []time.Duration{-time.Microsecond, 0, 0, time.Microsecond} {
		s := longSession(fmt.Sprintf("single%d", i), at(20*time.Minute))
		f.create(clone(s))
		f.revoke(s.ID, tie.Add(d), sessiond.ReasonLogout)
		want = append(want, revocation(s, tie.Add(d), sessiond.ReasonLogout))
	}
	if n, _, err := br.RevokeMatching(f.ctx, sessiond.RevokeFilter{All: true}, tie, sessiond.ReasonAdmin); err != nil || n != len(bulk) {
		t.Fatalf("RevokeMatching(all) = %d, %v; want %d, nil", n, err, len(bulk))
	}
	for _, s := range bulk {
		want = append(want, revocation(s, tie, sessiond.ReasonAdmin))
	}
	// Limits 1 and 2: a page whose single revocations alone go past it
	// ends in the bulk revocation's instant, which it must still merge.
	checkWalks(t, f, p, revSince, want, []int{1, 2, 7, sessiond.MaxPageLimit})
}

// revPagerLeftOut: 200 revocations with the reason left out (single ones
// and, on a BulkRevoker, a bulk one) around 3 that are not: a walk with
// limit 1 returns those 3 and ends, however its pages fall.
func revPagerLeftOut(t *testing.T, f *fixture, p sessiond.RevocationPager) {
	var keep []sessiond.Revocation
	stored := 0
	for i := range 200 {
		s := longSession(fmt.Sprintf("user%03d", i), at(20*time.Minute))
		f.create(clone(s))
		stored++
		reason := sessiond.ReasonIncident
		if i == 0 || i == 100 || i == 199 {
			reason = sessiond.ReasonLogout
		}
		r := f.revoke(s.ID, at(2*time.Hour).Add(time.Duration(i)*time.Millisecond), reason)
		if reason != sessiond.ReasonIncident {
			keep = append(keep, revocation(s, r.RevokedAt, reason))
		}
	}
	if br, ok := f.st.(sessiond.BulkRevoker); ok {
		for i := range 200 {
			f.create(clone(longSession(fmt.Sprintf("bulk%03d", i), at(20*time.Minute))))
			stored++
		}
		if _, _, err := br.RevokeMatching(f.ctx, sessiond.RevokeFilter{All: true}, at(3*time.Hour), sessiond.ReasonIncident); err != nil {
			t.Fatalf("RevokeMatching(all) = %v; want nil", err)
		}
	}
	for _, limit := range []int{1, 2, sessiond.MaxPageLimit} {
		got := revWalk(t, f, p, revSince, sessiond.ReasonIncident, sessiond.RevocationCursor{}, limit, stored+2)
		checkRevocationOrder(t, fmt.Sprintf("walk(except incident, limit %d)", limit), got, keep)
	}
}

// revPagerCursorOfGone: the cursor of a session collected since its page
// still leads on, and so does one no page returned (an ID never stored).
func revPagerCursorOfGone(t *testing.T, f *fixture, p sessiond.RevocationPager) {
	var want []sessiond.Revocation
	var gone *sessiond.Session
	for i := range 10 {
		s := longSession(fmt.Sprintf("user%d", i), at(20*time.Minute))
		if i == 4 {
			s.IdleExpiresAt = at(40 * time.Minute) // collected below
			gone = s
		}
		f.create(clone(s))
		f.revoke(s.ID, at(2*time.Hour).Add(time.Duration(i)*time.Minute), sessiond.ReasonLogout)
		want = append(want, revocation(s, at(2*time.Hour).Add(time.Duration(i)*time.Minute), sessiond.ReasonLogout))
	}
	page, err := p.PageRevocations(f.ctx, sessiond.RevocationQuery{Since: revSince, Limit: 5})
	if err != nil || len(page.Revocations) != 5 || page.Revocations[4].SessionID != gone.ID || page.Done {
		t.Fatalf("PageRevocations(limit 5) = %d, done %t, %v; want 5 ending with %s, not the last", len(page.Revocations), page.Done, err, gone.ID)
	}
	if n, err := f.st.DeleteExpired(f.ctx, at(50*time.Minute), 100); err != nil || n != 1 {
		t.Fatalf("DeleteExpired() = %d, %v; want 1, nil", n, err)
	}
	got := revWalk(t, f, p, revSince, "", page.Next, 2, 10)
	checkRevocationOrder(t, "walk after a collected session", got, want[5:])
	never := sessiond.RevocationCursor{At: want[2].RevokedAt, ID: sessiond.NewSessionID()}
	var rest []sessiond.Revocation
	for _, r := range want {
		if r.SessionID != gone.ID && never.Precedes(r) {
			rest = append(rest, r)
		}
	}
	got = revWalk(t, f, p, revSince, "", never, 3, 10)
	checkRevocationOrder(t, "walk after an ID never stored", got, rest)
}

// revPagerDuringChanges: revocations made while a walk is under way, ahead
// of it and behind it, and sessions collected: each revocation present
// throughout is returned exactly once, in order.
func revPagerDuringChanges(t *testing.T, f *fixture, p sessiond.RevocationPager) {
	throughout := map[sessiond.SessionID]bool{}
	for i := range 20 {
		s := longSession(fmt.Sprintf("user%02d", i), at(20*time.Minute))
		f.create(clone(s))
		f.revoke(s.ID, at(2*time.Hour).Add(time.Duration(i)*time.Minute), sessiond.ReasonLogout)
		throughout[s.ID] = true
	}
	q := sessiond.RevocationQuery{Since: revSince, Limit: 3}
	seen := map[sessiond.SessionID]int{}
	var last *sessiond.Revocation
	for pages := 0; ; pages++ {
		if pages > 40 {
			t.Fatal("walk during changes: over 40 pages; want about 10")
		}
		page, err := p.PageRevocations(f.ctx, q)
		if err != nil {
			t.Fatalf("PageRevocations() = %v; want nil", err)
		}
		for _, r := range page.Revocations {
			if last != nil && sessiond.CompareRevocations(*last, r) >= 0 {
				t.Fatalf("walk during changes returned %s after %s; want the order of CompareRevocations", r.SessionID, last.SessionID)
			}
			seen[r.SessionID]++
			last = &r
		}
		if page.Done {
			break
		}
		q.After = page.Next
		// One ahead of the walk and one behind it, each its own subject.
		for _, d := range []time.Duration{30 * time.Second, -90 * time.Second} {
			s := longSession(fmt.Sprintf("new%d", pages), at(20*time.Minute))
			f.create(clone(s))
			f.revoke(s.ID, q.After.At.Add(d), sessiond.ReasonAdmin)
		}
	}
	for id := range throughout {
		if seen[id] != 1 {
			t.Errorf("walk during changes returned %s %d times; want once", id, seen[id])
		}
	}
	for id, n := range seen {
		if n > 1 {
			t.Errorf("walk during changes returned %s %d times; want at most once", id, n)
		}
	}
}

// revPagerSubMicrosecond: a since between two microseconds (the snapshot's
// is now less a duration, to the nanosecond) draws the line where
// Revocations draws it, whatever precision the store keeps.
func revPagerSubMicrosecond(t *testing.T, f *fixture, p sessiond.RevocationPager) {
	tm := at(2 * time.Hour)
	for i, d := range []time.Duration{-time.Microsecond, 0, time.Microsecond} {
		s := longSession(fmt.Sprintf("user%d", i), at(20*time.Minute))
		s.ExpiresAt = tm.Add(time.Hour + d)
		f.create(clone(s))
		f.revoke(s.ID, tm.Add(d), sessiond.ReasonLogout)
	}
	for _, since := range []time.Time{tm.Add(-500 * time.Nanosecond), tm.Add(500 * time.Nanosecond), tm.Add(time.Hour + 500*time.Nanosecond)} {
		want, err := f.st.Revocations(f.ctx, since)
		if err != nil {
			t.Fatalf("Revocations(%v) = %v; want nil", since, err)
		}
		got := revWalk(t, f, p, since, "", sessiond.RevocationCursor{}, 1, 5)
		checkRevocationOrder(t, fmt.Sprintf("walk since %v", since.Format(time.RFC3339Nano)), got, want)
	}
}

// revPagerBadInput: a limit out of range, a reason left out that no
// store writes: ErrInvalidArgument. A cursor's ID may be of any shape,
// however long, and its time any (a store's IDs need not be of
// NewSessionID's shape): a position all the same, or, for an ID the store
// could not hold (NUL, not UTF-8), ErrInvalidArgument.
func revPagerBadInput(t *testing.T, f *fixture, p sessiond.RevocationPager) {
	s := longSession("alice", at(20*time.Minute))
	f.create(clone(s))
	f.revoke(s.ID, at(2*time.Hour), sessiond.ReasonLogout)
	id := sessiond.NewSessionID()
	bad := []sessiond.RevocationQuery{
		{Limit: 0}, {Limit: -1}, {Limit: sessiond.MaxPageLimit + 1},
		{Limit: 5, Except: "two words"},
		{Limit: 5, Except: "\x00"},
		{Limit: 5, Except: "caf\u00e9"},
		{Limit: 5, Except: sessiond.RevokeReason(strings.Repeat("x", 65))},
	}
	for _, q := range bad {
		q.Since = revSince
		_, err := p.PageRevocations(f.ctx, q)
		wantErr(t, fmt.Sprintf("PageRevocations(limit %d, except %.20q)", q.Limit, q.Except), err, sessiond.ErrInvalidArgument)
	}
	for _, after := range []sessiond.SessionID{id + "\x00", "\xff" + id} {
		q := sessiond.RevocationQuery{Since: revSince, Limit: 5, After: sessiond.RevocationCursor{At: at(time.Hour), ID: after}}
		if page, err := p.PageRevocations(f.ctx, q); err != nil && !errors.Is(err, sessiond.ErrInvalidArgument) || err == nil && len(page.Revocations) != 1 {
			t.Errorf("PageRevocations(after %q) = %d, %v; want the revocation after it, or ErrInvalidArgument", after, len(page.Revocations), err)
		}
	}
	// Accepted: a position before or after the revocation, or the edges.
	for _, tc := range []struct {
		q    sessiond.RevocationQuery
		want int
	}{
		{sessiond.RevocationQuery{Limit: 1}, 1},
		{sessiond.RevocationQuery{Limit: sessiond.MaxPageLimit}, 1},
		{sessiond.RevocationQuery{Limit: 5, After: sessiond.RevocationCursor{At: time.Date(1900, time.January, 1, 0, 0, 0, 0, time.UTC), ID: "x"}}, 1},
		{sessiond.RevocationQuery{Limit: 5, After: sessiond.RevocationCursor{At: at(2 * time.Hour), ID: "0"}}, 1},
		{sessiond.RevocationQuery{Limit: 5, After: sessiond.RevocationCursor{At: at(2 * time.Hour), ID: s.ID}}, 0},
		{sessiond.RevocationQuery{Limit: 5, After: sessiond.RevocationCursor{At: at(2 * time.Hour),
			ID: sessiond.SessionID(strings.Repeat("z", 64<<10))}}, 0},
		{sessiond.RevocationQuery{Limit: 5, After: sessiond.RevocationCursor{At: time.UnixMicro(1 << 53), ID: id}}, 0},
		{sessiond.RevocationQuery{Limit: 5, After: sessiond.RevocationCursor{At: time.Date(200000, time.January, 1, 0, 0, 0, 0, time.UTC), ID: id}}, 0},
		{sessiond.RevocationQuery{Limit: 5, Except: sessiond.RevokeReason(strings.Repeat("x", 64))}, 1},
	} {
		q := tc.q
		q.Since = revSince
		if page, err := p.PageRevocations(f.ctx, q); err != nil || len(page.Revocations) != tc.want {
			t.Errorf("PageRevocations(limit %d, after %.20q at %v, except %.20q) = %d, %v; want %d, nil",
				q.Limit, q.After.ID, q.After.At, q.Except, len(page.Revocations), err, tc.want)
		}
	}
}

// revPagerEmpty: no revocation, or none since: one empty page, the last.
func revPagerEmpty(t *testing.T, f *fixture, p sessiond.RevocationPager) {
	check := func(op string) {
		t.Helper()
		page, err := p.PageRevocations(f.ctx, sessiond.RevocationQuery{Since: revSince, Limit: 10})
		if err != nil || page.Revocations == nil || len(page.Revocations) != 0 || !page.Done {
			t.Errorf("%s: PageRevocations() = %v (nil: %t), done %t, %v; want an empty page, the last",
				op, page.Revocations, page.Revocations == nil, page.Done, err)
		}
	}
	check("empty store")
	s := longSession("alice", at(20*time.Minute))
	f.create(clone(s))
	check("a live session")
	f.revoke(s.ID, at(30*time.Minute), sessiond.ReasonLogout)
	check("revoked before since")
}

// revPagerCanceled: a canceled context fails the call.
func revPagerCanceled(t *testing.T, f *fixture, p sessiond.RevocationPager) {
	s := longSession("alice", at(20*time.Minute))
	f.create(clone(s))
	f.revoke(s.ID, at(2*time.Hour), sessiond.ReasonLogout)
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	if page, err := p.PageRevocations(ctx, sessiond.RevocationQuery{Since: revSince, Limit: 5}); err == nil || errors.Is(err, sessiond.ErrInvalidArgument) {
		t.Errorf("PageRevocations(canceled context) = %d revocations, %v; want the context's error", len(page.Revocations), err)
	}
}
