package sessiond

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// flow is what one strategy does with tokens: mint them, check an access
// token, and refresh in two phases (check, then issue and persist). A flow
// holds no policy: session limits, anomaly rules, refresh-token reuse
// handling and events stay in the Manager, which runs them between the two
// refresh phases. New picks one flow per Manager, from Options.Strategy;
// flow_database.go, flow_jwt.go and flow_hybrid.go hold the three.
type flow interface {
	// keepsSessions reports whether sessions live in the store. The jwt
	// flow keeps none, so what works on stored sessions (get, list,
	// revoke, rotate, session limits, garbage collection) is unsupported.
	keepsSessions() bool
	// issue mints the tokens of s (whose ID, subject, times and flags are
	// set), sets its idle expiry and returns the opaque tokens to store
	// with it. stepUp goes into a signed access token (a rotation of a
	// session asked to step up); the database strategy finds it at verify.
	issue(s *Session, now time.Time, stepUp bool) (*Issued, []Token, error)
	// verify checks an access token at now and returns its session and
	// the client the session was issued to (empty when unknown: a signed
	// token does not carry it). check, when not nil, runs on the session
	// once the token is found valid and before verify writes anything (the
	// database strategy's activity); its error is returned as is.
	verify(ctx context.Context, access Secret, now time.Time, check func(*Session) error) (verified, error)
	// checkRefresh is the first phase of a refresh: it checks the token
	// and its session and writes nothing. When it fails on a genuine token
	// (a known session that is revoked or expired, say) the grant it
	// returns with the error names that session's ID and subject.
	checkRefresh(ctx context.Context, refresh Secret, now time.Time) (refreshGrant, error)
	// issueRefresh is the second phase: it issues the successor tokens and
	// persists them. A token retired after graceSince may still be
	// exchanged (ReuseInterval). An error matching ErrRefreshReused means
	// a concurrent refresh retired the token first, outside that grace.
	issueRefresh(ctx context.Context, g refreshGrant, now, graceSince time.Time) (*Issued, error)
	// sessionOf names the session tok belongs to, whatever its kind
	// (SessionOf): "" when tok is none of this flow's live tokens.
	sessionOf(ctx context.Context, tok Secret, now time.Time) (SessionID, error)
	// ownerOf is sessionOf with what RevokeToken needs to treat a retired
	// refresh token as Refresh would.
	ownerOf(ctx context.Context, tok Secret, now time.Time) (tokenOwner, error)
	// inProcess returns the in-process state the Manager prunes, purges
	// and reports: the verify cache, the revoked set and the grant cache
	// (refresh tokens stored by this node), each nil when the flow keeps
	// none.
	inProcess() (*verifyCache, *revokedSet, *grantCache)
}

// refreshGrant is what the first phase of a refresh found: the session the
// presented refresh token belongs to, as the second phase will continue it.
// verified is what verify found: the session (with the error too, for
// EventSessionExpired), the client it was issued to, and whether the
// token asks for a step-up (a signed token a step-up refresh issued).
type verified struct {
	session  Session
	issuedTo Client
	stepUp   bool
	// refused: the error is the caller's check's, on a valid token of a
	// known session (not an unknown or expired token to report).
	refused bool
}

type refreshGrant struct {
	session Session
	// stepUp: the anomaly rules asked for a new sign-in at this refresh;
	// the signed access token it issues carries it.
	stepUp   bool
	issuedTo Client    // the client the session was issued to; empty when unknown
	token    Secret    // the presented refresh token
	hash     TokenHash // its storage hash (stored refresh tokens only)
	// retiredAt: when the presented token was replaced by a successor
	// (zero while it is current). Presented again, it is a reuse unless
	// within the reuse interval.
	retiredAt time.Time
	// event: the session.refreshed event, when its durable writes may go
	// with the rotation (the flow sets its written once they did).
	event *carried
}

// newFlow returns the flow of o.Strategy (already checked valid by
// withDefaults). It is the one place that branches on the strategy.
func newFlow(o Options, limit sessionLimit, marks *watermarks) (flow, error) {
	switch o.Strategy {
	case StrategyDatabase:
		return newDatabaseFlow(o, limit, marks)
	case StrategyJWT:
		return newJWTFlow(o, limit, marks)
	default:
		return newHybridFlow(o, limit, marks)
	}
}

// checkLimit: a session limit needs stored sessions and a Limiter store.
func checkLimit(o Options, limit sessionLimit, keepsSessions bool) error {
	if limit.max == 0 {
		return nil
	}
	if !keepsSessions {
		return argError("limits.max_sessions", "the jwt strategy keeps no sessions to count")
	}
	if _, ok := o.Store.(Limiter); !ok {
		return fmt.Errorf("sessiond: the store cannot enforce a session limit: %w", ErrUnsupported)
	}
	return nil
}

// needStore: the flows that keep sessions need a Store.
func needStore(o Options) error {
	if o.Store == nil {
		return fmt.Errorf("sessiond: strategy %s needs a Store: %w", o.Strategy, ErrInvalidArgument)
	}
	return nil
}

// checkSignable fails when signed says it cannot sign a token living
// longest: otherwise New would succeed and the first login fail.
func checkSignable(signed SignedTokens, longest time.Duration) error {
	lim, ok := signed.(interface{ MaxTokenLifetime() time.Duration })
	if !ok {
		return nil
	}
	if max := lim.MaxTokenLifetime(); max < longest {
		return argError("signed", "signs tokens of at most %s, shorter than the %s the strategy needs: raise the key ring's MaxTokenLifetime", max, longest)
	}
	return nil
}

// signedAccess issues and checks the signed access tokens of the jwt and
// hybrid flows. A token that verified is cached, so presenting it again
// skips the signature; revocation and expiry are checked on every verify.
type signedAccess struct {
	strategy Strategy
	signed   SignedTokens
	life     Lifetimes
	marks    *watermarks
	revoked  *revokedSet  // hybrid: sessions revoked in process; nil in jwt
	cache    *verifyCache // nil when disabled
	// maxAge is the access lifetime plus the codec's leeway: no access
	// token verifies longer after its iat (checkSession).
	maxAge time.Duration
}

// newSignedAccess: longest is the longest-lived token the flow signs.
func newSignedAccess(o Options, marks *watermarks, revoked *revokedSet, longest time.Duration) (signedAccess, error) {
	if o.Signed == nil {
		return signedAccess{}, fmt.Errorf("sessiond: strategy %s needs Options.Signed (a signer whose keys persist in the store; package setup wires one: setup.New(ctx, store, setup.Options{})): %w", o.Strategy, ErrInvalidArgument)
	}
	if err := checkSignable(o.Signed, longest); err != nil {
		return signedAccess{}, err
	}
	a := signedAccess{strategy: o.Strategy, signed: o.Signed, life: o.Lifetimes, marks: marks, revoked: revoked,
		maxAge: o.Lifetimes.Access + o.Signed.Leeway()}
	if o.VerifyCacheSize > 0 {
		a.cache = newVerifyCache(o.VerifyCacheSize)
	}
	return a, nil
}

// issueAccess signs s's access token, sets s's idle expiry, and returns
// the Issued so far and the claims the refresh token starts from.
func (a *signedAccess) issueAccess(s *Session, now time.Time, stepUp bool) (*Issued, TokenClaims, error) {
	atExp := a.life.accessEnd(now, s.ExpiresAt)
	s.IdleExpiresAt = a.life.idleEnd(atExp, s.ExpiresAt, s.Persistent)
	tc := TokenClaims{
		SessionID: s.ID, Subject: s.Subject, Strategy: a.strategy,
		IssuedAt: now, ExpiresAt: atExp, AuthTime: s.CreatedAt,
		SessionExpiresAt: s.ExpiresAt, Persistent: s.Persistent, Claims: s.Claims,
		KeyThumbprint: claimsThumbprint(s.Claims), StepUp: stepUp,
	}
	at, err := a.signed.Sign(KindAccess, tc)
	if err != nil {
		return nil, tc, fmt.Errorf("sessiond: sign access token: %w", err)
	}
	return &Issued{AccessToken: at, AccessExpiresAt: atExp, RefreshExpiresAt: s.IdleExpiresAt}, tc, nil
}

// verify checks a signed access token and rebuilds its session from the
// claims: its Client is empty and LastActiveAt is the token's issue time.
func (a *signedAccess) verify(access Secret, now time.Time) (verified, error) {
	c, err := a.claims(access, now)
	if err != nil {
		return verified{}, err
	}
	s := Session{
		ID: c.SessionID, Subject: c.Subject, Strategy: c.Strategy,
		CreatedAt: c.AuthTime, LastActiveAt: c.IssuedAt,
		IdleExpiresAt: a.life.idleEnd(c.ExpiresAt, c.SessionExpiresAt, c.Persistent),
		ExpiresAt:     c.SessionExpiresAt, Persistent: c.Persistent,
	}
	if len(c.Claims) > 0 {
		s.Claims = append(json.RawMessage(nil), c.Claims...)
	}
	return verified{session: s, stepUp: c.StepUp}, nil
}

// claims returns the claims of a valid access token, from the cache when it
// verified before. The result may be the cache's own copy: read only.
func (a *signedAccess) claims(access Secret, now time.Time) (*TokenClaims, error) {
	if a.cache != nil {
		if c, ok := a.cache.get(string(access), now); ok {
			if err := a.checkSession(c, now); err != nil {
				return nil, err
			}
			return c, nil
		}
	}
	var gen uint64
	if a.cache != nil {
		gen = a.cache.generation()
	}
	c, err := a.signed.Verify(KindAccess, access, now)
	if err != nil {
		return nil, fmt.Errorf("sessiond: verify: %w", err)
	}
	if c.Strategy != a.strategy {
		return nil, fmt.Errorf("sessiond: verify: %w: issued under strategy %q", ErrInvalidToken, c.Strategy)
	}
	if err := a.checkSession(&c, now); err != nil {
		return nil, err
	}
	if a.cache != nil {
		a.cache.put(string(access), c, c.ExpiresAt.Add(a.signed.Leeway()), gen)
	}
	return &c, nil
}

// checkSession applies what the signature cannot: revocation (the revoked
// set, the incident watermarks), the session's absolute expiry, and the
// configured access lifetime.
func (a *signedAccess) checkSession(c *TokenClaims, now time.Time) error {
	if a.revoked.has(c.SessionID) || a.marks.revoked(c.Subject, c.AuthTime) {
		return fmt.Errorf("sessiond: verify: %w", ErrRevoked)
	}
	// A token signed under a longer lifetimes.access (before a restart or
	// on a node not yet reconfigured) lives no longer than this node's:
	// its revoked set is rebuilt over this lifetime only, so a revoked
	// session's older token would otherwise verify again once it left.
	if !now.Before(c.IssuedAt.Add(a.maxAge)) {
		return fmt.Errorf("sessiond: verify: %w: older than the access lifetime", ErrExpired)
	}
	// No leeway: the absolute end is a time the session was given, not a
	// clock reading of the node that signed, and the database strategy
	// ends it at that instant too.
	if !now.Before(c.SessionExpiresAt) {
		return fmt.Errorf("sessiond: verify: %w", ErrAbsoluteTimeout)
	}
	return nil
}

// tokenOwner is the session a token names (id "" for none) and, for a
// stored token, the session as stored and the token's retirement (a
// refresh token replaced by its successor; zero while it is current).
type tokenOwner struct {
	id        SessionID
	session   *Session // nil for a signed token
	refresh   bool     // a stored refresh token
	retiredAt time.Time
}

// opaqueOwner returns the owner of a stored opaque token of either kind:
// id "" when tok is not one or is unknown to the store.
func opaqueOwner(ctx context.Context, store Store, fails storeFailures, opaque OpaqueTokens, tok Secret) (tokenOwner, error) {
	var o tokenOwner
	for _, kind := range []TokenKind{KindAccess, KindRefresh} {
		if h, err := opaque.Parse(kind, tok); err == nil {
			t, s, err := store.Lookup(ctx, h)
			if errors.Is(err, ErrNotFound) {
				return tokenOwner{}, nil
			} else if err != nil {
				return tokenOwner{}, fmt.Errorf("sessiond: revoke token: %w", fails.check("lookup", err))
			}
			o = tokenOwner{id: t.SessionID, session: s, refresh: kind == KindRefresh && t.Kind == KindRefresh, retiredAt: t.RetiredAt}
		}
	}
	return o, nil
}

// lookupOpaque parses an opaque token of kind and finds it and its session
// in the store; op names the operation in errors.
func lookupOpaque(ctx context.Context, store Store, fails storeFailures, opaque OpaqueTokens, kind TokenKind, tok Secret, op string) (TokenHash, Token, *Session, error) {
	h, err := opaque.Parse(kind, tok)
	if err != nil {
		return h, Token{}, nil, fmt.Errorf("sessiond: %s: %w", op, err)
	}
	t, s, err := lookupHash(ctx, store, fails, kind, h, op)
	return h, t, s, err
}

// lookupHash is lookupOpaque for a token already parsed to its hash h.
func lookupHash(ctx context.Context, store Store, fails storeFailures, kind TokenKind, h TokenHash, op string) (Token, *Session, error) {
	t, s, err := store.Lookup(ctx, h)
	if errors.Is(err, ErrNotFound) {
		return Token{}, nil, fmt.Errorf("sessiond: %s: %w", op, errNotStored)
	} else if err != nil {
		return Token{}, nil, fmt.Errorf("sessiond: %s: %w", op, fails.check("lookup", err))
	}
	if t.Kind != kind || !t.Hash.Equal(h) {
		return Token{}, nil, fmt.Errorf("sessiond: %s: %w", op, ErrInvalidToken)
	}
	return t, s, nil
}
