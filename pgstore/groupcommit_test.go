package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
)

// grouped runs each of fns in its own goroutine while every group slot is
// held, waits until all of them queue, then releases the slots so that
// they go out as one group, and returns their errors in order.
func grouped(t *testing.T, st *pgstore.Store, fns ...func() error) []error {
	t.Helper()
	release := pgstore.HoldGroupSlots(st)
	errs := make([]error, len(fns))
	var wg sync.WaitGroup
	for i, fn := range fns {
		wg.Go(func() { errs[i] = fn() })
	}
	for pgstore.QueuedWrites(st) < len(fns) {
		time.Sleep(time.Millisecond)
	}
	release()
	wg.Wait()
	return errs
}

// createdEvent is the record of sess's creation.
func createdEvent(sess *sessiond.Session) sessiond.ChangeRecords {
	return sessiond.ChangeRecords{Events: []sessiond.Event{{
		ID: sessiond.NewEventID(sess.CreatedAt), Time: sess.CreatedAt, Type: sessiond.EventSessionCreated,
		Subject: sess.Subject, SessionID: sess.ID,
	}}}
}

// eventsOf counts the events stored for session id.
func eventsOf(t *testing.T, st *pgstore.Store, id sessiond.SessionID) int {
	t.Helper()
	events, _, err := st.QueryEvents(t.Context(), sessiond.EventQuery{SessionID: id})
	if err != nil {
		t.Fatalf("QueryEvents(%s) = %v", id, err)
	}
	return len(events)
}

func TestGroupCommit_Create(t *testing.T) {
	t.Run("OneTransactionForAll", func(t *testing.T) {
		st, _ := newStore(t, pgstore.Options{})
		const n = 12
		sessions := make([]*sessiond.Session, n)
		fns := make([]func() error, n)
		for i := range sessions {
			sess := newSession(fmt.Sprintf("user%d", i), t0)
			sessions[i] = sess
			fns[i] = func() error {
				_, err := st.CreateRecorded(t.Context(), sess, 0, false, createdEvent(sess), nil,
					newToken(sessiond.KindRefresh, sess.ID, t0))
				return err
			}
		}
		for i, err := range grouped(t, st, fns...) {
			if err != nil {
				t.Errorf("CreateRecorded(session %d) = %v; want nil", i, err)
			}
		}
		if got := pgstore.GroupedWrites(st); got != n {
			t.Errorf("GroupedWrites = %d; want %d (one group)", got, n)
		}
		for _, sess := range sessions {
			if _, err := st.Get(t.Context(), sess.ID); err != nil {
				t.Errorf("Get(%s) = %v; want the session", sess.ID, err)
			}
			if got := eventsOf(t, st, sess.ID); got != 1 {
				t.Errorf("events of %s = %d; want 1", sess.ID, got)
			}
		}
	})

	t.Run("DuplicateFailsAloneOthersCommit", func(t *testing.T) {
		st, _ := newStore(t, pgstore.Options{})
		taken := newSession("mallory", t0)
		if err := st.Create(t.Context(), taken); err != nil {
			t.Fatalf("Create() = %v", err)
		}
		dup := newSession("mallory", t0)
		dup.ID = taken.ID
		ok1, ok2 := newSession("alice", t0), newSession("bob", t0)
		create := func(sess *sessiond.Session) func() error {
			return func() error {
				_, err := st.CreateRecorded(t.Context(), sess, 0, false, createdEvent(sess), nil)
				return err
			}
		}
		errs := grouped(t, st, create(ok1), create(dup), create(ok2))
		if errs[0] != nil || errs[2] != nil {
			t.Errorf("CreateRecorded(others) = %v, %v; want nil, nil", errs[0], errs[2])
		}
		if !errors.Is(errs[1], sessiond.ErrConflict) {
			t.Errorf("CreateRecorded(duplicate ID) = %v; want ErrConflict", errs[1])
		}
		if got := pgstore.GroupedWrites(st); got != 0 {
			t.Errorf("GroupedWrites = %d; want 0 (the group rolled back, each ran alone)", got)
		}
		for _, sess := range []*sessiond.Session{ok1, ok2} {
			if got := eventsOf(t, st, sess.ID); got != 1 {
				t.Errorf("events of %s = %d; want 1", sess.Subject, got)
			}
		}
		if got := eventsOf(t, st, taken.ID); got != 0 {
			t.Errorf("events of the duplicate = %d; want 0", got)
		}
	})

	t.Run("CanceledWhileQueuedStoresNothing", func(t *testing.T) {
		st, _ := newStore(t, pgstore.Options{})
		release := pgstore.HoldGroupSlots(st)
		ctx, cancel := context.WithCancel(t.Context())
		sess := newSession("alice", t0)
		done := make(chan error, 1)
		go func() { done <- st.Create(ctx, sess) }()
		for pgstore.QueuedWrites(st) < 1 {
			time.Sleep(time.Millisecond)
		}
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Create(canceled while queued) = %v; want context.Canceled", err)
		}
		release()
		if _, err := st.Get(t.Context(), sess.ID); !errors.Is(err, sessiond.ErrNotFound) {
			t.Errorf("Get(withdrawn session) = %v; want ErrNotFound", err)
		}
	})
}

// chain is a session with one live refresh token, for swaps.
type chain struct {
	sess *sessiond.Session
	tok  sessiond.Token
}

func newChain(t *testing.T, st *pgstore.Store, subject string) chain {
	t.Helper()
	sess := newSession(subject, t0)
	tok := newToken(sessiond.KindRefresh, sess.ID, t0)
	if err := st.Create(t.Context(), sess, tok); err != nil {
		t.Fatalf("Create(%s) = %v", subject, err)
	}
	return chain{sess, tok}
}

// swapOf returns a swap of c's token, at t0 plus a minute, with zero grace
// and a session.refreshed event.
func swapOf(c chain) sessiond.RefreshSwap {
	now := t0.Add(time.Minute)
	return sessiond.RefreshSwap{
		Old: c.tok.Hash, Next: newToken(sessiond.KindRefresh, c.sess.ID, now),
		Now: now, GraceSince: now, LastActiveAt: now, IdleExpiresAt: now.Add(30 * time.Minute),
		Events: []sessiond.Event{{ID: sessiond.NewEventID(now), Time: now, Type: sessiond.EventSessionRefreshed,
			Subject: c.sess.Subject, SessionID: c.sess.ID}},
	}
}

func TestGroupCommit_SwapRefresh(t *testing.T) {
	t.Run("OutcomesAsIfOneByOne", func(t *testing.T) {
		st, _ := newStore(t, pgstore.Options{})
		a, b, c := newChain(t, st, "alice"), newChain(t, st, "bob"), newChain(t, st, "carol")
		// Two swaps of b's one token: exactly one wins.
		b1, b2 := swapOf(b), swapOf(b)
		var unknown sessiond.TokenHash
		unknown[0] = 1
		missing := swapOf(c)
		missing.Old = unknown
		swaps := []sessiond.RefreshSwap{swapOf(a), b1, b2, swapOf(c), missing}
		fns := make([]func() error, len(swaps))
		for i, sw := range swaps {
			fns[i] = func() error { return st.SwapRefresh(t.Context(), sw) }
		}
		errs := grouped(t, st, fns...)
		if got := pgstore.GroupedWrites(st); got != int64(len(swaps)) {
			t.Errorf("GroupedWrites = %d; want %d (one group)", got, len(swaps))
		}
		for _, i := range []int{0, 3} {
			if errs[i] != nil {
				t.Errorf("SwapRefresh(swap %d) = %v; want nil", i, errs[i])
			}
		}
		if !errors.Is(errs[4], sessiond.ErrNotFound) {
			t.Errorf("SwapRefresh(unknown token) = %v; want ErrNotFound", errs[4])
		}
		won := 0
		for _, err := range errs[1:3] {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, sessiond.ErrRefreshReused):
				t.Errorf("SwapRefresh(same token twice) = %v; want nil or ErrRefreshReused", err)
			}
		}
		if won != 1 {
			t.Errorf("%d of two swaps of one token succeeded; want exactly 1", won)
		}
		for _, ch := range []chain{a, b, c} {
			// The creation was not recorded here; the one successful swap was.
			if got := eventsOf(t, st, ch.sess.ID); got != 1 {
				t.Errorf("events of %s = %d; want 1", ch.sess.Subject, got)
			}
		}
		winner := b1.Next
		if errs[1] != nil {
			winner = b2.Next
		}
		if tok, _, err := st.Lookup(t.Context(), winner.Hash); err != nil || !tok.RetiredAt.IsZero() {
			t.Errorf("Lookup(winning successor) = %+v, %v; want a live token", tok, err)
		}
	})

	t.Run("LockedSessionWaitsAloneOthersCommit", func(t *testing.T) {
		st, schema := newStore(t, pgstore.Options{})
		a, b := newChain(t, st, "alice"), newChain(t, st, "bob")
		// Another transaction holds a's session row.
		tx := otherTx(t, testDSN(t))
		if _, err := tx.Exec(t.Context(), "SELECT 1 FROM "+pgx.Identifier{schema, "sessions"}.Sanitize()+
			" WHERE id = $1 FOR UPDATE", string(a.sess.ID)); err != nil {
			t.Fatalf("lock: %v", err)
		}
		release := pgstore.HoldGroupSlots(st)
		aDone, bDone := make(chan error, 1), make(chan error, 1)
		go func() { aDone <- st.SwapRefresh(t.Context(), swapOf(a)) }()
		go func() { bDone <- st.SwapRefresh(t.Context(), swapOf(b)) }()
		for pgstore.QueuedWrites(st) < 2 {
			time.Sleep(time.Millisecond)
		}
		release()
		// The group met the lock and rolled back; b ran again alone and
		// commits while a waits for the lock.
		if err := <-bDone; err != nil {
			t.Errorf("SwapRefresh(b) = %v; want nil", err)
		}
		select {
		case err := <-aDone:
			t.Fatalf("SwapRefresh(a) = %v while its session is locked; want it to wait", err)
		default:
		}
		if err := tx.Commit(t.Context()); err != nil {
			t.Fatalf("commit: %v", err)
		}
		if err := <-aDone; err != nil {
			t.Errorf("SwapRefresh(a) after the lock = %v; want nil", err)
		}
		if got := pgstore.GroupedWrites(st); got != 0 {
			t.Errorf("GroupedWrites = %d; want 0", got)
		}
		for _, ch := range []chain{a, b} {
			if got := eventsOf(t, st, ch.sess.ID); got != 1 {
				t.Errorf("events of %s = %d; want 1", ch.sess.Subject, got)
			}
		}
	})
}

// TestGroupCommit_Deadline: a group whose statement waits (here on a
// duplicate key another transaction has not committed; a group's row locks
// do not wait) returns at its writes' deadlines instead of holding them
// all until the wait ends.
func TestGroupCommit_Deadline(t *testing.T) {
	st, schema := newStore(t, pgstore.Options{})
	tx := otherTx(t, testDSN(t))
	pending := newSession("mallory", t0)
	if _, err := tx.Exec(t.Context(), "INSERT INTO "+pgx.Identifier{schema, "sessions"}.Sanitize()+
		" (id, subject, strategy, created_at, last_active_at, idle_expires_at, expires_at) VALUES ($1, 'm', 'hybrid', $2, $2, $2, $2)",
		string(pending.ID), t0); err != nil {
		t.Fatalf("insert: %v", err)
	}
	dup, other := newSession("mallory", t0), newSession("alice", t0)
	dup.ID = pending.ID
	create := func(sess *sessiond.Session) func() error {
		return func() error {
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			defer cancel()
			return st.Create(ctx, sess)
		}
	}
	errs := grouped(t, st, create(dup), create(other))
	for i, err := range errs {
		if err == nil {
			t.Errorf("Create(%d) behind an uncommitted duplicate = nil; want an error at the deadline", i)
		}
	}
	// Without the deadline the group, and so this test, would wait for
	// the rollback below. The outcome of a write that ended at its deadline
	// is unknown, as for any statement cut off by its context: the server
	// may still commit it once the lock is gone.
	if err := tx.Rollback(t.Context()); err != nil {
		t.Fatalf("rollback: %v", err)
	}
}

// createSpec is one login of TestGroupCommit_CreateSetKeepsEveryField: a
// session, its tokens and its records, built afresh for each store.
type createSpec func(now time.Time) (*sessiond.Session, []sessiond.Token, sessiond.ChangeRecords)

// The creates of a group go out as one statement (createset.go). Every
// field of every session, token, event and delivery comes back as from the
// same create run alone, whatever each login carries: several tokens, a
// retired one, none; claims or none; a revoked session; events and
// deliveries on some logins only.
func TestGroupCommit_CreateSetKeepsEveryField(t *testing.T) {
	event := func(s *sessiond.Session, typ sessiond.EventType) sessiond.Event {
		return sessiond.Event{ID: sessiond.NewEventID(s.CreatedAt), Time: s.CreatedAt, Type: typ, Subject: s.Subject,
			SessionID: s.ID, Client: s.Client, Details: map[string]any{"strategy": string(s.Strategy)}}
	}
	delivery := func(e sessiond.Event, endpoint string) sessiond.Delivery {
		return sessiond.Delivery{ID: "d_" + e.ID, Endpoint: endpoint, EventID: e.ID, Payload: []byte(`{"id":"` + e.ID + `"}`),
			State: sessiond.DeliveryPending, NextAttemptAt: e.Time, CreatedAt: e.Time, UpdatedAt: e.Time}
	}
	specs := []createSpec{
		func(now time.Time) (*sessiond.Session, []sessiond.Token, sessiond.ChangeRecords) {
			s := newSession("alice", now)
			s.Persistent = true
			e := event(s, sessiond.EventSessionCreated)
			return s, []sessiond.Token{newToken(sessiond.KindAccess, s.ID, now), newToken(sessiond.KindRefresh, s.ID, now)},
				sessiond.ChangeRecords{Events: []sessiond.Event{e}, Deliveries: []sessiond.Delivery{delivery(e, "siem")}}
		},
		func(now time.Time) (*sessiond.Session, []sessiond.Token, sessiond.ChangeRecords) {
			s := newSession("bob", now)
			s.Claims = nil
			s.Client = sessiond.Client{}
			s.RevokedAt, s.RevokeReason = now.Add(time.Second), sessiond.ReasonLogout
			old := newToken(sessiond.KindRefresh, s.ID, now)
			old.RetiredAt = now.Add(time.Second)
			return s, []sessiond.Token{old}, sessiond.ChangeRecords{}
		},
		func(now time.Time) (*sessiond.Session, []sessiond.Token, sessiond.ChangeRecords) {
			s := newSession("carol", now)
			s.Strategy = sessiond.StrategyJWT
			return s, nil, sessiond.ChangeRecords{Events: []sessiond.Event{event(s, sessiond.EventSessionCreated), event(s, sessiond.EventSessionRotated)}}
		},
		func(now time.Time) (*sessiond.Session, []sessiond.Token, sessiond.ChangeRecords) {
			s := newSession("dave", now)
			toks := make([]sessiond.Token, 3)
			for i := range toks {
				toks[i] = newToken(sessiond.KindRefresh, s.ID, now.Add(time.Duration(i)*time.Second))
			}
			return s, toks, sessiond.ChangeRecords{Events: []sessiond.Event{event(s, sessiond.EventSessionCreated)}}
		},
	}
	st, _ := newStore(t, pgstore.Options{})
	ctx := t.Context()
	type made struct {
		sess *sessiond.Session
		toks []sessiond.Token
		rec  sessiond.ChangeRecords
	}
	build := func() []made {
		out := make([]made, len(specs))
		for i, spec := range specs {
			s, toks, rec := spec(t0)
			out[i] = made{s, toks, rec}
		}
		return out
	}
	create := func(m made) error {
		_, err := st.CreateRecorded(ctx, m.sess, 0, false, m.rec, nil, m.toks...)
		return err
	}
	alone, group := build(), build()
	for _, m := range alone {
		if err := create(m); err != nil {
			t.Fatalf("CreateRecorded(%s) alone = %v", m.sess.Subject, err)
		}
	}
	fns := make([]func() error, len(group))
	for i, m := range group {
		fns[i] = func() error { return create(m) }
	}
	for i, err := range grouped(t, st, fns...) {
		if err != nil {
			t.Fatalf("CreateRecorded(%s) in a group = %v", group[i].sess.Subject, err)
		}
	}
	if got := pgstore.GroupedWrites(st); got != int64(len(group)) {
		t.Fatalf("GroupedWrites = %d; want %d (one group)", got, len(group))
	}

	// What a store returns for m, with m's own IDs cleared so that the
	// two copies compare.
	type stored struct {
		sess   *sessiond.Session
		toks   []sessiond.Token
		events []sessiond.Event
	}
	read := func(m made) stored {
		got, err := st.Get(ctx, m.sess.ID)
		if err != nil {
			t.Fatalf("Get(%s) = %v", m.sess.Subject, err)
		}
		got.ID = ""
		var out stored
		out.sess = got
		for _, tok := range m.toks {
			tk, _, err := st.Lookup(ctx, tok.Hash)
			if err != nil {
				t.Fatalf("Lookup(%s's token) = %v", m.sess.Subject, err)
			}
			tk.Hash, tk.SessionID = sessiond.TokenHash{}, ""
			out.toks = append(out.toks, tk)
		}
		events, _, err := st.QueryEvents(ctx, sessiond.EventQuery{SessionID: m.sess.ID})
		if err != nil {
			t.Fatalf("QueryEvents(%s) = %v", m.sess.Subject, err)
		}
		for _, e := range events {
			e.ID, e.SessionID = "", ""
			out.events = append(out.events, e)
		}
		// Two events of one instant are in the order of their random IDs.
		slices.SortFunc(out.events, func(a, b sessiond.Event) int { return strings.Compare(string(a.Type), string(b.Type)) })
		return out
	}
	for i := range specs {
		a, g := read(alone[i]), read(group[i])
		if !reflect.DeepEqual(g, a) {
			t.Errorf("%s created in a group:\n got %+v\nwant %+v (as created alone)", group[i].sess.Subject, g, a)
		}
		if len(g.toks) != len(group[i].toks) || len(g.events) != len(group[i].rec.Events) {
			t.Errorf("%s: %d tokens and %d events stored; want %d and %d", group[i].sess.Subject,
				len(g.toks), len(g.events), len(group[i].toks), len(group[i].rec.Events))
		}
	}
	// bob is stored revoked, alone and in the group: both are revocations
	// Revocations lists (revocation_log), as the revocation stream must.
	revs, err := st.Revocations(ctx, t0)
	if err != nil {
		t.Fatalf("Revocations = %v", err)
	}
	var logged []sessiond.SessionID
	for _, r := range revs {
		logged = append(logged, r.SessionID)
	}
	for _, m := range []made{alone[1], group[1]} {
		if !slices.Contains(logged, m.sess.ID) {
			t.Errorf("Revocations(%v) = %v; want bob's session %s, stored revoked", t0, logged, m.sess.ID)
		}
	}
	pending, err := st.ListDeliveries(ctx, sessiond.DeliveryPending, 10)
	if err != nil {
		t.Fatalf("ListDeliveries = %v", err)
	}
	want := map[string]bool{"d_" + alone[0].rec.Events[0].ID: true, "d_" + group[0].rec.Events[0].ID: true}
	if len(pending) != len(want) {
		t.Errorf("pending deliveries = %d; want %d", len(pending), len(want))
	}
	for _, d := range pending {
		if !want[d.ID] || d.Endpoint != "siem" || string(d.Payload) != `{"id":"`+d.EventID+`"}` {
			t.Errorf("delivery %+v; want one of %v to siem with its event's payload", d, want)
		}
	}
}

// swapCase is one refresh of TestGroupCommit_SwapSetAsOneByOne: setup
// stores what it needs in st and returns the swap, and the tokens whose
// state to compare afterwards.
type swapCase struct {
	name  string
	setup func(t *testing.T, st *pgstore.Store) (sessiond.RefreshSwap, []sessiond.TokenHash)
}

// The swaps of a group with one write per session go out as one statement
// (swapset.go). Each gets the outcome, and leaves the tokens, session and
// records, that it gets and leaves run alone, one after the other, for
// every way a refresh can end.
func TestGroupCommit_SwapSetAsOneByOne(t *testing.T) {
	now := t0.Add(time.Minute)
	withRecords := func(sw sessiond.RefreshSwap, deliveries bool) sessiond.RefreshSwap {
		if deliveries {
			e := sw.Events[0]
			sw.Deliveries = []sessiond.Delivery{{ID: "d_" + e.ID, Endpoint: "siem", EventID: e.ID, Payload: []byte(`{}`),
				State: sessiond.DeliveryPending, NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}}
		}
		return sw
	}
	// swapped returns a chain whose token was swapped once (at t0 + 30 s),
	// and that swap.
	swapped := func(t *testing.T, st *pgstore.Store, subject string) (chain, sessiond.RefreshSwap) {
		c := newChain(t, st, subject)
		first := swapOf(c)
		first.Now, first.GraceSince = t0.Add(30*time.Second), t0.Add(30*time.Second)
		first.Next.IssuedAt = first.Now
		if err := st.SwapRefresh(t.Context(), first); err != nil {
			t.Fatalf("first SwapRefresh(%s) = %v", subject, err)
		}
		return c, first
	}
	cases := []swapCase{
		{"current token, event and delivery", func(t *testing.T, st *pgstore.Store) (sessiond.RefreshSwap, []sessiond.TokenHash) {
			c := newChain(t, st, "alice")
			sw := withRecords(swapOf(c), true)
			return sw, []sessiond.TokenHash{sw.Old, sw.Next.Hash}
		}},
		{"current token, no records", func(t *testing.T, st *pgstore.Store) (sessiond.RefreshSwap, []sessiond.TokenHash) {
			c := newChain(t, st, "bob")
			sw := swapOf(c)
			sw.Events = nil
			return sw, []sessiond.TokenHash{sw.Old, sw.Next.Hash}
		}},
		{"unknown token", func(t *testing.T, st *pgstore.Store) (sessiond.RefreshSwap, []sessiond.TokenHash) {
			c := newChain(t, st, "carol")
			sw := swapOf(c)
			sw.Old[0] ^= 0xff
			return sw, []sessiond.TokenHash{c.tok.Hash, sw.Next.Hash}
		}},
		{"reused outside the grace window", func(t *testing.T, st *pgstore.Store) (sessiond.RefreshSwap, []sessiond.TokenHash) {
			c, first := swapped(t, st, "dave")
			sw := withRecords(swapOf(c), true) // GraceSince = Now: no grace
			return sw, []sessiond.TokenHash{sw.Old, first.Next.Hash, sw.Next.Hash}
		}},
		{"reused within the grace window", func(t *testing.T, st *pgstore.Store) (sessiond.RefreshSwap, []sessiond.TokenHash) {
			c, first := swapped(t, st, "erin")
			sw := withRecords(swapOf(c), false)
			sw.GraceSince = sw.Now.Add(-time.Minute) // the first swap retired it after this
			// The first swap's successor is retired too: one live chain.
			return sw, []sessiond.TokenHash{sw.Old, first.Next.Hash, sw.Next.Hash}
		}},
		{"revoked session", func(t *testing.T, st *pgstore.Store) (sessiond.RefreshSwap, []sessiond.TokenHash) {
			c := newChain(t, st, "frank")
			if _, err := st.Revoke(t.Context(), c.sess.ID, t0.Add(10*time.Second), sessiond.ReasonLogout); err != nil {
				t.Fatalf("Revoke = %v", err)
			}
			sw := swapOf(c)
			return sw, []sessiond.TokenHash{sw.Old, sw.Next.Hash}
		}},
		{"access token", func(t *testing.T, st *pgstore.Store) (sessiond.RefreshSwap, []sessiond.TokenHash) {
			sess := newSession("grace", t0)
			acc := newToken(sessiond.KindAccess, sess.ID, t0)
			if err := st.Create(t.Context(), sess, acc); err != nil {
				t.Fatalf("Create = %v", err)
			}
			sw := swapOf(chain{sess, acc})
			return sw, []sessiond.TokenHash{acc.Hash, sw.Next.Hash}
		}},
		{"activity behind the stored one", func(t *testing.T, st *pgstore.Store) (sessiond.RefreshSwap, []sessiond.TokenHash) {
			// A node whose clock is 10 s ahead touched the session: this
			// swap's earlier activity does not move it back.
			c := newChain(t, st, "judy")
			ahead := now.Add(10 * time.Second)
			if err := st.Touch(t.Context(), c.sess.ID, ahead, ahead.Add(30*time.Minute)); err != nil {
				t.Fatalf("Touch = %v", err)
			}
			sw := swapOf(c)
			return sw, []sessiond.TokenHash{sw.Old, sw.Next.Hash}
		}},
		{"another session's token", func(t *testing.T, st *pgstore.Store) (sessiond.RefreshSwap, []sessiond.TokenHash) {
			victim, thief := newChain(t, st, "heidi"), newChain(t, st, "ivan")
			sw := swapOf(thief)
			sw.Old = victim.tok.Hash
			return sw, []sessiond.TokenHash{victim.tok.Hash, thief.tok.Hash, sw.Next.Hash}
		}},
	}
	// state is what a case leaves: its outcome (the sentinel it matches),
	// each watched token's retirement, the session's activity, and the
	// session's events and deliveries.
	type state struct {
		outcome             string
		retired             []string
		lastActive, idleEnd time.Time
		events, deliveries  int
	}
	outcome := func(err error) string {
		for _, s := range []error{sessiond.ErrNotFound, sessiond.ErrRevoked, sessiond.ErrRefreshReused,
			sessiond.ErrConflict, sessiond.ErrInvalidArgument} {
			if errors.Is(err, s) {
				return s.Error()
			}
		}
		return fmt.Sprint(err)
	}
	inspect := func(t *testing.T, st *pgstore.Store, sw sessiond.RefreshSwap, watch []sessiond.TokenHash, err error) state {
		ctx := t.Context()
		s := state{outcome: outcome(err)}
		for _, h := range watch {
			tok, _, err := st.Lookup(ctx, h)
			switch {
			case errors.Is(err, sessiond.ErrNotFound):
				s.retired = append(s.retired, "absent")
			case err != nil:
				t.Fatalf("Lookup = %v", err)
			case tok.RetiredAt.IsZero():
				s.retired = append(s.retired, "live")
			default:
				s.retired = append(s.retired, "retired at "+tok.RetiredAt.Sub(t0).String())
			}
		}
		sess, err := st.Get(ctx, sw.Next.SessionID)
		if err != nil {
			t.Fatalf("Get = %v", err)
		}
		s.lastActive, s.idleEnd = sess.LastActiveAt, sess.IdleExpiresAt
		s.events = eventsOf(t, st, sw.Next.SessionID)
		pending, err := st.ListDeliveries(ctx, sessiond.DeliveryPending, 100)
		if err != nil {
			t.Fatalf("ListDeliveries = %v", err)
		}
		for _, d := range pending {
			for _, e := range sw.Events {
				if d.EventID == e.ID {
					s.deliveries++
				}
			}
		}
		return s
	}

	// One by one, on a store of their own.
	alone, _ := newStore(t, pgstore.Options{})
	want := make([]state, len(cases))
	for i, c := range cases {
		sw, watch := c.setup(t, alone)
		want[i] = inspect(t, alone, sw, watch, alone.SwapRefresh(t.Context(), sw))
	}

	// As one group.
	st, _ := newStore(t, pgstore.Options{})
	swaps := make([]sessiond.RefreshSwap, len(cases))
	watches := make([][]sessiond.TokenHash, len(cases))
	fns := make([]func() error, len(cases))
	for i, c := range cases {
		swaps[i], watches[i] = c.setup(t, st)
		fns[i] = func() error { return st.SwapRefresh(t.Context(), swaps[i]) }
	}
	sets, writes := pgstore.SwapSets(st), pgstore.GroupedWrites(st)
	errs := grouped(t, st, fns...)
	if got := pgstore.SwapSets(st) - sets; got != 1 {
		t.Errorf("swap set statements = %d; want 1", got)
	}
	if got := pgstore.GroupedWrites(st) - writes; got != int64(len(cases)) {
		t.Errorf("GroupedWrites = %d; want %d (one group)", got, len(cases))
	}
	for i, c := range cases {
		got := inspect(t, st, swaps[i], watches[i], errs[i])
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("%s, in a group:\n got %+v\nwant %+v (one by one)", c.name, got, want[i])
		}
	}
	// The cases cover every outcome.
	seen := map[string]bool{}
	for _, w := range want {
		seen[w.outcome] = true
	}
	for _, o := range []string{"<nil>", sessiond.ErrNotFound.Error(), sessiond.ErrRevoked.Error(), sessiond.ErrRefreshReused.Error()} {
		if !seen[o] {
			t.Errorf("no case ends with %s; outcomes %v", o, seen)
		}
	}
}

// A swap set whose one swap names a successor that exists fails as a
// whole; every swap then runs alone: that one gets ErrConflict and
// changes nothing, the others commit.
func TestGroupCommit_SwapSetConflictRunsEachAlone(t *testing.T) {
	st, _ := newStore(t, pgstore.Options{})
	a, b, c := newChain(t, st, "alice"), newChain(t, st, "bob"), newChain(t, st, "carol")
	clash := swapOf(b)
	clash.Next.Hash = c.tok.Hash // c's live token
	swaps := []sessiond.RefreshSwap{swapOf(a), clash, swapOf(c)}
	fns := make([]func() error, len(swaps))
	for i, sw := range swaps {
		fns[i] = func() error { return st.SwapRefresh(t.Context(), sw) }
	}
	errs := grouped(t, st, fns...)
	if pgstore.SwapSets(st) != 1 {
		t.Errorf("swap set statements = %d; want 1 (tried, then rolled back)", pgstore.SwapSets(st))
	}
	if errs[0] != nil || errs[2] != nil {
		t.Errorf("SwapRefresh(others) = %v, %v; want nil, nil", errs[0], errs[2])
	}
	if !errors.Is(errs[1], sessiond.ErrConflict) {
		t.Errorf("SwapRefresh(existing successor) = %v; want ErrConflict", errs[1])
	}
	if tok, _, err := st.Lookup(t.Context(), b.tok.Hash); err != nil || !tok.RetiredAt.IsZero() {
		t.Errorf("Lookup(b's token) = %+v, %v; want it still live", tok, err)
	}
	for _, ch := range []chain{a, b, c} {
		want := 1
		if ch.sess.ID == b.sess.ID {
			want = 0
		}
		if got := eventsOf(t, st, ch.sess.ID); got != want {
			t.Errorf("events of %s = %d; want %d", ch.sess.Subject, got, want)
		}
	}
}
