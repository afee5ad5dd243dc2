package sessiondtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// t0 is the suite's reference time: UTC, truncated to the microsecond, as
// every time the suite hands a store.
var t0 = time.Date(2030, time.March, 4, 5, 6, 7, 891234000, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

// fixture is what one subtest works with: a fresh store and a context.
type fixture struct {
	t        *testing.T
	st       sessiond.Store
	ctx      context.Context
	newStore func(t *testing.T) sessiond.Store // for subtests that need another store
}

func setup(t *testing.T, newStore func(t *testing.T) sessiond.Store) *fixture {
	t.Helper()
	t.Parallel()
	st := newStore(t)
	if st == nil {
		t.Fatal("newStore returned nil")
	}
	return &fixture{t: t, st: st, ctx: t.Context(), newStore: newStore}
}

// subtest is one named check of an extension E, run on a fresh store.
type subtest[E any] struct {
	name string
	run  func(t *testing.T, f *fixture, e E)
}

// runSuite runs each subtest in parallel on a fresh store seen as E. It
// fails t once, before any subtest, if the stores do not implement E.
func runSuite[E any](t *testing.T, newStore func(t *testing.T) sessiond.Store, tests []subtest[E]) {
	t.Helper()
	if st := newStore(t); !implements[E](st) {
		t.Fatalf("%T does not implement %v", st, reflect.TypeFor[E]())
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := setup(t, newStore)
			tc.run(t, f, f.st.(E))
		})
	}
}

// implements reports whether st implements E.
func implements[E any](st sessiond.Store) bool {
	_, ok := st.(E)
	return ok
}

// NewSession returns a live database-strategy session of subject created at
// created, with every field set, for a store's own tests to create as it is
// or after changing the fields a test is about. Each call has a new ID.
func NewSession(subject string, created time.Time) *sessiond.Session {
	return &sessiond.Session{
		ID:            sessiond.NewSessionID(),
		Subject:       subject,
		Strategy:      sessiond.StrategyDatabase,
		CreatedAt:     created,
		LastActiveAt:  created.Add(time.Second),
		IdleExpiresAt: created.Add(30 * time.Minute),
		ExpiresAt:     created.Add(8 * time.Hour),
		Persistent:    false,
		Client:        sessiond.Client{IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) sessiondtest"},
		Claims:        []byte(`{"role":"admin","tenant":"acme"}`),
	}
}

func randomHash() sessiond.TokenHash {
	var h sessiond.TokenHash
	_, _ = rand.Read(h[:])
	return h
}

// NewToken returns a token of kind for session sid with a random hash,
// issued at issued and valid for 24 hours.
func NewToken(kind sessiond.TokenKind, sid sessiond.SessionID, issued time.Time) sessiond.Token {
	return sessiond.Token{
		Hash:      randomHash(),
		Kind:      kind,
		SessionID: sid,
		IssuedAt:  issued,
		ExpiresAt: issued.Add(24 * time.Hour),
	}
}

// createRefused calls Create(s, first, more...) and fails the test unless
// it returns want (as wantErr checks it) and stores neither s nor first.
func (f *fixture) createRefused(op string, want error, s *sessiond.Session, first sessiond.Token, more ...sessiond.Token) {
	f.t.Helper()
	err := f.st.Create(f.ctx, s, append([]sessiond.Token{first}, more...)...)
	wantErr(f.t, op, err, want)
	f.wantGone(s.ID)
	f.wantNoToken(first.Hash)
}

// create stores s with tokens and fails the test if that fails.
func (f *fixture) create(s *sessiond.Session, tokens ...sessiond.Token) {
	f.t.Helper()
	if err := f.st.Create(f.ctx, s, tokens...); err != nil {
		f.t.Fatalf("Create(%s) = %v; want nil", s.ID, err)
	}
}

// revoke revokes session id and fails the test if that fails.
func (f *fixture) revoke(id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason) *sessiond.Session {
	f.t.Helper()
	got, err := f.st.Revoke(f.ctx, id, at, reason)
	if err != nil {
		f.t.Fatalf("Revoke(%s) = %v; want nil", id, err)
	}
	return got
}

// get returns session id and fails the test if that fails.
func (f *fixture) get(id sessiond.SessionID) *sessiond.Session {
	f.t.Helper()
	got, err := f.st.Get(f.ctx, id)
	if err != nil {
		f.t.Fatalf("Get(%s) = %v; want nil error", id, err)
	}
	if got == nil {
		f.t.Fatalf("Get(%s) = nil session and nil error", id)
	}
	return got
}

// lookup returns the token with hash h and its session and fails the test
// if that fails.
func (f *fixture) lookup(h sessiond.TokenHash) (sessiond.Token, *sessiond.Session) {
	f.t.Helper()
	tok, s, err := f.st.Lookup(f.ctx, h)
	if err != nil {
		f.t.Fatalf("Lookup(%x) = %v; want nil error", h[:4], err)
	}
	if s == nil {
		f.t.Fatalf("Lookup(%x) = nil session and nil error", h[:4])
	}
	return tok, s
}

// wantSession checks that Get(want.ID) returns want.
func (f *fixture) wantSession(want *sessiond.Session) {
	f.t.Helper()
	checkSession(f.t, fmt.Sprintf("Get(%s)", want.ID), f.get(want.ID), want)
}

// wantGone checks that session id does not exist.
func (f *fixture) wantGone(id sessiond.SessionID) {
	f.t.Helper()
	got, err := f.st.Get(f.ctx, id)
	if !errors.Is(err, sessiond.ErrNotFound) {
		f.t.Errorf("Get(%s) = %v, %v; want ErrNotFound", id, got, err)
	}
}

// wantNoToken checks that no token with hash h exists.
func (f *fixture) wantNoToken(h sessiond.TokenHash) {
	f.t.Helper()
	_, _, err := f.st.Lookup(f.ctx, h)
	if !errors.Is(err, sessiond.ErrNotFound) {
		f.t.Errorf("Lookup(%x) error = %v; want ErrNotFound", h[:4], err)
	}
}

// wantToken checks that Lookup(want.Hash) returns want and a session with
// want's session ID.
func (f *fixture) wantToken(want sessiond.Token) *sessiond.Session {
	f.t.Helper()
	tok, s := f.lookup(want.Hash)
	checkToken(f.t, fmt.Sprintf("Lookup(%x)", want.Hash[:4]), tok, want)
	if s.ID != want.SessionID {
		f.t.Errorf("Lookup(%x) session ID = %s; want %s", want.Hash[:4], s.ID, want.SessionID)
	}
	return s
}

func wantErr(t *testing.T, op string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s error = %v; want %v", op, err, target)
	}
}

// checkSession reports every field of got that differs from want. Times are
// compared with Equal, Claims byte for byte (nil and empty are equal).
func checkSession(t *testing.T, op string, got, want *sessiond.Session) {
	t.Helper()
	if got == nil {
		t.Errorf("%s = nil session; want %s", op, want.ID)
		return
	}
	checkFields(t, op, *got, *want)
}

// checkToken reports every field of got that differs from want.
func checkToken(t *testing.T, op string, got, want sessiond.Token) {
	t.Helper()
	checkFields(t, op, got, want)
}

// checkFields reports every exported field of the struct got that differs
// from the same field of want: times compared with Equal, byte slices byte
// for byte (nil and empty are equal), the rest with reflect.DeepEqual.
func checkFields[T any](t *testing.T, op string, got, want T) {
	t.Helper()
	for _, d := range fieldDiffs(op, got, want) {
		t.Error(d)
	}
}

// fieldDiffs returns a line for each field checkFields reports.
func fieldDiffs[T any](op string, got, want T) []string {
	var out []string
	g, w := reflect.ValueOf(got), reflect.ValueOf(want)
	for i := range g.NumField() {
		gf, wf := g.Field(i).Interface(), w.Field(i).Interface()
		if !sameField(gf, wf) {
			out = append(out, fmt.Sprintf("%s.%s = %v; want %v", op, g.Type().Field(i).Name, shown(gf), shown(wf)))
		}
	}
	return out
}

func sameField(got, want any) bool {
	switch g := got.(type) {
	case time.Time:
		return g.Equal(want.(time.Time))
	case []byte:
		return bytes.Equal(g, want.([]byte))
	case json.RawMessage:
		return bytes.Equal(g, want.(json.RawMessage))
	}
	return reflect.DeepEqual(got, want)
}

// shown is v as a failure message shows it: bytes as text, a token hash
// by its first bytes.
func shown(v any) any {
	switch v := v.(type) {
	case []byte:
		return string(v)
	case json.RawMessage:
		return string(v)
	case sessiond.TokenHash:
		return fmt.Sprintf("%x", v[:4])
	}
	return v
}

// checkRevocations reports differences between got and want, compared as
// sets keyed by session ID.
func checkRevocations(t *testing.T, op string, got, want []sessiond.Revocation) {
	t.Helper()
	wantByID := make(map[sessiond.SessionID]sessiond.Revocation, len(want))
	for _, r := range want {
		wantByID[r.SessionID] = r
	}
	seen := make(map[sessiond.SessionID]bool, len(got))
	for _, g := range got {
		if seen[g.SessionID] {
			t.Errorf("%s lists session %s twice", op, g.SessionID)
			continue
		}
		seen[g.SessionID] = true
		w, ok := wantByID[g.SessionID]
		if !ok {
			t.Errorf("%s includes session %s (subject %q, revoked %v, expires %v); want it left out",
				op, g.SessionID, g.Subject, g.RevokedAt, g.ExpiresAt)
			continue
		}
		if g.Subject != w.Subject || !g.RevokedAt.Equal(w.RevokedAt) || !g.ExpiresAt.Equal(w.ExpiresAt) || g.Reason != w.Reason {
			t.Errorf("%s entry = %+v; want %+v", op, g, w)
		}
	}
	for _, w := range want {
		if !seen[w.SessionID] {
			t.Errorf("%s is missing session %s", op, w.SessionID)
		}
	}
}

// revocation is what RevokeSubject and Revocations report for s revoked at
// at for reason.
func revocation(s *sessiond.Session, at time.Time, reason sessiond.RevokeReason) sessiond.Revocation {
	return sessiond.Revocation{SessionID: s.ID, Subject: s.Subject, RevokedAt: at, ExpiresAt: s.ExpiresAt, Reason: reason}
}

func ids(ss []*sessiond.Session) []sessiond.SessionID {
	out := make([]sessiond.SessionID, len(ss))
	for i, s := range ss {
		out[i] = s.ID
	}
	return out
}

// clone returns a deep copy of s, so a test keeps its expectation even if a
// store wrongly holds on to what it was given.
func clone(s *sessiond.Session) *sessiond.Session {
	c := *s
	c.Claims = bytes.Clone(s.Claims)
	return &c
}

// deleteBatches calls del, a deletion of at most some limit, until it
// deletes nothing (ten calls at most), and returns what each call
// returned. It fails the test if a call fails.
func deleteBatches(t *testing.T, op string, del func() (int, error)) []int {
	t.Helper()
	var counts []int
	for range 10 {
		n, err := del()
		if err != nil {
			t.Fatalf("%s = %v; want nil", op, err)
		}
		counts = append(counts, n)
		if n == 0 {
			break
		}
	}
	return counts
}
