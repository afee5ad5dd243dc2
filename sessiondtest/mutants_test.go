package sessiondtest_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

// The conformance suite is tested against mutants: memory stores each
// breaking one documented rule the way a real implementer might. Each runs
// through TestStore in a child process (a suite fails its *testing.T, which
// only a process of its own can watch fail), and the child must fail with
// the check that names the rule. A mutant of the base contract hides every
// optional interface, so the base suite alone must catch it: a third
// party's store may have only the twelve methods.

// mutantEnv names the mutant a child process runs TestStore on.
const mutantEnv = "SESSIONDTEST_MUTANT"

type mutant struct {
	name string
	// wrap makes the wrong store from a fresh memory store.
	wrap func(st *memstore.Store) sessiond.Store
	// want is a piece of the failure the suite must report.
	want string
}

var mutants = []mutant{
	// The base contract (the twelve methods only).
	{"SwapCheckThenAct", func(st *memstore.Store) sessiond.Store { return newSwapCheckThenAct(st) },
		"concurrent SwapRefresh calls with zero grace succeeded"},
	{"SwapSiblingStaysCurrent", func(st *memstore.Store) sessiond.Store { return newSwapSibling(st) },
		"successors are current after concurrent swaps within grace"},
	{"SwapReuseBeforeRevoked", func(st *memstore.Store) sessiond.Store { return swapReuseFirst{base(st)} },
		"SwapRefresh(revoked session) error = refresh token reused; want session revoked"},
	{"SwapNotFoundGeneric", func(st *memstore.Store) sessiond.Store { return swapNotFoundGeneric{base(st)} },
		"SwapRefresh(unknown old) error = no rows in result set"},
	{"SwapNextAnySession", func(st *memstore.Store) sessiond.Store { return swapUnchecked{base(st), false} },
		"SwapRefresh(NextOfAnotherSession) error = <nil>"},
	{"SwapNextAnyKind", func(st *memstore.Store) sessiond.Store { return swapUnchecked{base(st), true} },
		"SwapRefresh(NextNotRefresh) error = <nil>"},
	{"LookupErrorAsNotFound", func(st *memstore.Store) sessiond.Store { return lookupAnyNotFound{base(st)} },
		"Lookup after Close = not found; want ErrStoreUnavailable"},
	{"GetCanceledAsNotFound", func(st *memstore.Store) sessiond.Store { return getCanceledNotFound{base(st)} },
		"Get(canceled context) = not found"},
	{"TouchRevokedAccepted", func(st *memstore.Store) sessiond.Store { return touchRevokedOK{base(st)} },
		"Touch(revoked) error = <nil>"},
	{"TouchUndoesRevoke", func(st *memstore.Store) sessiond.Store { return newActivityLostUpdate(st, true) },
		"racing 4 writers of Touch"},
	{"SwapRefreshUndoesRevoke", func(st *memstore.Store) sessiond.Store { return newActivityLostUpdate(st, false) },
		"racing 4 writers of SwapRefresh"},
	{"TouchUnknownAccepted", func(st *memstore.Store) sessiond.Store { return touchUnknownOK{base(st)} },
		"Touch(unknown) error = <nil>"},
	{"RevokeOnlyLive", func(st *memstore.Store) sessiond.Store { return revokeLiveOnly{base(st)} },
		"Revoke(PastIdleExpiry) = not found"},
	{"DeleteExpiredKeepsRevoked", func(st *memstore.Store) sessiond.Store { return newDeleteKeepsRevoked(st) },
		"want a total of 10, then 0"},
	{"SubjectPadSpace", func(st *memstore.Store) sessiond.Store { return listPadSpace{base(st)} },
		`List("abc ")`},
	{"SubjectNormalised", func(st *memstore.Store) sessiond.Store { return listNormalised{base(st)} },
		"List(\"u\u0308nïcödé\")"},
	{"RevokeTwiceNotFound", func(st *memstore.Store) sessiond.Store { return revokeOnce{base(st)} },
		"second Revoke"},
	{"RevocationsSinceExclusive", func(st *memstore.Store) sessiond.Store { return revocationsAfter{base(st)} },
		"is missing session"},
	{"RevocationsMissRevokeSubject", func(st *memstore.Store) sessiond.Store { return newRevSubjectUnlogged(st) },
		"Revocations after RevokeSubject"},
	{"RevokeSubjectFoldsCase", func(st *memstore.Store) sessiond.Store { return newFoldSubjects(st, false) },
		"RevokeSubject(\"ABC\")"},
	{"ListFoldsCase", func(st *memstore.Store) sessiond.Store { return newFoldSubjects(st, true) },
		"List(\"ABC\")"},
	{"ListExpiryInclusive", func(st *memstore.Store) sessiond.Store { return listLate{base(st)} },
		"want [", /* List(alice) = [...]; want [...] */
	},
	{"ListNewestFirst", func(st *memstore.Store) sessiond.Store { return listReversed{base(st)} },
		"(first, second, third)"},
	{"RevokeSubjectRevokesExpired", func(st *memstore.Store) sessiond.Store { return newRevokeEvery(st) },
		"RevokeReason = incident; want"},
	{"CreateKeepsCallerSession", func(st *memstore.Store) sessiond.Store { return newAliasing(st) },
		"Subject = mallory"},
	{"GetSharesOneCopy", func(st *memstore.Store) sessiond.Store { return newGetCache(st) },
		"Subject = mallory"},
	{"TimesInMilliseconds", func(st *memstore.Store) sessiond.Store { return millis{base(st)} },
		".CreatedAt = "},
	{"DeleteExpiredInclusive", func(st *memstore.Store) sessiond.Store { return deleteInclusive{base(st)} },
		"(total 11); want a total of 10"},
	{"DeleteExpiredLeavesTokens", func(st *memstore.Store) sessiond.Store { return newDeleteLeavesTokens(st) },
		"Create(a session with the tokens of expired session"},
	{"DeleteExpiredCountOffByOne", func(st *memstore.Store) sessiond.Store { return deleteCountOff{base(st)} },
		"first DeleteExpired"},
	{"ContextIgnored", func(st *memstore.Store) sessiond.Store { return ctxIgnored{base(st)} },
		"(canceled context) = nil error"},
	{"CloseDoesNothing", func(st *memstore.Store) sessiond.Store { return closeNoop{base(st)} },
		"after Close = <nil>"},

	// Optional interfaces (the whole memory store, one method wrong).
	{"LimiterOffByOne", func(st *memstore.Store) sessiond.Store { return limitOffByOne{st} },
		"Limiter/"},
	{"LimiterCheckThenAct", func(st *memstore.Store) sessiond.Store { return &limitCheckThenAct{st, &rendezvous[string]{}} },
		"after 20 concurrent logins with max 3"},
	{"EvictionsNotLogged", func(st *memstore.Store) sessiond.Store { return evictionsUnlogged{st} },
		"Revocations after CreateLimited"},
	{"EvictionsExpireWithLogin", func(st *memstore.Store) sessiond.Store { return evictionsLoginExpiry{st} },
		"CreateLimited's evictions entry"},
	{"LimitRefusalEvicts", func(st *memstore.Store) sessiond.Store { return limitRefusalEvicts{st} },
		"after CreateLimited refused a login"},
	{"LimitConflictEvicts", func(st *memstore.Store) sessiond.Store { return limitConflictEvicts{st} },
		"after CreateLimited refused a conflicting login"},
	{"TouchRecordsBeforeCheck", func(st *memstore.Store) sessiond.Store { return touchRecordsFirst{st} },
		"revoked session: 1 events of the session"},
	{"MetaRecordsBeforeCAS", func(st *memstore.Store) sessiond.Store { return metaRecordsFirst{st} },
		"ExistsVersion0: 1 events of the session"},
	{"MetaPutBeforeRecordsChecked", func(st *memstore.Store) sessiond.Store { return metaPutFirst{st} },
		"EventWithoutID: GetMeta(new) error = <nil>; want not found"},
	{"RevokeRecordsEveryCall", func(st *memstore.Store) sessiond.Store { return revokeRecordsAgain{st} },
		"ChangeRecorder/RevokeWritesRecordsOnce"},
	{"RecordsBeforeCreate", func(st *memstore.Store) sessiond.Store { return recordsFirst{st} },
		"a refused create stored events"},
	{"RecordedRevokeNotLogged", func(st *memstore.Store) sessiond.Store { return newRecordedUnlogged(st) },
		"Revocations after RevokeRecorded"},
	{"ReplayForgetsEarly", func(st *memstore.Store) sessiond.Store { return replayEarly{st} },
		"RememberOnce(jti-exp"},
	{"ReplayOwnClock", func(st *memstore.Store) sessiond.Store { return replayOwnClock{st, false} },
		"step 2: RememberOnce(jti-behind"},
	{"ReplayOwnClockKeepsWindow", func(st *memstore.Store) sessiond.Store { return replayOwnClock{st, true} },
		"step 5: RememberOnce(jti-ahead"},
	{"ReplayFoldsCase", func(st *memstore.Store) sessiond.Store { return replayFold{st} },
		"differ only in case"},
	{"ReplayOverwrites", func(st *memstore.Store) sessiond.Store { return newReplayOverwrite(st) },
		"a replay must not shorten the record"},
	{"OutboxClaimNoLease", func(st *memstore.Store) sessiond.Store { return claimNoLease{st} },
		"Outbox/"},
	{"OutboxClaimDropsOne", func(st *memstore.Store) sessiond.Store { return claimDrops{st} },
		"Outbox/"},
	{"OutboxFenceIgnored", func(st *memstore.Store) sessiond.Store { return fenceIgnored{st} },
		"FinishClaimed(A's claim, taken again by B)"},
	{"OutboxFenceStateOnly", func(st *memstore.Store) sessiond.Store { return fenceStateOnly{st} },
		"B holds, A delivered: FinishClaimed(A's claim, taken again by B)"},
	{"PagerSkipsAtBoundary", func(st *memstore.Store) sessiond.Store { return pagerSkip{st} },
		"SubjectPager/"},
	{"PagerTiesByTimeOnly", func(st *memstore.Store) sessiond.Store { return pagerTies{st} },
		"SubjectPager/"},
	{"RevocationPagerTiesByTimeOnly", func(st *memstore.Store) sessiond.Store { return revPagerTies{st} },
		"RevocationPager/"},
	{"RevocationPagerPageReversed", func(st *memstore.Store) sessiond.Store { return revPagerReversed{st} },
		"want the order of CompareRevocations"},
	{"RevocationPagerKeepsExcept", func(st *memstore.Store) sessiond.Store { return revPagerKeepsExcept{st} },
		"RevocationPager/LeftOut"},
	{"CounterWindowEndInclusive", func(st *memstore.Store) sessiond.Store { return newCounterMutant(st, false) },
		`Incr("refresh_failures:a"`},
	{"CounterLostUpdate", func(st *memstore.Store) sessiond.Store { return newCounterMutant(st, true) },
		"twice"},
	{"CounterNeverForgets", func(st *memstore.Store) sessiond.Store { return &counterHoarder{Store: st} },
		"the store holds 128 windows; want the running 64"},
	{"CounterCarriesOver", func(st *memstore.Store) sessiond.Store { return &counterHoarder{Store: st, carry: true} },
		`Incr("short:0"`},
	{"MetaPutNotCAS", func(st *memstore.Store) sessiond.Store { return metaNoCAS{st} },
		"Meta/"},
	{"BulkRevocationsNotLogged", func(st *memstore.Store) sessiond.Store { return newBulkUnlogged(st) },
		"BulkRevoker/"},
	{"LiveCountsExpiryInclusive", func(st *memstore.Store) sessiond.Store { return liveInclusive{st} },
		"LiveCounter/"},
}

// TestMutants: the conformance suite fails on every mutant, with the check
// meant to catch it, and passes the memory store wrapped as the mutants
// are (so a failure is the mutant's, not the harness's).
func TestMutants(t *testing.T) {
	if os.Getenv(mutantEnv) != "" {
		t.Skip("in a mutant's child process")
	}
	run := func(t *testing.T, name string) (string, error) {
		cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestMutantSuite$", "-test.count=1", "-test.timeout=2m")
		cmd.Env = append(os.Environ(), mutantEnv+"="+name)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	t.Run("Controls", func(t *testing.T) {
		for _, name := range []string{"Base", "Whole"} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				if out, err := run(t, name); err != nil || !strings.Contains(out, "\nok") && !strings.Contains(out, "PASS") {
					t.Fatalf("TestStore on the unchanged memory store (%s) = %v; want it to pass:\n%s", name, err, tail(out))
				}
			})
		}
	})
	for _, m := range mutants {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			out, err := run(t, m.name)
			if err == nil {
				t.Fatalf("TestStore passed the mutant %s; want a failure:\n%s", m.name, tail(out))
			}
			var exit *exec.ExitError
			if !errors.As(err, &exit) || !strings.Contains(out, "--- FAIL: TestMutantSuite") {
				t.Fatalf("TestStore on %s = %v; want a failing test:\n%s", m.name, err, tail(out))
			}
			if !strings.Contains(out, m.want) {
				t.Errorf("TestStore failed on %s, but not with %q:\n%s", m.name, m.want, tail(out))
			}
		})
	}
}

func tail(out string) string {
	if len(out) > 4000 {
		return "…" + out[len(out)-4000:]
	}
	return out
}

// TestMutantSuite is the child process's test: TestStore on the mutant
// named in the environment.
func TestMutantSuite(t *testing.T) {
	name := os.Getenv(mutantEnv)
	wrap := map[string]func(*memstore.Store) sessiond.Store{
		"Base":  func(st *memstore.Store) sessiond.Store { return base(st) },
		"Whole": func(st *memstore.Store) sessiond.Store { return st },
	}[name]
	for _, m := range mutants {
		if m.name == name {
			wrap = m.wrap
		}
	}
	if wrap == nil {
		t.Skipf("%s names no mutant (set by TestMutants)", mutantEnv)
	}
	sessiondtest.TestStore(t, func(t *testing.T) sessiond.Store {
		st := memstore.New()
		t.Cleanup(func() { st.Close() })
		return wrap(st)
	})
}

// base is st with its twelve base methods only.
func base(st *memstore.Store) sessiond.Store { return struct{ sessiond.Store }{st} }

// swapCheckThenAct decides reuse from a Lookup, then swaps in a second
// step that no longer checks: two concurrent rotations both pass the check.
type swapCheckThenAct struct {
	sessiond.Store
	window rendezvous[sessiond.TokenHash]
}

func newSwapCheckThenAct(st *memstore.Store) *swapCheckThenAct {
	return &swapCheckThenAct{Store: base(st)}
}

func (m *swapCheckThenAct) SwapRefresh(ctx context.Context, sw sessiond.RefreshSwap) error {
	tok, s, err := m.Lookup(ctx, sw.Old)
	if err == nil && !s.Revoked() && !tok.RetiredAt.IsZero() && (tok.RetiredAt.Before(sw.GraceSince) || !sw.GraceSince.Before(sw.Now)) {
		return sessiond.ErrRefreshReused
	}
	m.window.await(sw.Old)
	sw.GraceSince = time.Time{} // "already checked"
	return m.Store.SwapRefresh(ctx, sw)
}

// rendezvous holds a check-then-act mutant between its two steps until a
// second caller with the same key has checked too, or partnerWait has
// passed. A real store's round trip opens that window; a yield alone did
// not, since a loaded machine can run the suite's concurrent calls one
// after another, and the suite then passed the mutant now and then.
type rendezvous[K comparable] struct {
	mu      sync.Mutex
	waiting map[K]chan struct{}
}

// partnerWait is how long a lone checked call waits before it acts.
const partnerWait = 250 * time.Millisecond

func (r *rendezvous[K]) await(key K) {
	r.mu.Lock()
	if ch, ok := r.waiting[key]; ok {
		delete(r.waiting, key)
		close(ch)
		r.mu.Unlock()
		return
	}
	if r.waiting == nil {
		r.waiting = map[K]chan struct{}{}
	}
	ch := make(chan struct{})
	r.waiting[key] = ch
	r.mu.Unlock()
	select {
	case <-ch:
	case <-time.After(partnerWait):
		r.mu.Lock()
		if r.waiting[key] == ch {
			delete(r.waiting, key)
		}
		r.mu.Unlock()
	}
}

// swapSibling leaves a successor current when a later swap within grace
// stores another: one token forks into two live chains.
type swapSibling struct {
	sessiond.Store
	mu     sync.Mutex
	cur    map[sessiond.SessionID]sessiond.TokenHash
	forked map[sessiond.TokenHash]bool // retired by the memory store, current to callers
}

func newSwapSibling(st *memstore.Store) *swapSibling {
	return &swapSibling{Store: base(st), cur: map[sessiond.SessionID]sessiond.TokenHash{}, forked: map[sessiond.TokenHash]bool{}}
}

func (m *swapSibling) SwapRefresh(ctx context.Context, sw sessiond.RefreshSwap) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.forked[sw.Old] {
		sw.GraceSince = time.Time{}
	}
	if err := m.Store.SwapRefresh(ctx, sw); err != nil {
		return err
	}
	if prev, ok := m.cur[sw.Next.SessionID]; ok && prev != sw.Old {
		m.forked[prev] = true
	}
	delete(m.forked, sw.Old)
	m.cur[sw.Next.SessionID] = sw.Next.Hash
	return nil
}

func (m *swapSibling) Lookup(ctx context.Context, h sessiond.TokenHash) (sessiond.Token, *sessiond.Session, error) {
	tok, s, err := m.Store.Lookup(ctx, h)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.forked[h] {
		tok.RetiredAt = time.Time{}
	}
	return tok, s, err
}

// swapReuseFirst reports reuse before revocation.
type swapReuseFirst struct{ sessiond.Store }

func (m swapReuseFirst) SwapRefresh(ctx context.Context, sw sessiond.RefreshSwap) error {
	if tok, _, err := m.Lookup(ctx, sw.Old); err == nil && !tok.RetiredAt.IsZero() && tok.RetiredAt.Before(sw.GraceSince) {
		return sessiond.ErrRefreshReused
	}
	return m.Store.SwapRefresh(ctx, sw)
}

// swapNotFoundGeneric lets the driver's "no rows" through untranslated.
type swapNotFoundGeneric struct{ sessiond.Store }

func (m swapNotFoundGeneric) SwapRefresh(ctx context.Context, sw sessiond.RefreshSwap) error {
	err := m.Store.SwapRefresh(ctx, sw)
	if errors.Is(err, sessiond.ErrNotFound) {
		return errors.New("no rows in result set")
	}
	return err
}

// swapUnchecked takes any successor: one of another session (kind false)
// or not a refresh token (kind true), as a store that writes the row it is
// given without the shared checks would. The memory store refuses such a
// token, so the mutant hands it the one it would have stored and reports
// the swap done.
type swapUnchecked struct {
	sessiond.Store
	kind bool
}

func (m swapUnchecked) SwapRefresh(ctx context.Context, sw sessiond.RefreshSwap) error {
	tok, _, err := m.Lookup(ctx, sw.Old)
	if err != nil {
		return m.Store.SwapRefresh(ctx, sw)
	}
	if m.kind {
		sw.Next.Kind = sessiond.KindRefresh
	} else {
		sw.Next.SessionID = tok.SessionID
	}
	return m.Store.SwapRefresh(ctx, sw)
}

// revokeLiveOnly revokes only a live session (an UPDATE … WHERE both
// expiries are ahead of at) and answers "not found" for one past either.
type revokeLiveOnly struct{ sessiond.Store }

func (m revokeLiveOnly) Revoke(ctx context.Context, id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason) (*sessiond.Session, error) {
	if s, err := m.Get(ctx, id); err == nil && !s.Revoked() && !s.Live(at) {
		return nil, sessiond.ErrNotFound
	}
	return m.Store.Revoke(ctx, id, at, reason)
}

// deleteKeepsRevoked deletes only sessions that are not revoked (a
// DELETE … WHERE revoked_at IS NULL, as if the revoked set still needed
// them): the memory store deletes them, and the mutant creates them again
// with their tokens.
type deleteKeepsRevoked struct {
	sessiond.Store
	mu      sync.Mutex
	created map[sessiond.SessionID][]sessiond.Token
}

func newDeleteKeepsRevoked(st *memstore.Store) *deleteKeepsRevoked {
	return &deleteKeepsRevoked{Store: base(st), created: map[sessiond.SessionID][]sessiond.Token{}}
}

func (m *deleteKeepsRevoked) Create(ctx context.Context, s *sessiond.Session, tokens ...sessiond.Token) error {
	err := m.Store.Create(ctx, s, tokens...)
	if err == nil {
		m.mu.Lock()
		m.created[s.ID] = slices.Clone(tokens)
		m.mu.Unlock()
	}
	return err
}

func (m *deleteKeepsRevoked) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	revoked := map[*sessiond.Session][]sessiond.Token{}
	for id, tokens := range m.created {
		if s, err := m.Get(ctx, id); err == nil && s.Revoked() {
			revoked[s] = tokens
		}
	}
	n, err := m.Store.DeleteExpired(ctx, before, limit)
	for s, tokens := range revoked {
		if _, gerr := m.Get(ctx, s.ID); errors.Is(gerr, sessiond.ErrNotFound) {
			if m.Store.Create(ctx, s, tokens...) == nil {
				n--
			}
		}
	}
	return n, err
}

// listPadSpace matches subjects as a PAD SPACE collation does: trailing
// spaces do not count, so List("abc ") finds "abc"'s sessions too.
type listPadSpace struct{ sessiond.Store }

func (m listPadSpace) List(ctx context.Context, subject string, now time.Time) ([]*sessiond.Session, error) {
	got, err := m.Store.List(ctx, subject, now)
	if trimmed := strings.TrimRight(subject, " "); err == nil && trimmed != subject {
		more, err := m.Store.List(ctx, trimmed, now)
		return append(got, more...), err
	}
	return got, err
}

// listNormalised matches subjects as a collation that normalises Unicode
// does: a decomposed "ü" (u and a combining diaeresis) is the composed
// one, so List of either finds the other's sessions too.
type listNormalised struct{ sessiond.Store }

func (m listNormalised) List(ctx context.Context, subject string, now time.Time) ([]*sessiond.Session, error) {
	got, err := m.Store.List(ctx, subject, now)
	other := strings.ReplaceAll(subject, "u\u0308", "ü")
	if other == subject {
		other = strings.ReplaceAll(subject, "ü", "u\u0308")
	}
	if err == nil && other != subject {
		more, err := m.Store.List(ctx, other, now)
		return append(got, more...), err
	}
	return got, err
}

// lookupAnyNotFound answers every failed Lookup "not found".
type lookupAnyNotFound struct{ sessiond.Store }

func (m lookupAnyNotFound) Lookup(ctx context.Context, h sessiond.TokenHash) (sessiond.Token, *sessiond.Session, error) {
	tok, s, err := m.Store.Lookup(ctx, h)
	if err != nil {
		return sessiond.Token{}, nil, sessiond.ErrNotFound
	}
	return tok, s, nil
}

// getCanceledNotFound answers "not found" when the caller's context ends,
// as a store does that maps every error of its query to "no such row".
type getCanceledNotFound struct{ sessiond.Store }

func (m getCanceledNotFound) Get(ctx context.Context, id sessiond.SessionID) (*sessiond.Session, error) {
	s, err := m.Store.Get(ctx, id)
	if ctx.Err() != nil {
		return nil, sessiond.ErrNotFound
	}
	return s, err
}

// touchRevokedOK writes nothing to a revoked session but reports success.
type touchRevokedOK struct{ sessiond.Store }

func (m touchRevokedOK) Touch(ctx context.Context, id sessiond.SessionID, last, idle time.Time) error {
	if err := m.Store.Touch(ctx, id, last, idle); !errors.Is(err, sessiond.ErrRevoked) {
		return err
	}
	return nil
}

// activityLostUpdate records activity as a key-value store without a
// conditional write might: it reads the session, checks it is not
// revoked, and writes the whole record back with the new activity, so a
// revocation landing between the read and the write is overwritten (the
// session reads as never revoked). The memory store cannot be made to
// write a stale record, so the wrapper keeps the sessions whose
// revocation it undid and shows them unrevoked. It does so in Touch, or
// in SwapRefresh, as touch says.
type activityLostUpdate struct {
	sessiond.Store
	touch  bool
	mu     sync.Mutex
	undone map[sessiond.SessionID]bool
}

func newActivityLostUpdate(st *memstore.Store, touch bool) *activityLostUpdate {
	return &activityLostUpdate{Store: base(st), touch: touch, undone: map[sessiond.SessionID]bool{}}
}

// readThenWrite is the mutant's activity write of session id: write is
// the store's own, atomic one, which also answers every case but the race
// (an unknown or revoked session, a bad argument) as the store would.
func (m *activityLostUpdate) readThenWrite(ctx context.Context, id sessiond.SessionID, write func() error) error {
	if s, err := m.Get(ctx, id); err != nil || s.Revoked() {
		return write()
	}
	runtime.Gosched() // the round trip between the read and the write
	err := write()
	if errors.Is(err, sessiond.ErrRevoked) {
		m.mu.Lock()
		m.undone[id] = true // the record read above, written back
		m.mu.Unlock()
		return nil
	}
	return err
}

func (m *activityLostUpdate) Touch(ctx context.Context, id sessiond.SessionID, last, idle time.Time) error {
	write := func() error { return m.Store.Touch(ctx, id, last, idle) }
	if !m.touch {
		return write()
	}
	return m.readThenWrite(ctx, id, write)
}

func (m *activityLostUpdate) SwapRefresh(ctx context.Context, sw sessiond.RefreshSwap) error {
	write := func() error { return m.Store.SwapRefresh(ctx, sw) }
	tok, _, err := m.Store.Lookup(ctx, sw.Old)
	if m.touch || err != nil || tok.SessionID != sw.Next.SessionID {
		return write()
	}
	return m.readThenWrite(ctx, tok.SessionID, write)
}

func (m *activityLostUpdate) Get(ctx context.Context, id sessiond.SessionID) (*sessiond.Session, error) {
	s, err := m.Store.Get(ctx, id)
	m.mu.Lock()
	defer m.mu.Unlock()
	if err == nil && m.undone[id] {
		s.RevokedAt, s.RevokeReason = time.Time{}, ""
	}
	return s, err
}

// deleteLeavesTokens deletes expired sessions but not their token rows, as
// a DELETE missing its cascade would: Lookup of such a token still finds
// no session (ErrNotFound), but the hash stays taken, so a Create that
// stores it again is ErrConflict, as a unique index answers.
type deleteLeavesTokens struct {
	sessiond.Store
	mu       sync.Mutex
	tokens   map[sessiond.SessionID][]sessiond.TokenHash
	orphaned map[sessiond.TokenHash]bool
}

func newDeleteLeavesTokens(st *memstore.Store) *deleteLeavesTokens {
	return &deleteLeavesTokens{Store: base(st), tokens: map[sessiond.SessionID][]sessiond.TokenHash{}, orphaned: map[sessiond.TokenHash]bool{}}
}

func (m *deleteLeavesTokens) Create(ctx context.Context, s *sessiond.Session, tokens ...sessiond.Token) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, tok := range tokens {
		if m.orphaned[tok.Hash] {
			return fmt.Errorf("mutant: create: %w", sessiond.ErrConflict)
		}
	}
	if err := m.Store.Create(ctx, s, tokens...); err != nil {
		return err
	}
	for _, tok := range tokens {
		m.tokens[s.ID] = append(m.tokens[s.ID], tok.Hash)
	}
	return nil
}

func (m *deleteLeavesTokens) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	n, err := m.Store.DeleteExpired(ctx, before, limit)
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, hashes := range m.tokens {
		if _, gErr := m.Store.Get(ctx, id); errors.Is(gErr, sessiond.ErrNotFound) {
			for _, h := range hashes {
				m.orphaned[h] = true
			}
			delete(m.tokens, id)
		}
	}
	return n, err
}

// touchUnknownOK ignores that its UPDATE changed no row.
type touchUnknownOK struct{ sessiond.Store }

func (m touchUnknownOK) Touch(ctx context.Context, id sessiond.SessionID, last, idle time.Time) error {
	if err := m.Store.Touch(ctx, id, last, idle); !errors.Is(err, sessiond.ErrNotFound) {
		return err
	}
	return nil
}

// revokeOnce refuses to revoke a revoked session ("UPDATE … WHERE
// revoked_at IS NULL" changed no row).
type revokeOnce struct{ sessiond.Store }

func (m revokeOnce) Revoke(ctx context.Context, id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason) (*sessiond.Session, error) {
	if s, err := m.Get(ctx, id); err == nil && s.Revoked() {
		return nil, sessiond.ErrNotFound
	}
	return m.Store.Revoke(ctx, id, at, reason)
}

// revocationsAfter reads revocations after since, not at or after it.
type revocationsAfter struct{ sessiond.Store }

func (m revocationsAfter) Revocations(ctx context.Context, since time.Time) ([]sessiond.Revocation, error) {
	revs, err := m.Store.Revocations(ctx, since)
	return slices.DeleteFunc(revs, func(r sessiond.Revocation) bool { return r.RevokedAt.Equal(since) }), err
}

// revSubjectUnlogged revokes a subject's sessions without writing them to
// the log Revocations reads.
type revSubjectUnlogged struct {
	sessiond.Store
	mu       sync.Mutex
	unlogged map[sessiond.SessionID]bool
}

func newRevSubjectUnlogged(st *memstore.Store) *revSubjectUnlogged {
	return &revSubjectUnlogged{Store: base(st), unlogged: map[sessiond.SessionID]bool{}}
}

func (m *revSubjectUnlogged) RevokeSubject(ctx context.Context, subject string, except sessiond.SessionID, at time.Time, reason sessiond.RevokeReason) ([]sessiond.Revocation, error) {
	revs, err := m.Store.RevokeSubject(ctx, subject, except, at, reason)
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range revs {
		m.unlogged[r.SessionID] = true
	}
	return revs, err
}

func (m *revSubjectUnlogged) Revocations(ctx context.Context, since time.Time) ([]sessiond.Revocation, error) {
	revs, err := m.Store.Revocations(ctx, since)
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.DeleteFunc(revs, func(r sessiond.Revocation) bool { return m.unlogged[r.SessionID] }), err
}

// subjects remembers the sessions created by subject, for mutants that
// match subjects their own (wrong) way.
type subjects struct {
	sessiond.Store
	mu  sync.Mutex
	ids map[string][]sessiond.SessionID
}

func newSubjects(st sessiond.Store) subjects {
	return subjects{Store: st, ids: map[string][]sessiond.SessionID{}}
}

func (m *subjects) Create(ctx context.Context, s *sessiond.Session, tokens ...sessiond.Token) error {
	if err := m.Store.Create(ctx, s, tokens...); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.ids[s.Subject] = append(m.ids[s.Subject], s.ID)
	return nil
}

// matching returns the subjects known that match fits.
func (m *subjects) matching(fits func(string) bool) []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for s := range m.ids {
		if fits(s) {
			out = append(out, s)
		}
	}
	return out
}

// foldSubjects matches subjects case-insensitively (a collation such as
// MySQL's utf8mb4_0900_ai_ci): in List, or in RevokeSubject.
type foldSubjects struct {
	subjects
	list bool
}

func newFoldSubjects(st *memstore.Store, list bool) *foldSubjects {
	return &foldSubjects{subjects: newSubjects(base(st)), list: list}
}

func (m *foldSubjects) List(ctx context.Context, subject string, now time.Time) ([]*sessiond.Session, error) {
	if !m.list {
		return m.Store.List(ctx, subject, now)
	}
	out := []*sessiond.Session{}
	for _, s := range m.matching(func(s string) bool { return strings.EqualFold(s, subject) }) {
		got, err := m.Store.List(ctx, s, now)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	slices.SortFunc(out, func(a, b *sessiond.Session) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

func (m *foldSubjects) RevokeSubject(ctx context.Context, subject string, except sessiond.SessionID, at time.Time, reason sessiond.RevokeReason) ([]sessiond.Revocation, error) {
	if m.list {
		return m.Store.RevokeSubject(ctx, subject, except, at, reason)
	}
	out := []sessiond.Revocation{}
	for _, s := range m.matching(func(s string) bool { return strings.EqualFold(s, subject) }) {
		got, err := m.Store.RevokeSubject(ctx, s, except, at, reason)
		if err != nil {
			return nil, err
		}
		out = append(out, got...)
	}
	return out, nil
}

// revokeEvery revokes every unrevoked session of the subject, expired ones
// included.
type revokeEvery struct{ subjects }

func newRevokeEvery(st *memstore.Store) *revokeEvery { return &revokeEvery{newSubjects(base(st))} }

func (m *revokeEvery) RevokeSubject(ctx context.Context, subject string, except sessiond.SessionID, at time.Time, reason sessiond.RevokeReason) ([]sessiond.Revocation, error) {
	m.mu.Lock()
	ids := slices.Clone(m.ids[subject])
	m.mu.Unlock()
	out := []sessiond.Revocation{}
	for _, id := range ids {
		s, err := m.Get(ctx, id)
		if err != nil || s.Revoked() || id == except {
			continue
		}
		if s, err = m.Revoke(ctx, id, at, reason); err != nil {
			return nil, err
		}
		out = append(out, sessiond.Revocation{SessionID: id, Subject: s.Subject, RevokedAt: at, ExpiresAt: s.ExpiresAt, Reason: reason})
	}
	return out, nil
}

// listLate treats a session whose expiry is now as still live.
type listLate struct{ sessiond.Store }

func (m listLate) List(ctx context.Context, subject string, now time.Time) ([]*sessiond.Session, error) {
	return m.Store.List(ctx, subject, now.Add(-time.Microsecond))
}

// listReversed returns the newest first.
type listReversed struct{ sessiond.Store }

func (m listReversed) List(ctx context.Context, subject string, now time.Time) ([]*sessiond.Session, error) {
	got, err := m.Store.List(ctx, subject, now)
	slices.Reverse(got)
	return got, err
}

// aliasing keeps the caller's *Session and answers Get with it.
type aliasing struct {
	sessiond.Store
	mu   sync.Mutex
	kept map[sessiond.SessionID]*sessiond.Session
}

func newAliasing(st *memstore.Store) *aliasing {
	return &aliasing{Store: base(st), kept: map[sessiond.SessionID]*sessiond.Session{}}
}

func (m *aliasing) Create(ctx context.Context, s *sessiond.Session, tokens ...sessiond.Token) error {
	if err := m.Store.Create(ctx, s, tokens...); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.kept[s.ID] = s
	return nil
}

func (m *aliasing) Get(ctx context.Context, id sessiond.SessionID) (*sessiond.Session, error) {
	s, err := m.Store.Get(ctx, id)
	m.mu.Lock()
	defer m.mu.Unlock()
	if k := m.kept[id]; err == nil && k != nil && !s.Revoked() {
		c := *k
		return &c, nil
	}
	return s, err
}

// getCache answers Get with one cached session per ID, shared by callers.
type getCache struct {
	sessiond.Store
	mu    sync.Mutex
	cache map[sessiond.SessionID]*sessiond.Session
}

func newGetCache(st *memstore.Store) *getCache {
	return &getCache{Store: base(st), cache: map[sessiond.SessionID]*sessiond.Session{}}
}

func (m *getCache) Get(ctx context.Context, id sessiond.SessionID) (*sessiond.Session, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s := m.cache[id]; s != nil {
		return s, nil
	}
	s, err := m.Store.Get(ctx, id)
	if err == nil && !s.Revoked() {
		m.cache[id] = s
	}
	return s, err
}

// millis keeps times to the millisecond (a DATETIME(3) column).
type millis struct{ sessiond.Store }

func truncSession(s *sessiond.Session) {
	if s == nil {
		return
	}
	for _, p := range []*time.Time{&s.CreatedAt, &s.LastActiveAt, &s.IdleExpiresAt, &s.ExpiresAt, &s.RevokedAt} {
		*p = p.Truncate(time.Millisecond)
	}
}

func (m millis) Get(ctx context.Context, id sessiond.SessionID) (*sessiond.Session, error) {
	s, err := m.Store.Get(ctx, id)
	truncSession(s)
	return s, err
}

func (m millis) Lookup(ctx context.Context, h sessiond.TokenHash) (sessiond.Token, *sessiond.Session, error) {
	tok, s, err := m.Store.Lookup(ctx, h)
	truncSession(s)
	for _, p := range []*time.Time{&tok.IssuedAt, &tok.ExpiresAt, &tok.RetiredAt} {
		*p = p.Truncate(time.Millisecond)
	}
	return tok, s, err
}

// deleteInclusive deletes sessions expiring at `before` too.
type deleteInclusive struct{ sessiond.Store }

func (m deleteInclusive) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	return m.Store.DeleteExpired(ctx, before.Add(time.Microsecond), limit)
}

// deleteCountOff reports one fewer than it deleted.
type deleteCountOff struct{ sessiond.Store }

func (m deleteCountOff) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	n, err := m.Store.DeleteExpired(ctx, before, limit)
	return max(0, n-1), err
}

// ctxIgnored runs every call to the end whatever its context.
type ctxIgnored struct{ sessiond.Store }

func bg(ctx context.Context) context.Context { return context.WithoutCancel(ctx) }

func (m ctxIgnored) Create(ctx context.Context, s *sessiond.Session, tokens ...sessiond.Token) error {
	return m.Store.Create(bg(ctx), s, tokens...)
}
func (m ctxIgnored) Get(ctx context.Context, id sessiond.SessionID) (*sessiond.Session, error) {
	return m.Store.Get(bg(ctx), id)
}
func (m ctxIgnored) Lookup(ctx context.Context, h sessiond.TokenHash) (sessiond.Token, *sessiond.Session, error) {
	return m.Store.Lookup(bg(ctx), h)
}
func (m ctxIgnored) Touch(ctx context.Context, id sessiond.SessionID, last, idle time.Time) error {
	return m.Store.Touch(bg(ctx), id, last, idle)
}
func (m ctxIgnored) SwapRefresh(ctx context.Context, sw sessiond.RefreshSwap) error {
	return m.Store.SwapRefresh(bg(ctx), sw)
}
func (m ctxIgnored) Revoke(ctx context.Context, id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason) (*sessiond.Session, error) {
	return m.Store.Revoke(bg(ctx), id, at, reason)
}
func (m ctxIgnored) RevokeSubject(ctx context.Context, subject string, except sessiond.SessionID, at time.Time, reason sessiond.RevokeReason) ([]sessiond.Revocation, error) {
	return m.Store.RevokeSubject(bg(ctx), subject, except, at, reason)
}
func (m ctxIgnored) List(ctx context.Context, subject string, now time.Time) ([]*sessiond.Session, error) {
	return m.Store.List(bg(ctx), subject, now)
}
func (m ctxIgnored) Revocations(ctx context.Context, since time.Time) ([]sessiond.Revocation, error) {
	return m.Store.Revocations(bg(ctx), since)
}
func (m ctxIgnored) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	return m.Store.DeleteExpired(bg(ctx), before, limit)
}
func (m ctxIgnored) Ping(ctx context.Context) error { return m.Store.Ping(bg(ctx)) }

// closeNoop never closes (the factory's cleanup closes the memory store).
type closeNoop struct{ sessiond.Store }

func (closeNoop) Close() error { return nil }

// limitOffByOne lets one session more than max live.
type limitOffByOne struct{ *memstore.Store }

func (m limitOffByOne) CreateLimited(ctx context.Context, s *sessiond.Session, max int, evict bool, tokens ...sessiond.Token) ([]sessiond.Revocation, error) {
	return m.Store.CreateLimited(ctx, s, max+1, evict, tokens...)
}

// limitCheckThenAct counts with List, then creates in another step.
type limitCheckThenAct struct {
	*memstore.Store
	window *rendezvous[string]
}

func (m *limitCheckThenAct) CreateLimited(ctx context.Context, s *sessiond.Session, max int, evict bool, tokens ...sessiond.Token) ([]sessiond.Revocation, error) {
	live, err := m.List(ctx, s.Subject, s.CreatedAt)
	if err != nil {
		return nil, err
	}
	m.window.await(s.Subject)
	var revs []sessiond.Revocation
	if len(live) >= max {
		if !evict {
			return nil, sessiond.ErrLimitReached
		}
		slices.SortFunc(live, func(a, b *sessiond.Session) int { return a.LastActiveAt.Compare(b.LastActiveAt) })
		for _, old := range live[:min(len(live)-max+1, sessiond.MaxLimitEvictions)] {
			if _, err := m.Revoke(ctx, old.ID, s.CreatedAt, sessiond.ReasonLimit); err != nil {
				return nil, err
			}
			revs = append(revs, sessiond.Revocation{SessionID: old.ID, Subject: old.Subject, RevokedAt: s.CreatedAt, ExpiresAt: old.ExpiresAt, Reason: sessiond.ReasonLimit})
		}
	}
	runtime.Gosched()
	return revs, m.Create(ctx, s, tokens...)
}

// evictionsUnlogged leaves a limit's evictions out of the revocation log.
type evictionsUnlogged struct{ *memstore.Store }

func (m evictionsUnlogged) Revocations(ctx context.Context, since time.Time) ([]sessiond.Revocation, error) {
	revs, err := m.Store.Revocations(ctx, since)
	return slices.DeleteFunc(revs, func(r sessiond.Revocation) bool { return r.Reason == sessiond.ReasonLimit }), err
}

func (m evictionsUnlogged) PageRevocations(ctx context.Context, q sessiond.RevocationQuery) (sessiond.RevocationPage, error) {
	p, err := m.Store.PageRevocations(ctx, q)
	p.Revocations = slices.DeleteFunc(p.Revocations, func(r sessiond.Revocation) bool { return r.Reason == sessiond.ReasonLimit })
	return p, err
}

// evictionsLoginExpiry reports its evictions with the login's absolute
// expiry, as a store does that learns only the evicted IDs and fills the
// rest from the session it stores.
type evictionsLoginExpiry struct{ *memstore.Store }

func (m evictionsLoginExpiry) CreateLimited(ctx context.Context, s *sessiond.Session, max int, evict bool, tokens ...sessiond.Token) ([]sessiond.Revocation, error) {
	revs, err := m.Store.CreateLimited(ctx, s, max, evict, tokens...)
	for i := range revs {
		revs[i].ExpiresAt = s.ExpiresAt
	}
	return revs, err
}

// limitRefusalEvicts makes room before it looks at evict: a login refused
// at the limit has already revoked the least recently active session.
type limitRefusalEvicts struct{ *memstore.Store }

func (m limitRefusalEvicts) CreateLimited(ctx context.Context, s *sessiond.Session, max int, evict bool, tokens ...sessiond.Token) ([]sessiond.Revocation, error) {
	if live, err := m.List(ctx, s.Subject, s.CreatedAt); err == nil && !evict && len(live) >= max && max > 0 {
		slices.SortFunc(live, func(a, b *sessiond.Session) int { return a.LastActiveAt.Compare(b.LastActiveAt) })
		if _, err := m.Revoke(ctx, live[0].ID, s.CreatedAt, sessiond.ReasonLimit); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("mutant: create limited: %w", sessiond.ErrLimitReached)
	}
	return m.Store.CreateLimited(ctx, s, max, evict, tokens...)
}

// limitConflictEvicts evicts in one step and inserts in another that it
// does not roll the first back for: a login refused for a conflict has
// made room all the same.
type limitConflictEvicts struct{ *memstore.Store }

func (m limitConflictEvicts) CreateLimited(ctx context.Context, s *sessiond.Session, max int, evict bool, tokens ...sessiond.Token) ([]sessiond.Revocation, error) {
	revs, err := m.Store.CreateLimited(ctx, s, max, evict, tokens...)
	if !errors.Is(err, sessiond.ErrConflict) || !evict {
		return revs, err
	}
	live, lerr := m.List(ctx, s.Subject, s.CreatedAt)
	if lerr != nil || len(live) < max {
		return revs, err
	}
	slices.SortFunc(live, func(a, b *sessiond.Session) int { return a.LastActiveAt.Compare(b.LastActiveAt) })
	for _, old := range live[:len(live)-max+1] {
		if _, rerr := m.Revoke(ctx, old.ID, s.CreatedAt, sessiond.ReasonLimit); rerr != nil {
			return nil, rerr
		}
	}
	return nil, err
}

// recordsFirst writes a creation's records, then the creation in a second
// step: a create refused (a conflict) leaves its records behind.
type recordsFirst struct{ *memstore.Store }

func (m recordsFirst) CreateRecorded(ctx context.Context, s *sessiond.Session, max int, evict bool, rec sessiond.ChangeRecords,
	evicted func(sessiond.Revocation) sessiond.ChangeRecords, tokens ...sessiond.Token) ([]sessiond.Revocation, error) {
	if err := m.AppendEvents(ctx, rec.Events...); err != nil {
		return nil, err
	}
	if err := m.EnqueueDeliveries(ctx, rec.Deliveries...); err != nil {
		return nil, err
	}
	return m.Store.CreateRecorded(ctx, s, max, evict, sessiond.ChangeRecords{}, evicted, tokens...)
}

// touchRecordsFirst writes a refresh's records, then the activity in a
// second step that may refuse it: a revoked session's refresh leaves an
// event and a webhook behind.
type touchRecordsFirst struct{ *memstore.Store }

func (m touchRecordsFirst) TouchRecorded(ctx context.Context, id sessiond.SessionID, last, idle time.Time, rec sessiond.ChangeRecords) error {
	if err := m.AppendEvents(ctx, rec.Events...); err != nil {
		return err
	}
	if err := m.EnqueueDeliveries(ctx, rec.Deliveries...); err != nil {
		return err
	}
	return m.Store.TouchRecorded(ctx, id, last, idle, sessiond.ChangeRecords{})
}

// metaRecordsFirst writes a document change's records, then the document
// in a second step whose compare-and-swap may lose: an API key that was
// never created leaves its api_key.created event behind.
type metaRecordsFirst struct{ *memstore.Store }

func (m metaRecordsFirst) PutMetaRecorded(ctx context.Context, name string, value []byte, version int64, rec sessiond.ChangeRecords) (int64, error) {
	if err := m.AppendEvents(ctx, rec.Events...); err != nil {
		return 0, err
	}
	if err := m.EnqueueDeliveries(ctx, rec.Deliveries...); err != nil {
		return 0, err
	}
	return m.PutMeta(ctx, name, value, version)
}

// metaPutFirst writes the document, then its records in a second step
// that may refuse them: the change is kept without its event.
type metaPutFirst struct{ *memstore.Store }

func (m metaPutFirst) PutMetaRecorded(ctx context.Context, name string, value []byte, version int64, rec sessiond.ChangeRecords) (int64, error) {
	v, err := m.PutMeta(ctx, name, value, version)
	if err != nil {
		return 0, err
	}
	if err := m.AppendEvents(ctx, rec.Events...); err != nil {
		return 0, err
	}
	return v, m.EnqueueDeliveries(ctx, rec.Deliveries...)
}

// revokeRecordsAgain stores a revocation's records on every call, the
// calls that find the session already revoked too: one logout, two
// session.revoked events and webhooks.
type revokeRecordsAgain struct{ *memstore.Store }

func (m revokeRecordsAgain) RevokeRecorded(ctx context.Context, id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason,
	revoked func(*sessiond.Session) sessiond.ChangeRecords) (*sessiond.Session, bool, error) {
	s, recorded, err := m.Store.RevokeRecorded(ctx, id, at, reason, revoked)
	if err == nil && !recorded && revoked != nil {
		rec := revoked(s)
		if err := m.AppendEvents(ctx, rec.Events...); err != nil {
			return nil, false, err
		}
		if err := m.EnqueueDeliveries(ctx, rec.Deliveries...); err != nil {
			return nil, false, err
		}
	}
	return s, recorded, err
}

// recordedUnlogged leaves what RevokeRecorded revokes out of the
// revocation log (the Manager revokes single sessions through it).
type recordedUnlogged struct {
	*memstore.Store
	mu       sync.Mutex
	unlogged map[sessiond.SessionID]bool
}

func newRecordedUnlogged(st *memstore.Store) *recordedUnlogged {
	return &recordedUnlogged{Store: st, unlogged: map[sessiond.SessionID]bool{}}
}

func (m *recordedUnlogged) RevokeRecorded(ctx context.Context, id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason,
	revoked func(*sessiond.Session) sessiond.ChangeRecords) (*sessiond.Session, bool, error) {
	s, recorded, err := m.Store.RevokeRecorded(ctx, id, at, reason, revoked)
	if recorded {
		m.mu.Lock()
		m.unlogged[id] = true
		m.mu.Unlock()
	}
	return s, recorded, err
}

func (m *recordedUnlogged) drop(r sessiond.Revocation) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.unlogged[r.SessionID]
}

func (m *recordedUnlogged) Revocations(ctx context.Context, since time.Time) ([]sessiond.Revocation, error) {
	revs, err := m.Store.Revocations(ctx, since)
	return slices.DeleteFunc(revs, m.drop), err
}

func (m *recordedUnlogged) PageRevocations(ctx context.Context, q sessiond.RevocationQuery) (sessiond.RevocationPage, error) {
	p, err := m.Store.PageRevocations(ctx, q)
	p.Revocations = slices.DeleteFunc(p.Revocations, m.drop)
	return p, err
}

// replayEarly keeps a key for half of its time.
type replayEarly struct{ *memstore.Store }

func (m replayEarly) RememberOnce(ctx context.Context, key string, now, until time.Time) (bool, error) {
	return m.Store.RememberOnce(ctx, key, now, now.Add(until.Sub(now)/2))
}

// replayOwnClock decides expiry by its own clock, not the caller's now
// (a SQL store comparing with now() or time.Now()). With window it keeps
// each record its window from the call, as redisstore does: that store
// passes only when it says ReplayByStoreClock.
type replayOwnClock struct {
	*memstore.Store
	window bool
}

func (m replayOwnClock) RememberOnce(ctx context.Context, key string, now, until time.Time) (bool, error) {
	own := time.Now()
	if m.window {
		until = own.Add(until.Sub(now))
	}
	return m.Store.RememberOnce(ctx, key, own, until)
}

// replayFold keeps keys case-insensitively (a case-insensitive collation).
type replayFold struct{ *memstore.Store }

func (m replayFold) RememberOnce(ctx context.Context, key string, now, until time.Time) (bool, error) {
	return m.Store.RememberOnce(ctx, strings.ToLower(key), now, until)
}

// replayOverwrite writes every call's window over the key's (an upsert
// without its WHERE): a replay naming an earlier end shortens the record.
type replayOverwrite struct {
	*memstore.Store
	mu    sync.Mutex
	until map[string]time.Time
}

func newReplayOverwrite(st *memstore.Store) *replayOverwrite {
	return &replayOverwrite{Store: st, until: map[string]time.Time{}}
}

func (m *replayOverwrite) RememberOnce(ctx context.Context, key string, now, until time.Time) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	prev, ok := m.until[key]
	m.until[key] = until
	return !ok || !now.Before(prev), nil
}

// claimNoLease claims without holding (the shortest lease a store takes):
// another claim gets them again.
type claimNoLease struct{ *memstore.Store }

func (m claimNoLease) ClaimDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]sessiond.Delivery, error) {
	if err := sessiond.CheckLease(lease); err != nil {
		return nil, err
	}
	return m.Store.ClaimDeliveries(ctx, now, limit, sessiond.MinClaimLease)
}

// claimDrops claims a batch but returns all of it but its last.
type claimDrops struct{ *memstore.Store }

func (m claimDrops) ClaimDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]sessiond.Delivery, error) {
	ds, err := m.Store.ClaimDeliveries(ctx, now, limit, lease)
	if len(ds) > 1 {
		ds = ds[:len(ds)-1]
	}
	return ds, err
}

// fenceIgnored writes every outcome, the claim's or not (FinishDelivery).
type fenceIgnored struct{ *memstore.Store }

func (m fenceIgnored) FinishClaimed(ctx context.Context, c sessiond.Delivery, state sessiond.DeliveryState, attempts int, next time.Time, lastErr string, at time.Time) error {
	return m.FinishDelivery(ctx, c.ID, state, attempts, next, lastErr, at)
}

// fenceStateOnly fences on the state alone: a pending delivery is taken
// for this claim's, whoever claimed it since.
type fenceStateOnly struct{ *memstore.Store }

func (m fenceStateOnly) FinishClaimed(ctx context.Context, c sessiond.Delivery, state sessiond.DeliveryState, attempts int, next time.Time, lastErr string, at time.Time) error {
	ds, err := m.ListDeliveries(ctx, sessiond.DeliveryPending, 1000)
	if err != nil {
		return err
	}
	for _, d := range ds {
		if d.ID == c.ID {
			return m.FinishDelivery(ctx, c.ID, state, attempts, next, lastErr, at)
		}
	}
	return fmt.Errorf("mutant: %w", sessiond.ErrConflict)
}

// pagerSkip loses the first session of every page after the first (its
// cursor is read as "at or after" one too far).
type pagerSkip struct{ *memstore.Store }

func (m pagerSkip) ListPage(ctx context.Context, q sessiond.PageQuery) (sessiond.Page, error) {
	p, err := m.Store.ListPage(ctx, q)
	if q.After != "" && len(p.Sessions) > 0 {
		p.Sessions = p.Sessions[1:]
	}
	return p, err
}

// pagerTies orders by time alone: after a cursor it leaves out every
// session of the cursor's instant.
type pagerTies struct{ *memstore.Store }

func (m pagerTies) ListPage(ctx context.Context, q sessiond.PageQuery) (sessiond.Page, error) {
	p, err := m.Store.ListPage(ctx, q)
	if from, cerr := sessiond.CheckPageQuery(q); cerr == nil && !from.IsZero() {
		p.Sessions = slices.DeleteFunc(p.Sessions, func(s *sessiond.Session) bool { return s.CreatedAt.Equal(from.At) })
	}
	return p, err
}

// revPagerTies leaves out, after a cursor, every revocation of its instant.
type revPagerTies struct{ *memstore.Store }

func (m revPagerTies) PageRevocations(ctx context.Context, q sessiond.RevocationQuery) (sessiond.RevocationPage, error) {
	p, err := m.Store.PageRevocations(ctx, q)
	if q.After.ID != "" {
		p.Revocations = slices.DeleteFunc(p.Revocations, func(r sessiond.Revocation) bool { return r.RevokedAt.Equal(q.After.At) })
	}
	return p, err
}

// revPagerReversed returns each page newest first.
type revPagerReversed struct{ *memstore.Store }

func (m revPagerReversed) PageRevocations(ctx context.Context, q sessiond.RevocationQuery) (sessiond.RevocationPage, error) {
	p, err := m.Store.PageRevocations(ctx, q)
	slices.Reverse(p.Revocations)
	return p, err
}

// revPagerKeepsExcept ignores q.Except: the snapshot then sends the
// revocations it meant to leave out (the kill switch's, which a watermark
// covers).
type revPagerKeepsExcept struct{ *memstore.Store }

func (m revPagerKeepsExcept) PageRevocations(ctx context.Context, q sessiond.RevocationQuery) (sessiond.RevocationPage, error) {
	if err := sessiond.CheckRevocationQuery(q); err != nil {
		return sessiond.RevocationPage{}, err
	}
	q.Except = ""
	return m.Store.PageRevocations(ctx, q)
}

// counterMutant is a WindowCounter of its own: one whose window still
// counts at its end instant (lost false), or one that reads the count and
// writes it plus one in another step (lost true), so concurrent calls
// return the same count.
type counterMutant struct {
	*memstore.Store
	lost bool
	mu   sync.Mutex
	n    map[string]int64
	end  map[string]time.Time
}

func newCounterMutant(st *memstore.Store, lost bool) *counterMutant {
	return &counterMutant{Store: st, lost: lost, n: map[string]int64{}, end: map[string]time.Time{}}
}

func (m *counterMutant) Incr(ctx context.Context, key string, now time.Time, window time.Duration) (int64, time.Time, error) {
	if err := sessiond.CheckCounter(key, window); err != nil {
		return 0, time.Time{}, err
	}
	if err := ctx.Err(); err != nil {
		return 0, time.Time{}, err
	}
	m.mu.Lock()
	n, end := m.n[key], m.end[key]
	running := now.Before(end)
	if !m.lost {
		running = !now.After(end) && !end.IsZero()
	}
	if !running {
		n, end = 0, now.Add(window)
	}
	if m.lost {
		m.mu.Unlock()
		runtime.Gosched()
		m.mu.Lock()
	}
	n++
	m.n[key], m.end[key] = n, end
	m.mu.Unlock()
	return n, end, nil
}

// counterHoarder counts right but never forgets an ended window (the
// sweep an implementer left out), or, with carry, starts a new window
// from the old one's count when it finds the old one still kept. It has
// the suite's CounterWindows hook, as a store's test build would.
type counterHoarder struct {
	*memstore.Store
	carry bool
	mu    sync.Mutex
	n     map[string]int64
	end   map[string]time.Time
}

func (m *counterHoarder) Incr(ctx context.Context, key string, now time.Time, window time.Duration) (int64, time.Time, error) {
	if err := sessiond.CheckCounter(key, window); err != nil {
		return 0, time.Time{}, err
	}
	if err := ctx.Err(); err != nil {
		return 0, time.Time{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.n == nil {
		m.n, m.end = map[string]int64{}, map[string]time.Time{}
	}
	if !now.Before(m.end[key]) {
		if !m.carry {
			m.n[key] = 0
		}
		m.end[key] = now.Add(window)
	}
	m.n[key]++
	return m.n[key], m.end[key], nil
}

func (m *counterHoarder) CounterWindows(context.Context, time.Time) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.n), nil
}

// metaNoCAS writes over whatever version is stored.
type metaNoCAS struct{ *memstore.Store }

func (m metaNoCAS) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	if _, cur, err := m.GetMeta(ctx, name); err == nil {
		version = cur
	}
	return m.Store.PutMeta(ctx, name, value, version)
}

// bulkUnlogged leaves the kill switch's revocations out of the log.
type bulkUnlogged struct {
	*memstore.Store
	mu    sync.Mutex
	times []time.Time
}

func newBulkUnlogged(st *memstore.Store) *bulkUnlogged { return &bulkUnlogged{Store: st} }

func (m *bulkUnlogged) RevokeMatching(ctx context.Context, f sessiond.RevokeFilter, at time.Time, reason sessiond.RevokeReason) (int, []string, error) {
	m.mu.Lock()
	m.times = append(m.times, at)
	m.mu.Unlock()
	return m.Store.RevokeMatching(ctx, f, at, reason)
}

func (m *bulkUnlogged) drop(r sessiond.Revocation) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.ContainsFunc(m.times, r.RevokedAt.Equal)
}

func (m *bulkUnlogged) Revocations(ctx context.Context, since time.Time) ([]sessiond.Revocation, error) {
	revs, err := m.Store.Revocations(ctx, since)
	return slices.DeleteFunc(revs, m.drop), err
}

func (m *bulkUnlogged) PageRevocations(ctx context.Context, q sessiond.RevocationQuery) (sessiond.RevocationPage, error) {
	p, err := m.Store.PageRevocations(ctx, q)
	p.Revocations = slices.DeleteFunc(p.Revocations, m.drop)
	return p, err
}

// liveInclusive counts a session whose expiry is now as live (Session.Live
// says it is over).
type liveInclusive struct{ *memstore.Store }

func (m liveInclusive) CountLive(ctx context.Context, now time.Time) (map[sessiond.Strategy]int, error) {
	return m.Store.CountLive(ctx, now.Add(-time.Nanosecond))
}

// TestReplayByStoreClock: a store that expires one-time keys by its own
// clock but keeps each its window from the call (redisstore) passes the
// replay-guard suites once it says so, and the mutant above shows it
// fails without.
func TestReplayByStoreClock(t *testing.T) {
	newStore := func(t *testing.T) sessiond.Store {
		st := memstore.New()
		t.Cleanup(func() { st.Close() })
		return replayOwnClock{st, true}
	}
	sessiondtest.TestReplayGuard(t, newStore, sessiondtest.ReplayByStoreClock())
}
