// Package memstore is a sessiond.Store kept in memory: the reference
// implementation of the Store contract, and a real backend for tests and for
// a single process that can afford to lose every session when it exits.
package memstore

import (
	"bytes"
	"context"
	"fmt"
	"sync"

	"github.com/sessiond/sessiond"
)

var _ sessiond.Store = (*Store)(nil)

// Store is a sessiond.Store in memory. It is safe for concurrent use. Every
// value it returns is a copy the caller may keep and change. Data lives only
// as long as the process; Close drops it.
type Store struct {
	mu        sync.RWMutex
	closed    bool
	sessions  map[sessiond.SessionID]*record
	tokens    map[sessiond.TokenHash]*tokenRecord
	bySubject map[string]map[sessiond.SessionID]*record
	revoked   map[sessiond.SessionID]*record // revoked sessions not yet deleted, for Revocations
	revOrder  revocationOrder                // the same in PageRevocations' order

	// metaMu guards meta (nil once closed), apart from mu: the callbacks
	// of the Recorded writes run under mu and may read shared documents
	// (the SSF transmitter's stream list, to make a change's deliveries).
	metaMu sync.RWMutex
	meta   map[string]metaDoc

	events     []storedEvent // the security event log, in ID order
	deliveries map[string]*sessiond.Delivery

	once   sessiond.ReplayMemory  // ReplayGuard keys and their expiry
	counts sessiond.CounterMemory // WindowCounter windows
}

// record is a stored session. Its Claims are owned by the store: cloned on
// the way in and on the way out, never shared.
type record struct {
	s      sessiond.Session
	tokens []sessiond.TokenHash
	// current are the refresh tokens of tokens not yet retired, so a swap
	// retires them without walking the whole chain (which keeps every
	// retired token for reuse detection, and grows with each refresh).
	current []*tokenRecord
}

// tokenRecord is a stored token with a pointer to its session, so Lookup
// needs one map access.
type tokenRecord struct {
	t   sessiond.Token
	rec *record
}

// New returns an empty Store.
func New() *Store {
	return &Store{
		sessions:   make(map[sessiond.SessionID]*record),
		tokens:     make(map[sessiond.TokenHash]*tokenRecord),
		bySubject:  make(map[string]map[sessiond.SessionID]*record),
		revoked:    make(map[sessiond.SessionID]*record),
		meta:       make(map[string]metaDoc),
		deliveries: make(map[string]*sessiond.Delivery),
	}
}

// Preallocated errors keep the not-found paths (which callers with garbage
// input reach) free of allocations.
var (
	errClosed         = fmt.Errorf("memstore: closed: %w", sessiond.ErrStoreUnavailable)
	errLookupNotFound = fmt.Errorf("memstore: lookup token: %w", sessiond.ErrNotFound)
	errGetNotFound    = fmt.Errorf("memstore: get session: %w", sessiond.ErrNotFound)
)

// lock takes the write lock for op, after checking ctx and the outcome of
// the argument checks; when one fails or the store is closed it returns
// the error and holds nothing.
func (s *Store) lock(ctx context.Context, op string, checks ...error) error {
	if err := s.check(ctx, op, checks); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	return nil
}

// rlock is lock with the read lock.
func (s *Store) rlock(ctx context.Context, op string, checks ...error) error {
	if err := s.check(ctx, op, checks); err != nil {
		return err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errClosed
	}
	return nil
}

func (s *Store) check(ctx context.Context, op string, checks []error) error {
	if err := ctxErr(ctx, op); err != nil {
		return err
	}
	for _, err := range checks {
		if err != nil {
			return wrap(op, err)
		}
	}
	return nil
}

func ctxErr(ctx context.Context, op string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memstore: %s: %w", op, err)
	}
	return nil
}

func (r *record) clone() *sessiond.Session {
	c := new(sessiond.Session)
	*c = r.s
	c.Claims = cloneBytes(r.s.Claims)
	return c
}

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return bytes.Clone(b)
}

func (r *record) revocation() sessiond.Revocation {
	return sessiond.Revocation{
		SessionID: r.s.ID,
		Subject:   r.s.Subject,
		RevokedAt: r.s.RevokedAt,
		ExpiresAt: r.s.ExpiresAt,
		Reason:    r.s.RevokeReason,
	}
}

// Ping returns nil unless the store is closed or ctx is done.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rlock(ctx, "ping"); err != nil {
		return err
	}
	defer s.mu.RUnlock()
	return nil
}

// Close drops every session, event and delivery. Later calls fail with ErrStoreUnavailable.
// Closing twice is harmless.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.sessions, s.tokens, s.bySubject, s.revoked = nil, nil, nil, nil
	s.revOrder = revocationOrder{}
	s.events, s.deliveries = nil, nil
	s.metaMu.Lock()
	s.meta = nil
	s.metaMu.Unlock()
	return nil
}

// wrap names the store and the operation in err.
func wrap(op string, err error) error { return fmt.Errorf("memstore: %s: %w", op, err) }
