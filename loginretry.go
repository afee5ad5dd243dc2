package sessiond

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"time"
)

// LoginRetry names a login that its client may send again when the answer
// was lost (the Idempotency-Key of POST /v1/sessions, as the IETF draft
// "The Idempotency-Key HTTP Header Field" describes): a login sent again
// with the same key, scope and request replaces the session the earlier
// one made, which nobody holds the tokens of, instead of adding a second.
//
// The tokens of the earlier answer are stored hashed and cannot be sent
// again, so the retry gets a new session and the earlier one is revoked
// (ReasonRetried) before the new one is stored: it counts against no
// session limit. An earlier session that was used since (refreshed, or
// touched in the database strategy) is no orphan: its answer arrived, so
// the login is refused (ErrIdempotencyKeyReused) and that session kept.
// Concurrent logins with one key leave exactly one of their sessions
// live, on every store and across nodes: the one that arrived last (by
// the Manager's clock; the last stored of those that arrived in the same
// microsecond). A login stored after a later one with its key (it was
// slow, and its client sent that one again) fails with
// ErrLoginSuperseded, storing and revoking nothing.
//
// The key is kept, hashed with its scope, as a token of the session it
// made (KindLoginKey), so that every store holds it without a schema of
// its own, unique (a store refuses a token hash twice, atomically, which
// decides a race), and is deleted with its session. It is honoured for
// LoginRetryWindow after its login, and never past that session's life.
type LoginRetry struct {
	// Key is the client's key: 1 to MaxLoginRetryKey printable ASCII
	// characters, unique per login (a UUID, 128 random bits).
	Key string
	// Scope is whose key it is (the server: the API key's ID). Keys of
	// different scopes never match.
	Scope string
	// Request is what else of the request a retry must repeat, beyond the
	// subject and CreateOptions (the API's handoff members); nil for none.
	Request []byte
}

// ErrIdempotencyKeyReused: a login's idempotency key came with another
// subject or request than the login it was first sent with, after the
// session of a login with it was used (its answer arrived), or with more
// than maxLoginRetries logins. Nothing was stored or revoked.
var ErrIdempotencyKeyReused = errors.New("idempotency key reused with another request")

// ErrLoginSuperseded: a login with an idempotency key arrived before
// another with its key that was stored first (it was slow, not lost, and
// its client sent the other again): the later one's session stands, this
// one stored and revoked nothing. Not a store failure, and not worth
// retrying: the IETF draft's 409 for a request whose key is in use.
var ErrLoginSuperseded = errors.New("a later login with its idempotency key was stored")

// MaxLoginRetryKey bounds LoginRetry.Key, in bytes.
const MaxLoginRetryKey = 255

// LoginRetryWindow is how long after a login its key is honoured. A
// retry comes within seconds or minutes; a day, the draft's example, is
// enough for a client that retries once back online, and its key is
// forgotten anyway with its session.
const LoginRetryWindow = 24 * time.Hour

// maxLoginRetries bounds the logins one key makes: each retry reads the
// key's earlier logins one store Lookup each.
const maxLoginRetries = 16

// createAttempts bounds a keyed login's rounds when concurrent logins with
// its key take the generation it chose (or its room under the limit).
const createAttempts = 4

// checkLoginRetry checks r.Key (the zero LoginRetry is none).
func checkLoginRetry(r LoginRetry) error {
	if len(r.Key) > MaxLoginRetryKey {
		return argError("idempotency_key", "must be at most %d characters, got %d", MaxLoginRetryKey, len(r.Key))
	}
	for i := 0; i < len(r.Key); i++ {
		if c := r.Key[i]; c < 0x20 || c > 0x7e {
			return argError("idempotency_key", "must be printable ASCII")
		}
	}
	return nil
}

// loginFingerprint is what a retry must repeat: the subject, the session's
// claims (a DPoP binding included), persistence, client and r.Request.
func loginFingerprint(s *Session, r LoginRetry) [sha256.Size]byte {
	h := sha256.New()
	field(h, []byte(s.Subject))
	field(h, s.Claims)
	if s.Persistent {
		field(h, []byte{1})
	} else {
		field(h, []byte{0})
	}
	field(h, []byte(s.Client.IP))
	field(h, []byte(s.Client.UserAgent))
	field(h, r.Request)
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// loginKeyHash is the token hash under which the login of generation gen
// with key r is stored, or, with fp, that login's fingerprint. It starts
// with bytes no token's text starts with, so no presented token hashes
// to it.
func loginKeyHash(r LoginRetry, gen int, fp *[sha256.Size]byte) TokenHash {
	h := sha256.New()
	h.Write([]byte{0, 0xff})
	field(h, []byte("sessiond login retry v1"))
	field(h, []byte(r.Scope))
	field(h, []byte(r.Key))
	var g [8]byte
	binary.BigEndian.PutUint64(g[:], uint64(gen))
	h.Write(g[:])
	if fp != nil {
		h.Write(fp[:])
	}
	var out TokenHash
	h.Sum(out[:0])
	return out
}

// field writes b length-prefixed, so that no two field lists hash alike.
func field(h hash.Hash, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	h.Write(n[:])
	h.Write(b)
}

// loginKeyTokens are the tokens that keep generation gen of key r with
// session s: the key, and the key with the request's fingerprint.
func loginKeyTokens(s *Session, r LoginRetry, gen int, fp *[sha256.Size]byte, now time.Time) []Token {
	until := now.Add(LoginRetryWindow)
	if s.ExpiresAt.Before(until) {
		until = s.ExpiresAt
	}
	t := Token{Kind: KindLoginKey, SessionID: s.ID, IssuedAt: now, ExpiresAt: until}
	key, print := t, t
	key.Hash, print.Hash = loginKeyHash(r, gen, nil), loginKeyHash(r, gen, fp)
	return []Token{key, print}
}

// earlierLogins walks the logins key r made, generation by generation, and
// returns the first generation free and the live sessions of those inside
// the window. ErrIdempotencyKeyReused when the latest of those was sent
// with another request or a live one was used since its login (refreshed
// or touched: its answer arrived); ErrLoginSuperseded when one of them arrived
// after now.
func (m *Manager) earlierLogins(ctx context.Context, r LoginRetry, fp *[sha256.Size]byte, now time.Time) (gen int, live []SessionID, err error) {
	last := -1 // the latest generation inside the window
	answered := false
	for gen = 0; gen < maxLoginRetries; gen++ {
		t, s, err := m.store.Lookup(ctx, loginKeyHash(r, gen, nil))
		if errors.Is(err, ErrNotFound) {
			if gen == 0 {
				// The first login, replaced by a retry, idles out and
				// is collected before the retry's session: the key's
				// logins go on at generation 1.
				if _, _, err := m.store.Lookup(ctx, loginKeyHash(r, 1, nil)); err == nil {
					continue
				} else if !errors.Is(err, ErrNotFound) {
					return 0, nil, fmt.Errorf("sessiond: create session: %w", m.storeErr.check("lookup", err))
				}
			}
			break
		} else if err != nil {
			return 0, nil, fmt.Errorf("sessiond: create session: %w", m.storeErr.check("lookup", err))
		}
		if t.Kind != KindLoginKey || !now.Before(t.ExpiresAt) {
			continue // a use of the key past its window: another login
		}
		if t.IssuedAt.After(now) {
			// A login with the key that arrived after this one was
			// stored first: this one was slow, not lost, and its client
			// sent that retry and reads its answer, so it must not be
			// replaced by this one, whose answer nobody reads.
			return 0, nil, fmt.Errorf("sessiond: create session: %w", ErrLoginSuperseded)
		}
		last = gen
		if s.Live(now) {
			if s.LastActiveAt.After(t.IssuedAt) {
				// Refreshed or touched since: its answer arrived, so this
				// is a new login with the key, not a retry of a lost one,
				// and its session is in use.
				answered = true
			}
			live = append(live, s.ID)
		}
	}
	if last >= 0 {
		// Each generation was checked against the one before it, so the
		// latest stands for all of those inside the window.
		t, _, err := m.store.Lookup(ctx, loginKeyHash(r, last, fp))
		switch {
		case errors.Is(err, ErrNotFound):
			return 0, nil, fmt.Errorf("sessiond: create session: %w", ErrIdempotencyKeyReused)
		case err != nil:
			return 0, nil, fmt.Errorf("sessiond: create session: %w", m.storeErr.check("lookup", err))
		case t.Kind != KindLoginKey:
			return 0, nil, fmt.Errorf("sessiond: create session: %w", ErrIdempotencyKeyReused)
		}
	}
	if answered {
		return 0, nil, fmt.Errorf("sessiond: create session: %w: its session was used since", ErrIdempotencyKeyReused)
	}
	if gen == maxLoginRetries {
		return 0, nil, fmt.Errorf("sessiond: create session: %w: sent %d times", ErrIdempotencyKeyReused, maxLoginRetries)
	}
	return gen, live, nil
}

// createRetried stores s as the login of key r: it revokes the sessions
// the key's earlier logins left live, then stores s with the next free
// generation's tokens. A concurrent login with the key that took the
// generation (the store refuses its hash: ErrConflict) or the room the
// limit left makes it walk again and replace that login too, unless that
// login arrived later (ErrLoginSuperseded), so the latest to arrive stays
// live alone.
func (m *Manager) createRetried(ctx context.Context, s *Session, now time.Time, ev *carried, r LoginRetry) (*Issued, error) {
	fp := loginFingerprint(s, r)
	prevGen := -1
	var lastErr error
	for range createAttempts {
		gen, live, err := m.earlierLogins(ctx, r, &fp, now)
		if err != nil {
			return nil, err
		}
		if errors.Is(lastErr, ErrLimitReached) && gen == prevGen && len(live) == 0 {
			return nil, lastErr // the limit is full of other logins
		}
		prevGen = gen
		for _, id := range live {
			if _, _, err := m.revokeBy(ctx, id, now, ReasonRetried, s.Client); err != nil && !errors.Is(err, ErrNotFound) {
				return nil, err
			}
		}
		extra := loginKeyTokens(s, r, gen, &fp, now)
		iss, err := m.issueAndStore(ctx, s, now, m.limit.max, ev, false, extra...)
		if errors.Is(err, ErrLimitReached) && m.endBehindMarks(ctx, s.Subject) > 0 {
			iss, err = m.issueAndStore(ctx, s, now, m.limit.max, ev, false, extra...)
		}
		if err == nil {
			return iss, nil
		}
		if !errors.Is(err, ErrConflict) && !errors.Is(err, ErrLimitReached) {
			return nil, err
		}
		lastErr = err
	}
	if errors.Is(lastErr, ErrConflict) {
		// Every round lost: reported once, as a conflict the Manager
		// gives up on is; the rounds it won back were the store deciding
		// a race, not failing.
		m.storeErr.check(createOp(m.limit.max), lastErr)
	}
	return nil, lastErr
}
