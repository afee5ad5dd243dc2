package sessiond

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// databaseFlow is StrategyDatabase: the access token is an opaque session
// token and every verify reads the store, so revocation is instant. There
// is no refresh token: activity extends the session (idle timeout) instead.
type databaseFlow struct {
	store  Store
	fails  storeFailures
	opaque OpaqueTokens
	life   Lifetimes
	touch  time.Duration
	marks  *watermarks
}

func newDatabaseFlow(o Options, limit sessionLimit, marks *watermarks) (*databaseFlow, error) {
	if err := checkLimit(o, limit, true); err != nil {
		return nil, err
	}
	if err := needStore(o); err != nil {
		return nil, err
	}
	return &databaseFlow{store: o.Store, fails: o.StoreErrorObserver, opaque: o.Opaque, life: o.Lifetimes, touch: o.TouchInterval,
		marks: marks}, nil
}

func (f *databaseFlow) keepsSessions() bool { return true }

func (f *databaseFlow) inProcess() (*verifyCache, *revokedSet, *grantCache) { return nil, nil, nil }

func (f *databaseFlow) issue(s *Session, now time.Time, _ bool) (*Issued, []Token, error) {
	s.IdleExpiresAt = f.life.idleEnd(now, s.ExpiresAt, s.Persistent)
	tok, h, err := f.opaque.New(KindAccess)
	if err != nil {
		return nil, nil, err
	}
	iss := &Issued{Session: *s, AccessToken: tok, AccessExpiresAt: s.ExpiresAt}
	return iss, []Token{{Hash: h, Kind: KindAccess, SessionID: s.ID, IssuedAt: now, ExpiresAt: s.ExpiresAt}}, nil
}

func (f *databaseFlow) verify(ctx context.Context, access Secret, now time.Time, check func(*Session) error) (verified, error) {
	_, _, s, err := lookupOpaque(ctx, f.store, f.fails, f.opaque, KindAccess, access, "verify")
	if err != nil {
		return verified{}, err
	}
	if s.Strategy != StrategyDatabase {
		return verified{}, fmt.Errorf("sessiond: verify: %w", ErrInvalidToken)
	}
	if err := s.Check(now); err != nil {
		// The session comes back with the error for EventSessionExpired.
		return verified{session: *s}, fmt.Errorf("sessiond: verify: %w", err)
	}
	if f.marks.revoked(s.Subject, s.CreatedAt) {
		return verified{}, fmt.Errorf("sessiond: verify: %w", ErrRevoked)
	}
	touch := now.Sub(s.LastActiveAt) >= f.touch
	if check != nil {
		// Before the touch: a token that fails it (a bound token without
		// its proof) must not keep the session alive.
		if err := check(s); errors.Is(err, SkipActivity) {
			touch = false
		} else if err != nil {
			return verified{refused: true}, err
		}
	}
	if touch {
		// Written back at most once per touch interval, so a busy session
		// costs one store write per interval, not one per request.
		now = now.UTC().Truncate(time.Microsecond)
		idle := f.life.idleEnd(now, s.ExpiresAt, s.Persistent)
		err := f.fails.check("touch", f.store.Touch(ctx, s.ID, now, idle))
		switch {
		case err == nil:
			s.LastActiveAt, s.IdleExpiresAt = now, idle
		case errors.Is(err, ErrStoreUnavailable):
			// A store that reads but cannot write (a full or read-only
			// disk) has just found the session live: answer from that,
			// rather than refuse every session whose touch is due. The
			// activity is lost, so the idle timeout comes no later than
			// stored; the failure is counted (StoreErrorObserver).
		default:
			return verified{}, fmt.Errorf("sessiond: verify: touch: %w", notFoundIsInvalid(err))
		}
	}
	return verified{session: *s, issuedTo: s.Client}, nil
}

func (f *databaseFlow) checkRefresh(context.Context, Secret, time.Time) (refreshGrant, error) {
	return refreshGrant{}, fmt.Errorf("sessiond: refresh: %w", ErrUnsupported)
}

func (f *databaseFlow) issueRefresh(context.Context, refreshGrant, time.Time, time.Time) (*Issued, error) {
	return nil, fmt.Errorf("sessiond: refresh: %w", ErrUnsupported)
}

func (f *databaseFlow) sessionOf(ctx context.Context, tok Secret, now time.Time) (SessionID, error) {
	o, err := f.ownerOf(ctx, tok, now)
	return o.id, err
}

func (f *databaseFlow) ownerOf(ctx context.Context, tok Secret, _ time.Time) (tokenOwner, error) {
	return opaqueOwner(ctx, f.store, f.fails, f.opaque, tok)
}
