package sessiond

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// hybridFlow is StrategyHybrid: a short-lived signed access token checked
// without I/O (signature, in-process revoked set, watermarks) plus an
// opaque refresh token kept in the store, replaced on every refresh unless
// rotation is off.
type hybridFlow struct {
	signedAccess
	store  Store
	fails  storeFailures
	opaque OpaqueTokens
	rotate bool
	grants *grantCache // refresh tokens this node stored; nil when off or without rotation
}

func newHybridFlow(o Options, limit sessionLimit, marks *watermarks) (*hybridFlow, error) {
	if err := checkLimit(o, limit, true); err != nil {
		return nil, err
	}
	if err := needStore(o); err != nil {
		return nil, err
	}
	a, err := newSignedAccess(o, marks, nil, o.Lifetimes.Access)
	if err != nil {
		return nil, err
	}
	// The revoked set needs the signer's leeway, known only now.
	a.revoked = newRevokedSet(o.Lifetimes.Access, o.Signed.Leeway())
	f := &hybridFlow{signedAccess: a, store: o.Store, fails: o.StoreErrorObserver, opaque: o.Opaque, rotate: !o.NoRotation}
	if f.rotate && o.RefreshCacheSize > 0 {
		// Without rotation a token is presented many times, and the cache
		// takes an entry out on its first use.
		f.grants = newGrantCache(o.RefreshCacheSize, o.Lifetimes.Access)
	}
	return f, nil
}

func (f *hybridFlow) keepsSessions() bool { return true }

func (f *hybridFlow) inProcess() (*verifyCache, *revokedSet, *grantCache) {
	return f.cache, f.revoked, f.grants
}

func (f *hybridFlow) issue(s *Session, now time.Time, stepUp bool) (*Issued, []Token, error) {
	return f.issueTokens(s, now, stepUp)
}

// issueTokens mints an access token carrying stepUp and a refresh token.
func (f *hybridFlow) issueTokens(s *Session, now time.Time, stepUp bool) (*Issued, []Token, error) {
	iss, _, err := f.issueAccess(s, now, stepUp)
	if err != nil {
		return nil, nil, err
	}
	rt, h, err := f.opaque.New(KindRefresh)
	if err != nil {
		return nil, nil, err
	}
	iss.RefreshToken, iss.Session = rt, *s
	return iss, []Token{{Hash: h, Kind: KindRefresh, SessionID: s.ID, IssuedAt: now, ExpiresAt: s.IdleExpiresAt}}, nil
}

func (f *hybridFlow) verify(_ context.Context, access Secret, now time.Time, check func(*Session) error) (verified, error) {
	v, err := f.signedAccess.verify(access, now)
	if err == nil && check != nil {
		if err = check(&v.session); errors.Is(err, SkipActivity) {
			err = nil // nothing is recorded on a signed token's verify anyway
		}
		v.refused = err != nil
	}
	return v, err
}

// checkRefresh finds the stored refresh token and its session and checks
// both; whether a retired token may still be used is the Manager's call.
func (f *hybridFlow) checkRefresh(ctx context.Context, refresh Secret, now time.Time) (refreshGrant, error) {
	h, err := f.opaque.Parse(KindRefresh, refresh)
	if err != nil {
		return refreshGrant{}, fmt.Errorf("sessiond: refresh: %w", err)
	}
	if g, ok := f.cachedGrant(h, refresh, now); ok {
		return g, nil
	}
	tok, s, err := lookupHash(ctx, f.store, f.fails, KindRefresh, h, "refresh")
	if err != nil {
		return refreshGrant{}, err
	}
	if s.Strategy != StrategyHybrid {
		return refreshGrant{}, fmt.Errorf("sessiond: refresh: %w", ErrInvalidToken)
	}
	// From here the token is a genuine one of s: a failure names s (for
	// the failed-refresh limit).
	named := refreshGrant{session: *s}
	if err := s.Check(now); err != nil {
		if s.RevokeReason == ReasonRotated && !tok.RetiredAt.IsZero() {
			// A token retired before its session was rotated away: the
			// successor holds the same grant, so this may be reuse.
			named.retiredAt = tok.RetiredAt
			return named, fmt.Errorf("sessiond: refresh: %w: %w", err, errRetiredOfRotated)
		}
		return named, fmt.Errorf("sessiond: refresh: %w", err)
	}
	// The revoked set agrees with the store, except after a store restored
	// from a backup taken before the revocation: the store holds the
	// session live again, while this node and the revocation stream's
	// verifiers still refuse its access tokens. Refused here as there, or
	// the refresh hands out tokens every verifier refuses.
	if f.marks.revoked(s.Subject, s.CreatedAt) || f.revoked.has(s.ID) {
		return named, fmt.Errorf("sessiond: refresh: %w", ErrRevoked)
	}
	if f.rotate && tok.RetiredAt.IsZero() && !now.Before(tok.ExpiresAt) {
		// Without rotation the one token lives as long as its session,
		// which Check has just judged. A retired token goes on whatever
		// its expiry: presented again it is a reuse (or the grace), and a
		// thief replaying an old one late must still end the family.
		return named, fmt.Errorf("sessiond: refresh: %w", ErrExpired)
	}
	return refreshGrant{session: *s, issuedTo: s.Client, token: refresh, hash: h, retiredAt: tok.RetiredAt}, nil
}

// cachedGrant is checkRefresh from the grant cache: the session as this
// node stored it with the token. Whatever the full path would refuse goes
// to it (ok false), so every refusal and its side effects stay the full
// path's; only a grant that would pass skips the Lookup.
func (f *hybridFlow) cachedGrant(h TokenHash, refresh Secret, now time.Time) (refreshGrant, bool) {
	if f.grants == nil {
		return refreshGrant{}, false
	}
	e, ok := f.grants.take(h, now)
	if !ok {
		return refreshGrant{}, false
	}
	s := &e.session
	if s.Check(now) != nil || !now.Before(e.expires) || f.revoked.has(s.ID) || f.marks.revoked(s.Subject, s.CreatedAt) {
		return refreshGrant{}, false
	}
	return refreshGrant{session: *s, issuedTo: s.Client, token: refresh, hash: h}, true
}

// issueRefresh rotates the refresh token (retire the presented one, store
// its successor, in one atomic store call), or without rotation issues a
// new access token and keeps the refresh token.
func (f *hybridFlow) issueRefresh(ctx context.Context, g refreshGrant, now, graceSince time.Time) (*Issued, error) {
	s := &g.session
	s.LastActiveAt = now
	iss, tokens, err := f.issueTokens(s, now, g.stepUp)
	if err != nil {
		return nil, err
	}
	if !f.rotate {
		// The refresh token stays; the activity is the only write, and
		// the store refuses it for a session revoked since the check.
		if err := f.touch(ctx, g, now); err != nil {
			return nil, fmt.Errorf("sessiond: refresh: %w", notFoundIsInvalid(err))
		}
		iss.RefreshToken = g.token
		return iss, nil
	}
	sw := RefreshSwap{
		Old: g.hash, Next: tokens[0], Now: now, GraceSince: graceSince,
		LastActiveAt: now, IdleExpiresAt: s.IdleExpiresAt,
	}
	if g.event != nil && g.event.ok {
		sw.Events, sw.Deliveries = g.event.events, g.event.deliveries
	}
	err = f.fails.check("swap_refresh", f.store.SwapRefresh(ctx, sw))
	if err == nil {
		f.grants.keep(s, tokens, now)
	}
	if err == nil && g.event != nil && g.event.ok {
		g.event.written = true
	}
	if err != nil && !errors.Is(err, ErrRefreshReused) {
		err = notFoundIsInvalid(err)
	}
	if err != nil {
		return nil, fmt.Errorf("sessiond: refresh: %w", err)
	}
	return iss, nil
}

// touch records a refresh's activity without rotation: with its event in
// the same transaction when the store can (TouchRecorder), else alone (the
// Manager records the event after it).
func (f *hybridFlow) touch(ctx context.Context, g refreshGrant, now time.Time) error {
	s := &g.session
	if r, ok := f.store.(TouchRecorder); ok && g.event != nil && g.event.ok {
		err := f.fails.check("touch", r.TouchRecorded(ctx, s.ID, now, s.IdleExpiresAt, g.event.records()))
		if err == nil {
			g.event.written = true
		}
		return err
	}
	return f.fails.check("touch", f.store.Touch(ctx, s.ID, now, s.IdleExpiresAt))
}

// sessionOf: a stored opaque token, else an access JWT, even an expired one
// (only a valid signature counts).
func (f *hybridFlow) sessionOf(ctx context.Context, tok Secret, now time.Time) (SessionID, error) {
	o, err := f.ownerOf(ctx, tok, now)
	return o.id, err
}

func (f *hybridFlow) ownerOf(ctx context.Context, tok Secret, now time.Time) (tokenOwner, error) {
	o, err := opaqueOwner(ctx, f.store, f.fails, f.opaque, tok)
	if o.id != "" || err != nil {
		return o, err
	}
	c, err := f.signed.Verify(KindAccess, tok, now)
	if err != nil && !errors.Is(err, ErrExpired) {
		return tokenOwner{}, nil
	}
	return tokenOwner{id: c.SessionID}, nil
}
