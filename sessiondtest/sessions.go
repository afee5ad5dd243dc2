package sessiondtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

func testCreate(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	t.Run("RoundTrip", func(t *testing.T) {
		f := setup(t, newStore)
		s := NewSession("alice", t0)
		s.Strategy = sessiond.StrategyHybrid
		s.Persistent = true
		f.create(clone(s), NewToken(sessiond.KindRefresh, s.ID, t0))
		f.wantSession(s)
	})
	t.Run("RoundTripEveryStrategy", func(t *testing.T) {
		f := setup(t, newStore)
		for _, strategy := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyJWT, sessiond.StrategyHybrid} {
			s := NewSession("alice", t0)
			s.Strategy = strategy
			f.create(clone(s))
			f.wantSession(s)
		}
	})
	// Each session comes back from Get exactly as stored.
	for _, tc := range []struct {
		name    string
		subject string
		created time.Time
		edit    func(s *sessiond.Session)
	}{
		{"RoundTripZeroValues", "", t0, func(s *sessiond.Session) {
			s.Client = sessiond.Client{}
			s.Claims = nil
		}},
		{"RoundTripClaimsBytes", "alice", t0, func(s *sessiond.Session) {
			// Not normalised, re-encoded or reordered: the bytes come back as given.
			s.Claims = []byte(`{"z": 1,  "a":"é\u00e9","n":[1.50,null,{"x":true}]}`)
		}},
		{"GetExpired", "alice", t0.Add(-48 * time.Hour), func(*sessiond.Session) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, newStore)
			s := NewSession(tc.subject, tc.created)
			tc.edit(s)
			f.create(clone(s))
			f.wantSession(s)
		})
	}
	t.Run("GetUnknown", func(t *testing.T) {
		f := setup(t, newStore)
		f.create(NewSession("alice", t0))
		f.wantGone(sessiond.NewSessionID())
	})
	t.Run("ConflictSessionID", func(t *testing.T) {
		f := setup(t, newStore)
		s := NewSession("alice", t0)
		f.create(clone(s))
		dup := NewSession("mallory", t0.Add(time.Minute))
		dup.ID = s.ID
		tok := NewToken(sessiond.KindAccess, s.ID, t0)
		err := f.st.Create(f.ctx, dup, tok)
		wantErr(t, "Create(existing ID)", err, sessiond.ErrConflict)
		f.wantSession(s)
		f.wantNoToken(tok.Hash)
	})
	t.Run("ConflictTokenHash", func(t *testing.T) {
		f := setup(t, newStore)
		s := NewSession("alice", t0)
		taken := NewToken(sessiond.KindAccess, s.ID, t0)
		f.create(clone(s), taken)

		other := NewSession("bob", t0)
		fresh := NewToken(sessiond.KindRefresh, other.ID, t0)
		dup := NewToken(sessiond.KindAccess, other.ID, t0)
		dup.Hash = taken.Hash
		f.createRefused("Create(existing token hash)", sessiond.ErrConflict, other, fresh, dup)
		f.wantToken(taken)
	})
	t.Run("ConflictRepeatedTokenHash", func(t *testing.T) {
		f := setup(t, newStore)
		s := NewSession("alice", t0)
		a := NewToken(sessiond.KindAccess, s.ID, t0)
		b := NewToken(sessiond.KindRefresh, s.ID, t0)
		b.Hash = a.Hash
		f.createRefused("Create(same hash twice)", sessiond.ErrConflict, s, a, b)
	})
	t.Run("TokenOfAnotherSession", func(t *testing.T) {
		f := setup(t, newStore)
		s := NewSession("alice", t0)
		tok := NewToken(sessiond.KindAccess, sessiond.NewSessionID(), t0)
		f.createRefused("Create(token of another session)", sessiond.ErrInvalidArgument, s, tok)
	})
}

func testLookup(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	t.Run("AccessAndRefresh", func(t *testing.T) {
		f := setup(t, newStore)
		s := NewSession("alice", t0)
		access := NewToken(sessiond.KindAccess, s.ID, t0)
		access.ExpiresAt = t0.Add(15 * time.Minute)
		refresh := NewToken(sessiond.KindRefresh, s.ID, t0.Add(time.Microsecond))
		refresh.ExpiresAt = t0.Add(7 * 24 * time.Hour)
		f.create(clone(s), access, refresh)
		// A second session, so a store returning "some" token fails.
		other := NewSession("alice", t0)
		f.create(other, NewToken(sessiond.KindAccess, other.ID, t0), NewToken(sessiond.KindRefresh, other.ID, t0))

		for _, tok := range []sessiond.Token{access, refresh} {
			got := f.wantToken(tok)
			checkSession(t, fmt.Sprintf("Lookup(%s token) session", tok.Kind), got, s)
		}
	})
	t.Run("Unknown", func(t *testing.T) {
		f := setup(t, newStore)
		s := NewSession("alice", t0)
		f.create(s, NewToken(sessiond.KindAccess, s.ID, t0))
		f.wantNoToken(randomHash())
		f.wantNoToken(sessiond.TokenHash{})
	})
	t.Run("RevokedSession", func(t *testing.T) {
		f := setup(t, newStore)
		s := NewSession("alice", t0)
		tok := NewToken(sessiond.KindAccess, s.ID, t0)
		f.create(clone(s), tok)
		f.revoke(s.ID, at(time.Minute), sessiond.ReasonLogout)
		got := f.wantToken(tok)
		s.RevokedAt, s.RevokeReason = at(time.Minute), sessiond.ReasonLogout
		checkSession(t, "Lookup(token of revoked session) session", got, s)
	})
}

func testTouch(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	t.Run("UpdatesActivity", func(t *testing.T) {
		f := setup(t, newStore)
		s := NewSession("alice", t0)
		f.create(clone(s))
		last, idle := at(10*time.Minute), at(40*time.Minute)
		if err := f.st.Touch(f.ctx, s.ID, last, idle); err != nil {
			t.Fatalf("Touch(%s) = %v; want nil", s.ID, err)
		}
		s.LastActiveAt, s.IdleExpiresAt = last, idle
		f.wantSession(s)
	})
	t.Run("OnlyThatSession", func(t *testing.T) {
		f := setup(t, newStore)
		s, other := NewSession("alice", t0), NewSession("alice", t0)
		f.create(clone(s))
		f.create(clone(other))
		if err := f.st.Touch(f.ctx, s.ID, at(time.Minute), at(time.Hour)); err != nil {
			t.Fatalf("Touch(%s) = %v; want nil", s.ID, err)
		}
		f.wantSession(other)
	})
	t.Run("Unknown", func(t *testing.T) {
		f := setup(t, newStore)
		f.create(NewSession("alice", t0))
		err := f.st.Touch(f.ctx, sessiond.NewSessionID(), at(time.Minute), at(time.Hour))
		wantErr(t, "Touch(unknown)", err, sessiond.ErrNotFound)
	})
	t.Run("Revoked", func(t *testing.T) {
		f := setup(t, newStore)
		s := NewSession("alice", t0)
		f.create(clone(s))
		f.revoke(s.ID, at(time.Minute), sessiond.ReasonAdmin)
		err := f.st.Touch(f.ctx, s.ID, at(2*time.Minute), at(time.Hour))
		wantErr(t, "Touch(revoked)", err, sessiond.ErrRevoked)
		s.RevokedAt, s.RevokeReason = at(time.Minute), sessiond.ReasonAdmin
		f.wantSession(s) // still revoked, activity not recorded
	})
}
func testList(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	now := at(10 * time.Minute)
	t.Run("LiveOldestFirst", func(t *testing.T) {
		f := setup(t, newStore)
		second := NewSession("alice", t0.Add(2*time.Minute))
		third := NewSession("alice", t0.Add(3*time.Minute))
		first := NewSession("alice", t0.Add(time.Minute))
		revoked := NewSession("alice", t0)
		expired := NewSession("alice", t0)
		expired.ExpiresAt = now // not before now: over
		idle := NewSession("alice", t0)
		idle.IdleExpiresAt = now
		bob := NewSession("bob", t0)
		// Created out of order, so insertion order is not creation order.
		for _, s := range []*sessiond.Session{second, revoked, third, expired, idle, first, bob} {
			f.create(clone(s), NewToken(sessiond.KindAccess, s.ID, s.CreatedAt))
		}
		f.revoke(revoked.ID, t0.Add(time.Second), sessiond.ReasonLogout)

		got, err := f.st.List(f.ctx, "alice", now)
		if err != nil {
			t.Fatalf("List(alice) = %v; want nil", err)
		}
		want := []*sessiond.Session{first, second, third}
		if !slices.Equal(ids(got), ids(want)) {
			t.Fatalf("List(alice) = %v; want %v (first, second, third)", ids(got), ids(want))
		}
		for i := range want {
			checkSession(t, fmt.Sprintf("List(alice)[%d]", i), got[i], want[i])
		}
	})
	t.Run("Empty", func(t *testing.T) {
		f := setup(t, newStore)
		f.create(NewSession("alice", t0))
		got, err := f.st.List(f.ctx, "nobody", now)
		if err != nil || got == nil || len(got) != 0 {
			t.Errorf("List(nobody) = %v (nil: %t), %v; want an empty slice and nil", ids(got), got == nil, err)
		}
	})
	t.Run("ExactSubject", func(t *testing.T) {
		f := setup(t, newStore)
		for subject, id := range createOddSubjects(f) {
			got, err := f.st.List(f.ctx, subject, t0)
			if err != nil || len(got) != 1 || got[0].ID != id {
				t.Errorf("List(%q) = %v, %v; want only %s", subject, ids(got), err, id)
			}
		}
	})
}

// oddSubjects are subjects that mean something to a store's query
// language or key layout: SQL LIKE's wildcards, Redis glob patterns and
// hash tags, quotes. Several would match another as a pattern ("a%" and
// "a_c" match "abc", "*" matches them all), or equal another to a
// collation that folds case, pads with spaces (SQL's PAD SPACE: "abc "
// is "abc") or normalises Unicode (a decomposed "ü" is the composed
// one), so each must be matched as the exact string it is.
var oddSubjects = []string{"abc", "a%", "a_c", "%", "_", "*", "?", "a*", "[a]", "{", "}", "{abc}", "a{b}c",
	`\`, "'", `"`, "ünïcödé", "u\u0308nïcödé", " abc", "abc ", "ABC"}

// unknownSubjects have no session: the suite creates none of them, and
// some no store could keep (PostgreSQL's text holds no NUL byte and only
// UTF-8). Reading one finds nothing.
var unknownSubjects = []string{"nobody", "", "\x00\xff\xfe", "%", "*", "alice*", "{alice}", strings.Repeat("a", 4096)}

// createOddSubjects creates one session, created at t0, for each of
// oddSubjects and returns their IDs by subject.
func createOddSubjects(f *fixture) map[string]sessiond.SessionID {
	f.t.Helper()
	out := make(map[string]sessiond.SessionID, len(oddSubjects))
	for _, subject := range oddSubjects {
		s := NewSession(subject, t0)
		f.create(s)
		out[subject] = s.ID
	}
	return out
}

func testDeleteExpired(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	t.Run("Batches", func(t *testing.T) {
		f := setup(t, newStore)
		before := at(time.Hour)
		type entry struct {
			s      *sessiond.Session
			tokens []sessiond.Token
		}
		add := func(configure func(s *sessiond.Session)) entry {
			s := NewSession("alice", t0)
			configure(s)
			e := entry{s: s, tokens: []sessiond.Token{
				NewToken(sessiond.KindAccess, s.ID, t0),
				NewToken(sessiond.KindRefresh, s.ID, t0),
			}}
			f.create(clone(s), e.tokens...)
			return e
		}
		var expired, live []entry
		for i := range 4 {
			expired = append(expired, add(func(s *sessiond.Session) { // absolute expiry passed
				s.ExpiresAt = before.Add(-time.Duration(i+1) * time.Microsecond)
				s.IdleExpiresAt = s.ExpiresAt
			}))
			expired = append(expired, add(func(s *sessiond.Session) { // idle expiry passed
				s.IdleExpiresAt = before.Add(-time.Duration(i+1) * time.Minute)
			}))
		}
		// Revoked ones too: their expiry ends their place in the revoked
		// set, and nothing else deletes them.
		for _, idle := range []bool{false, true} {
			e := add(func(s *sessiond.Session) {
				s.IdleExpiresAt = before.Add(-time.Minute)
				if !idle {
					s.ExpiresAt = s.IdleExpiresAt
				}
			})
			f.revoke(e.s.ID, t0.Add(time.Second), sessiond.ReasonLogout)
			expired = append(expired, e)
		}
		live = append(live,
			add(func(s *sessiond.Session) { s.ExpiresAt, s.IdleExpiresAt = before, before }), // not before `before`
			add(func(s *sessiond.Session) { s.IdleExpiresAt = before.Add(time.Minute) }),
			add(func(s *sessiond.Session) { s.IdleExpiresAt = before.Add(time.Minute) }),
		)
		// A revoked session stays until it expires: the revoked set needs it.
		f.revoke(live[2].s.ID, t0.Add(time.Second), sessiond.ReasonLogout)
		live[2].s.RevokedAt, live[2].s.RevokeReason = t0.Add(time.Second), sessiond.ReasonLogout

		const limit = 3
		var counts []int
		total := 0
		for range 10 {
			n, err := f.st.DeleteExpired(f.ctx, before, limit)
			if err != nil {
				t.Fatalf("DeleteExpired(%v, %d) = %v; want nil", before, limit, err)
			}
			counts = append(counts, n)
			if n < 0 || n > limit {
				t.Fatalf("DeleteExpired(%v, %d) = %d; want 0..%d", before, limit, n, limit)
			}
			if n == 0 {
				break
			}
			total += n
		}
		if counts[0] != limit {
			t.Errorf("first DeleteExpired(%v, %d) = %d; want %d (%d are expired)", before, limit, counts[0], limit, len(expired))
		}
		if total != len(expired) || counts[len(counts)-1] != 0 {
			t.Errorf("DeleteExpired(%v, %d) calls returned %v (total %d); want a total of %d, then 0", before, limit, counts, total, len(expired))
		}
		for _, e := range expired {
			f.wantGone(e.s.ID)
			for _, tok := range e.tokens {
				f.wantNoToken(tok.Hash)
			}
			// Lookup may answer ErrNotFound for a token whose session is
			// gone while its row stays: a hash still held is ErrConflict
			// to a new session's Create, and the rows pile up.
			s := NewSession("alice", at(2*time.Hour))
			toks := slices.Clone(e.tokens)
			for i := range toks {
				toks[i].SessionID = s.ID
			}
			if err := f.st.Create(f.ctx, s, toks...); err != nil {
				t.Errorf("Create(a session with the tokens of expired session %s) = %v; want nil (DeleteExpired deletes a session's tokens with it)", e.s.ID, err)
			}
		}
		for _, e := range live {
			f.wantSession(e.s)
			for _, tok := range e.tokens {
				f.wantToken(tok)
			}
		}
	})
	t.Run("Nothing", func(t *testing.T) {
		f := setup(t, newStore)
		s := NewSession("alice", t0)
		f.create(clone(s))
		n, err := f.st.DeleteExpired(f.ctx, t0, 100)
		if n != 0 || err != nil {
			t.Errorf("DeleteExpired(t0, 100) = %d, %v; want 0, nil", n, err)
		}
		f.wantSession(s)
	})
	t.Run("BadLimit", func(t *testing.T) {
		f := setup(t, newStore)
		s := NewSession("alice", t0)
		f.create(clone(s))
		for _, limit := range []int{0, -1} {
			n, err := f.st.DeleteExpired(f.ctx, at(100*time.Hour), limit)
			if n != 0 || !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Errorf("DeleteExpired(limit %d) = %d, %v; want 0, ErrInvalidArgument", limit, n, err)
			}
		}
		f.wantSession(s)
	})
}

// mutate changes every field of s a caller could change in place.
func mutate(s *sessiond.Session) {
	for i := range s.Claims {
		s.Claims[i] = 'X'
	}
	s.Subject = "mallory"
	s.Client.IP = "198.51.100.66"
	s.ExpiresAt = s.ExpiresAt.Add(1000 * time.Hour)
	s.RevokeReason = "mutated"
}

func testCopies(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	t.Run("Create", func(t *testing.T) {
		f := setup(t, newStore)
		s := NewSession("alice", t0)
		want := clone(s)
		f.create(s)
		mutate(s)
		f.wantSession(want)
	})
	t.Run("Get", func(t *testing.T) {
		f := setup(t, newStore)
		s := NewSession("alice", t0)
		f.create(clone(s))
		mutate(f.get(s.ID))
		f.wantSession(s)
	})
	t.Run("Lookup", func(t *testing.T) {
		f := setup(t, newStore)
		s := NewSession("alice", t0)
		tok := NewToken(sessiond.KindAccess, s.ID, t0)
		f.create(clone(s), tok)
		_, got := f.lookup(tok.Hash)
		mutate(got)
		f.wantSession(s)
	})
	t.Run("List", func(t *testing.T) {
		f := setup(t, newStore)
		s := NewSession("alice", t0)
		f.create(clone(s))
		list, err := f.st.List(f.ctx, "alice", t0)
		if err != nil || len(list) != 1 {
			t.Fatalf("List(alice) = %v, %v; want 1 session", ids(list), err)
		}
		mutate(list[0])
		f.wantSession(s)
	})
	t.Run("Revoke", func(t *testing.T) {
		f := setup(t, newStore)
		s := NewSession("alice", t0)
		f.create(clone(s))
		got := f.revoke(s.ID, at(time.Minute), sessiond.ReasonLogout)
		mutate(got)
		s.RevokedAt, s.RevokeReason = at(time.Minute), sessiond.ReasonLogout
		f.wantSession(s)
	})
	t.Run("Independent", func(t *testing.T) {
		f := setup(t, newStore)
		s := NewSession("alice", t0)
		f.create(clone(s))
		a, b := f.get(s.ID), f.get(s.ID)
		if len(a.Claims) > 0 && &a.Claims[0] == &b.Claims[0] {
			t.Errorf("two Get(%s) calls return the same Claims array; want copies", s.ID)
		}
		mutate(a)
		if !bytes.Equal(b.Claims, s.Claims) {
			t.Errorf("after changing one Get result, another has Claims %s; want %s", b.Claims, s.Claims)
		}
	})
}

func testCanceledContext(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	f := setup(t, newStore)
	s := NewSession("alice", t0)
	tok := NewToken(sessiond.KindRefresh, s.ID, t0)
	f.create(clone(s), tok)

	// A call its context cut fails with that context's error (or
	// ErrStoreUnavailable), never with an answer such as ErrNotFound: the
	// Manager reports a deadline as the store not answering in time, and
	// would report "not found" as an unknown token, which makes a client
	// drop a session that is fine.
	canceled, cancel := context.WithCancel(f.ctx)
	cancel()
	expired, stop := context.WithDeadline(f.ctx, time.Now().Add(-time.Second))
	defer stop()
	for _, c := range []struct {
		name string
		ctx  context.Context
		want error
	}{{"canceled context", canceled, context.Canceled}, {"past deadline", expired, context.DeadlineExceeded}} {
		canceledCalls(c.ctx, t, f, s, tok, c.name, c.want)
	}
}

// canceledCalls makes every base call with ctx, which has ended with
// want, on f's store, which holds s and its refresh token tok, and checks
// that each fails with want or ErrStoreUnavailable and changes nothing.
func canceledCalls(ctx context.Context, t *testing.T, f *fixture, s *sessiond.Session, tok sessiond.Token, name string, want error) {
	t.Helper()
	fresh := NewSession("alice", t0)
	calls := []struct {
		name string
		call func() error
	}{
		{"Create", func() error { return f.st.Create(ctx, fresh, NewToken(sessiond.KindAccess, fresh.ID, t0)) }},
		{"Get", func() error { _, err := f.st.Get(ctx, s.ID); return err }},
		{"Lookup", func() error { _, _, err := f.st.Lookup(ctx, tok.Hash); return err }},
		{"Touch", func() error { return f.st.Touch(ctx, s.ID, at(time.Minute), at(time.Hour)) }},
		{"SwapRefresh", func() error {
			return f.st.SwapRefresh(ctx, sessiond.RefreshSwap{
				Old: tok.Hash, Next: NewToken(sessiond.KindRefresh, s.ID, at(time.Minute)),
				Now: at(time.Minute), GraceSince: at(time.Minute), LastActiveAt: at(time.Minute), IdleExpiresAt: at(time.Hour),
			})
		}},
		{"Revoke", func() error { _, err := f.st.Revoke(ctx, s.ID, at(time.Minute), sessiond.ReasonAdmin); return err }},
		{"RevokeSubject", func() error {
			_, err := f.st.RevokeSubject(ctx, "alice", "", at(time.Minute), sessiond.ReasonAdmin)
			return err
		}},
		{"List", func() error { _, err := f.st.List(ctx, "alice", t0); return err }},
		{"Revocations", func() error { _, err := f.st.Revocations(ctx, t0); return err }},
		{"DeleteExpired", func() error { _, err := f.st.DeleteExpired(ctx, at(100*time.Hour), 10); return err }},
		{"Ping", func() error { return f.st.Ping(ctx) }},
	}
	for _, c := range calls {
		if err := c.call(); err == nil {
			t.Errorf("%s(%s) = nil error; want an error", c.name, name)
		} else if !errors.Is(err, want) && !errors.Is(err, sessiond.ErrStoreUnavailable) {
			t.Errorf("%s(%s) = %v; want %v or ErrStoreUnavailable", c.name, name, err, want)
		}
	}
	// Nothing the calls above would have changed did change.
	f.wantGone(fresh.ID)
	f.wantSession(s)
	f.wantToken(tok)
}

func testBadInput(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	f := setup(t, newStore)
	f.create(NewSession("alice", t0))
	bad := []sessiond.SessionID{
		"",
		"x",
		"../../etc/passwd",
		"' OR '1'='1",
		"%",
		"*",
		"alice",
		"\x00\xff\xfe",
		"ünïcödé",
		sessiond.SessionID(strings.Repeat("a", 4096)),
		sessiond.SessionID(strings.ToUpper(string(sessiond.NewSessionID()))),
	}
	for _, id := range bad {
		if got, err := f.st.Get(f.ctx, id); !errors.Is(err, sessiond.ErrNotFound) {
			t.Errorf("Get(%.40q) = %v, %v; want ErrNotFound", id, got, err)
		}
		if err := f.st.Touch(f.ctx, id, at(time.Minute), at(time.Hour)); !errors.Is(err, sessiond.ErrNotFound) {
			t.Errorf("Touch(%.40q) = %v; want ErrNotFound", id, err)
		}
		if got, err := f.st.Revoke(f.ctx, id, at(time.Minute), sessiond.ReasonAdmin); !errors.Is(err, sessiond.ErrNotFound) {
			t.Errorf("Revoke(%.40q) = %v, %v; want ErrNotFound", id, got, err)
		}
		if id == "alice" {
			continue // a real subject, for List
		}
		if got, err := f.st.List(f.ctx, string(id), t0); err != nil || len(got) != 0 {
			t.Errorf("List(%.40q) = %v, %v; want none and nil", id, ids(got), err)
		}
	}
}

func testClosed(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	f := setup(t, newStore)
	s := NewSession("alice", t0)
	tok := NewToken(sessiond.KindRefresh, s.ID, t0)
	f.create(clone(s), tok)
	if err := f.st.Close(); err != nil {
		t.Fatalf("Close() = %v; want nil", err)
	}
	if err := f.st.Close(); err != nil {
		t.Errorf("second Close() = %v; want nil", err)
	}
	for _, c := range everyCall(f.st, s, tok) {
		if err := c.call(f.ctx); !errors.Is(err, sessiond.ErrStoreUnavailable) {
			t.Errorf("%s after Close = %v; want ErrStoreUnavailable", c.name, err)
		}
	}
}
