package sessiondtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// sameSet reports whether a and b hold the same strings, each once.
func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Strings(a)
	sort.Strings(b)
	return slices.Equal(a, b)
}

// checkSubjects reports whether subjects lists each of want exactly once.
func checkSubjects(t *testing.T, op string, got, want []string) {
	t.Helper()
	seen := make(map[string]bool, len(got))
	for _, s := range got {
		if seen[s] {
			t.Errorf("%s lists subject %q twice; want distinct subjects", op, s)
		}
		seen[s] = true
	}
	if !sameSet(slices.Compact(slices.Sorted(slices.Values(got))), want) {
		g := slices.Sorted(slices.Values(got))
		if len(g) > 20 {
			g = append(g[:20], "…")
		}
		w := slices.Sorted(slices.Values(want))
		if len(w) > 20 {
			w = append(w[:20], "…")
		}
		t.Errorf("%s subjects = %d %q; want %d %q", op, len(got), g, len(want), w)
	}
}

// TestBulkRevoker checks sessiond.BulkRevoker, failing at once if
// newStore's stores do not implement it. TestStore runs it when they do.
// Beyond the BulkRevoker doc comment it pins down: RevokeMatching treats a
// session as live as Session.Live does, takes IssuedBefore as CreatedAt
// strictly before it, treats an empty Subjects as unset, and fails with
// ErrInvalidArgument when nothing is set. The subjects it returns are
// distinct, in no particular order; with NoSubjects it returns them all or
// none, and revokes and counts the same sessions.
func TestBulkRevoker(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	tests := make([]subtest[sessiond.BulkRevoker], 0, len(bulkFilters)+3)
	for _, c := range bulkFilters {
		tests = append(tests, subtest[sessiond.BulkRevoker]{c.name, func(t *testing.T, f *fixture, r sessiond.BulkRevoker) {
			bulkFilter(t, f, r, c.name, c.f)
		}})
	}
	runSuite(t, newStore, append(tests, []subtest[sessiond.BulkRevoker]{
		{"EmptyFilter", bulkEmptyFilter},
		{"CanceledContext", bulkCanceledContext},
		{"Many", bulkMany},
		{"ManyNoSubjects", bulkManyNoSubjects},
	}...))
}

func bulkEmptyFilter(t *testing.T, f *fixture, r sessiond.BulkRevoker) {
	p := populateBulk(f)
	for _, rf := range []sessiond.RevokeFilter{{}, {Subjects: []string{}}} {
		n, got, err := r.RevokeMatching(f.ctx, rf, bulkAt, sessiond.ReasonIncident)
		if n != 0 || len(got) != 0 || !errors.Is(err, sessiond.ErrInvalidArgument) {
			t.Errorf("RevokeMatching(%+v) = %d, %q, %v; want 0, none, ErrInvalidArgument", rf, n, got, err)
		}
	}
	for _, s := range slices.Concat(p.live, p.dead) {
		f.wantSession(s)
	}
}

func bulkCanceledContext(t *testing.T, f *fixture, r sessiond.BulkRevoker) {
	p := populateBulk(f)
	ctx, cancel := context.WithCancel(f.ctx)
	cancel()
	if _, _, err := r.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, bulkAt, sessiond.ReasonIncident); err == nil {
		t.Error("RevokeMatching(canceled context) = nil error; want an error")
	}
	for _, s := range slices.Concat(p.live, p.dead) {
		f.wantSession(s)
	}
}

// bulkMany revokes enough sessions and subjects that a store revoking in
// batches crosses batch boundaries, with more subjects in one filter than
// fit a statement's bind parameters.
func bulkMany(t *testing.T, f *fixture, r sessiond.BulkRevoker) {
	const sessions, subjects = 5000, 1250
	var all []*sessiond.Session
	for i := range sessions {
		s := NewSession(fmt.Sprintf("user%04d", i%subjects), bulkCutoff.Add(time.Duration(i%4-2)*time.Minute))
		s.IdleExpiresAt = bulkAt.Add(time.Hour)
		f.create(clone(s))
		all = append(all, s)
	}
	// First the even subjects created before bulkCutoff, named among
	// 40,000 subjects most of which have no session.
	var names []string
	named := make(map[string]bool)
	for i := range 40_000 {
		names = append(names, fmt.Sprintf("user%04d", i*2))
		named[names[i]] = true
	}
	first := sessiond.RevokeFilter{Subjects: names, IssuedBefore: bulkCutoff}
	inFirst := func(s *sessiond.Session) bool { return named[s.Subject] && s.CreatedAt.Before(bulkCutoff) }
	var want []string
	wantN := 0
	for _, s := range all {
		if inFirst(s) {
			wantN++
			if !slices.Contains(want, s.Subject) {
				want = append(want, s.Subject)
			}
		}
	}
	n, got, err := r.RevokeMatching(f.ctx, first, bulkAt, sessiond.ReasonIncident)
	if err != nil || n != wantN {
		t.Fatalf("RevokeMatching(40,000 subjects, issued before) = %d, %v; want %d, nil", n, err, wantN)
	}
	checkSubjects(t, "RevokeMatching(40,000 subjects, issued before)", got, want)

	// Then everything else.
	n, got, err = r.RevokeMatching(f.ctx, sessiond.RevokeFilter{All: true}, bulkAt.Add(time.Second), sessiond.ReasonIncident)
	if err != nil || n != sessions-wantN {
		t.Fatalf("RevokeMatching(all) = %d, %v; want %d, nil", n, err, sessions-wantN)
	}
	var allSubjects []string
	for i := range subjects {
		allSubjects = append(allSubjects, fmt.Sprintf("user%04d", i))
	}
	checkSubjects(t, "RevokeMatching(all)", got, allSubjects)
	if n, _, err := r.RevokeMatching(f.ctx, sessiond.RevokeFilter{All: true}, bulkAt.Add(time.Minute), sessiond.ReasonAdmin); n != 0 || err != nil {
		t.Errorf("second RevokeMatching(all) = %d, %v; want 0, nil", n, err)
	}
	revs, err := f.st.Revocations(f.ctx, bulkAt)
	if err != nil || len(revs) != sessions {
		t.Fatalf("Revocations(%v) = %d, %v; want %d, nil", bulkAt, len(revs), err, sessions)
	}
	for _, i := range []int{0, 1, sessions / 2, sessions - 1} {
		s := all[i]
		s.RevokeReason, s.RevokedAt = sessiond.ReasonIncident, bulkAt.Add(time.Second)
		if inFirst(s) {
			s.RevokedAt = bulkAt
		}
		f.wantSession(s)
	}
}

// bulkManyNoSubjects revokes, without asking for the subjects, enough
// sessions that a store revoking in batches crosses batch boundaries, and
// counts them right.
func bulkManyNoSubjects(t *testing.T, f *fixture, r sessiond.BulkRevoker) {
	const sessions, subjects = 3000, 1000
	var all []*sessiond.Session
	wantN := 0
	for i := range sessions {
		s := NewSession(fmt.Sprintf("user%04d", i%subjects), bulkCutoff.Add(time.Duration(i%3-1)*time.Minute))
		s.IdleExpiresAt = bulkAt.Add(time.Hour)
		f.create(clone(s))
		all = append(all, s)
		if s.CreatedAt.Before(bulkCutoff) {
			wantN++
		}
	}
	rf := sessiond.RevokeFilter{All: true, IssuedBefore: bulkCutoff, NoSubjects: true}
	n, got, err := r.RevokeMatching(f.ctx, rf, bulkAt, sessiond.ReasonIncident)
	if err != nil || n != wantN {
		t.Fatalf("RevokeMatching(%+v) = %d, %v; want %d, nil", rf, n, err, wantN)
	}
	if len(got) > 0 {
		// Each subject has 3 sessions, i, i+1000, i+2000: one of them
		// (i%3 == 0) created before bulkCutoff.
		var want []string
		for i := range subjects {
			want = append(want, fmt.Sprintf("user%04d", i))
		}
		checkSubjects(t, fmt.Sprintf("RevokeMatching(%+v)", rf), got, want)
	}
	if n, got, err := r.RevokeMatching(f.ctx, rf, bulkAt.Add(time.Minute), sessiond.ReasonAdmin); n != 0 || len(got) != 0 || err != nil {
		t.Errorf("second RevokeMatching(%+v) = %d, %q, %v; want 0, none, nil", rf, n, got, err)
	}
	for _, i := range []int{0, 1, 2, sessions / 2, sessions - 1} {
		s := all[i]
		if s.CreatedAt.Before(bulkCutoff) {
			s.RevokeReason, s.RevokedAt = sessiond.ReasonIncident, bulkAt
		}
		f.wantSession(s)
	}
}

// The bulk revocations happen at bulkAt; the population's sessions are
// created before, at and after bulkCutoff.
var (
	bulkAt     = at(10 * time.Minute)
	bulkCutoff = t0
)

// bulkPopulation is what each case starts from: live sessions of alice,
// bob and carol created before, at and after bulkCutoff, and dead sessions
// no revocation may touch.
type bulkPopulation struct {
	live, dead []*sessiond.Session
}

// bulkFilters are the filters each tried on a fresh population.
var bulkFilters = []struct {
	name string
	f    sessiond.RevokeFilter
}{
	{"All", sessiond.RevokeFilter{All: true}},
	{"Subjects", sessiond.RevokeFilter{Subjects: []string{"alice"}}},
	{"SubjectsSeveral", sessiond.RevokeFilter{Subjects: []string{"bob", "alice", "nobody", "bob", "dave"}}},
	{"IssuedBefore", sessiond.RevokeFilter{IssuedBefore: bulkCutoff}},
	{"AllIssuedBefore", sessiond.RevokeFilter{All: true, IssuedBefore: bulkCutoff}},
	{"SubjectsIssuedBefore", sessiond.RevokeFilter{Subjects: []string{"bob", "carol"}, IssuedBefore: bulkCutoff}},
	{"AllSubjects", sessiond.RevokeFilter{All: true, Subjects: []string{"carol"}}},
	{"NoMatch", sessiond.RevokeFilter{Subjects: []string{"nobody", "dave"}}},
	// NoSubjects selects nothing: the same sessions, the subjects optional.
	{"AllNoSubjects", sessiond.RevokeFilter{All: true, NoSubjects: true}},
	{"AllIssuedBeforeNoSubjects", sessiond.RevokeFilter{All: true, IssuedBefore: bulkCutoff, NoSubjects: true}},
	{"SubjectsNoSubjects", sessiond.RevokeFilter{Subjects: []string{"bob", "alice"}, NoSubjects: true}},
}

func populateBulk(f *fixture) bulkPopulation {
	var p bulkPopulation
	mk := func(subject string, created time.Time) *sessiond.Session {
		s := NewSession(subject, created)
		s.IdleExpiresAt = bulkAt.Add(time.Hour)
		return s
	}
	for _, subject := range []string{"alice", "bob", "carol"} {
		p.live = append(p.live,
			mk(subject, bulkCutoff.Add(-2*time.Hour)),
			mk(subject, bulkCutoff.Add(-time.Microsecond)),
			mk(subject, bulkCutoff), // not before bulkCutoff
			mk(subject, bulkCutoff.Add(5*time.Minute)),
		)
	}
	revoked := mk("alice", bulkCutoff.Add(-time.Hour))
	expired := mk("alice", bulkCutoff.Add(-time.Hour))
	expired.ExpiresAt = bulkAt // not after `bulkAt`: over
	idle := mk("alice", bulkCutoff.Add(-time.Hour))
	idle.IdleExpiresAt = bulkAt
	dave := mk("dave", bulkCutoff.Add(-time.Hour)) // dave's only session is expired
	dave.ExpiresAt = bulkAt.Add(-time.Minute)
	p.dead = []*sessiond.Session{revoked, expired, idle, dave}
	for _, s := range append(slices.Clone(p.live), p.dead...) {
		f.create(clone(s), NewToken(sessiond.KindRefresh, s.ID, s.CreatedAt))
	}
	f.revoke(revoked.ID, t0.Add(time.Second), sessiond.ReasonLogout)
	revoked.RevokedAt, revoked.RevokeReason = t0.Add(time.Second), sessiond.ReasonLogout
	return p
}

// selects is the reference implementation of a RevokeFilter (its All set or not).
func selects(rf sessiond.RevokeFilter, s *sessiond.Session) bool {
	return (len(rf.Subjects) == 0 || slices.Contains(rf.Subjects, s.Subject)) &&
		(rf.IssuedBefore.IsZero() || s.CreatedAt.Before(rf.IssuedBefore))
}

// bulkFilter revokes what rf selects from the population and checks that
// exactly that was revoked, once.
func bulkFilter(t *testing.T, f *fixture, r sessiond.BulkRevoker, name string, rf sessiond.RevokeFilter) {
	p := populateBulk(f)
	var hit, missed []*sessiond.Session
	var subjects []string
	for _, s := range p.live {
		if selects(rf, s) {
			hit = append(hit, s)
			if !slices.Contains(subjects, s.Subject) {
				subjects = append(subjects, s.Subject)
			}
		} else {
			missed = append(missed, s)
		}
	}
	if name != "NoMatch" && (len(hit) == 0 || len(hit) == len(p.live) && !rf.All) {
		t.Fatalf("bad test: %+v selects %d of %d", rf, len(hit), len(p.live))
	}

	n, got, err := r.RevokeMatching(f.ctx, rf, bulkAt, sessiond.ReasonIncident)
	if err != nil {
		t.Fatalf("RevokeMatching(%+v) = %v; want nil", rf, err)
	}
	if n != len(hit) {
		t.Errorf("RevokeMatching(%+v) revoked %d; want %d", rf, n, len(hit))
	}
	if !rf.NoSubjects || len(got) > 0 {
		checkSubjects(t, fmt.Sprintf("RevokeMatching(%+v)", rf), got, subjects)
	}
	var wantRevs []sessiond.Revocation
	for _, s := range hit {
		s.RevokedAt, s.RevokeReason = bulkAt, sessiond.ReasonIncident
		wantRevs = append(wantRevs, revocation(s, bulkAt, sessiond.ReasonIncident))
	}
	for _, s := range slices.Concat(hit, missed, p.dead) {
		f.wantSession(s)
	}

	// Idempotent: the same call later revokes nothing and moves nothing.
	n, got, err = r.RevokeMatching(f.ctx, rf, bulkAt.Add(time.Minute), sessiond.ReasonAdmin)
	if err != nil || n != 0 || len(got) != 0 {
		t.Errorf("second RevokeMatching(%+v) = %d, %q, %v; want 0, none, nil", rf, n, got, err)
	}
	for _, s := range slices.Concat(hit, missed, p.dead) {
		f.wantSession(s)
	}
	// What every node reloads into its revoked-session set.
	revs, err := f.st.Revocations(f.ctx, bulkAt)
	if err != nil {
		t.Fatalf("Revocations(%v) = %v; want nil", bulkAt, err)
	}
	checkRevocations(t, fmt.Sprintf("Revocations(%v) after RevokeMatching", bulkAt), revs, wantRevs)
}
