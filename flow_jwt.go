package sessiond

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// jwtFlow is StrategyJWT: access and refresh tokens are both signed and
// nothing is stored, so a single session cannot be revoked before its
// tokens expire; only the incident watermarks reach its tokens.
type jwtFlow struct {
	signedAccess
}

func newJWTFlow(o Options, limit sessionLimit, marks *watermarks) (*jwtFlow, error) {
	if err := checkLimit(o, limit, false); err != nil {
		return nil, err
	}
	// The refresh token is signed too and lives up to Lifetimes.Refresh.
	a, err := newSignedAccess(o, marks, nil, o.Lifetimes.Refresh)
	if err != nil {
		return nil, err
	}
	return &jwtFlow{signedAccess: a}, nil
}

func (f *jwtFlow) keepsSessions() bool { return false }

func (f *jwtFlow) inProcess() (*verifyCache, *revokedSet, *grantCache) { return f.cache, nil, nil }

func (f *jwtFlow) issue(s *Session, now time.Time, stepUp bool) (*Issued, []Token, error) {
	return f.issueTokens(s, now, stepUp)
}

// issueTokens is issue with stepUp carried in the access token (and the
// refresh token made of the same claims).
func (f *jwtFlow) issueTokens(s *Session, now time.Time, stepUp bool) (*Issued, []Token, error) {
	iss, tc, err := f.issueAccess(s, now, stepUp)
	if err != nil {
		return nil, nil, err
	}
	// The refresh token is the same claims, living until the idle expiry.
	tc.ID, tc.ExpiresAt = "", s.IdleExpiresAt
	rt, err := f.signed.Sign(KindRefresh, tc)
	if err != nil {
		return nil, nil, fmt.Errorf("sessiond: sign refresh token: %w", err)
	}
	iss.RefreshToken, iss.Session = rt, *s
	return iss, nil, nil
}

func (f *jwtFlow) verify(_ context.Context, access Secret, now time.Time, check func(*Session) error) (verified, error) {
	v, err := f.signedAccess.verify(access, now)
	if err == nil && check != nil {
		if err = check(&v.session); errors.Is(err, SkipActivity) {
			err = nil // nothing is recorded on a signed token's verify anyway
		}
		v.refused = err != nil
	}
	return v, err
}

// checkRefresh verifies a signed refresh token; its session is rebuilt
// from the claims, as the successor tokens will carry it.
func (f *jwtFlow) checkRefresh(_ context.Context, refresh Secret, now time.Time) (refreshGrant, error) {
	c, err := f.signed.Verify(KindRefresh, refresh, now)
	if err == nil && !now.Before(c.ExpiresAt) {
		// The codec's leeway is for other nodes' clocks; a refresh
		// token's exp is its session's idle end, which ends the session
		// exactly, as the hybrid strategy's stored token does. Past the
		// absolute end too, the branch below names the timeout that came
		// first, as it does once the leeway is over.
		err = ErrExpired
	}
	if err != nil {
		var named refreshGrant
		if errors.Is(err, ErrExpired) && c.Strategy == StrategyJWT {
			// Expired, but signed by us: it names its session (for the
			// failed-refresh limit and EventSessionExpired), and its exp
			// is the session's idle end, or its absolute end if that came
			// first: the error says which timeout ended it, as the
			// hybrid strategy's does.
			named.session = Session{ID: c.SessionID, Subject: c.Subject, Strategy: StrategyJWT, ExpiresAt: c.SessionExpiresAt}
			err = ErrIdleTimeout
			if !now.Before(c.SessionExpiresAt) && !c.ExpiresAt.Before(c.SessionExpiresAt) {
				err = ErrAbsoluteTimeout
			}
		}
		return named, fmt.Errorf("sessiond: refresh: %w", err)
	}
	if c.Strategy != StrategyJWT {
		return refreshGrant{}, fmt.Errorf("sessiond: refresh: %w: issued under strategy %q", ErrInvalidToken, c.Strategy)
	}
	named := refreshGrant{session: Session{ID: c.SessionID, Subject: c.Subject}}
	if !now.Before(c.SessionExpiresAt) {
		return named, fmt.Errorf("sessiond: refresh: %w", ErrAbsoluteTimeout)
	}
	if f.marks.revoked(c.Subject, c.AuthTime) {
		return named, fmt.Errorf("sessiond: refresh: %w", ErrRevoked)
	}
	s := Session{
		ID: c.SessionID, Subject: c.Subject, Strategy: StrategyJWT,
		CreatedAt: c.AuthTime, LastActiveAt: now, ExpiresAt: c.SessionExpiresAt,
		Persistent: c.Persistent, Claims: c.Claims,
	}
	return refreshGrant{session: s, token: refresh}, nil
}

// issueRefresh signs new tokens; there is nothing to persist.
func (f *jwtFlow) issueRefresh(_ context.Context, g refreshGrant, now, _ time.Time) (*Issued, error) {
	iss, _, err := f.issueTokens(&g.session, now, g.stepUp)
	return iss, err
}

// sessionOf: a stateless token names no session a store could revoke.
func (f *jwtFlow) sessionOf(context.Context, Secret, time.Time) (SessionID, error) { return "", nil }

func (f *jwtFlow) ownerOf(context.Context, Secret, time.Time) (tokenOwner, error) {
	return tokenOwner{}, nil
}
