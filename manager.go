package sessiond

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Limits on caller-supplied values.
const (
	MaxSubjectBytes   = 256
	MaxClaimsBytes    = 4096
	MaxTokenBytes     = 8192
	maxUserAgentBytes = 512
)

// Options configure a Manager. Zero values take the documented defaults.
type Options struct {
	// Strategy is required: database, jwt or hybrid.
	Strategy Strategy
	// Store is required for database and hybrid. The jwt strategy keeps
	// no sessions; given a Store that is a MetaStore it reads and writes
	// only the incident watermarks there.
	Store Store
	// Signed issues and checks JWTs; required for jwt and hybrid.
	Signed SignedTokens
	// Opaque makes and parses opaque tokens; required for database and hybrid.
	Opaque OpaqueTokens
	// Lifetimes; the zero value means Preset("b2c").
	Lifetimes Lifetimes
	// TouchInterval: a database-strategy session is written back at most
	// this often on verify. Default 1 minute.
	TouchInterval time.Duration
	// ReuseInterval: a retired refresh token presented again within this
	// window (two tabs refreshing at once) still succeeds, in the same
	// family. Default 5 seconds; negative disables it.
	ReuseInterval time.Duration
	// NoRotation keeps a hybrid refresh token for the session's life
	// instead of replacing it on every refresh. Weaker: a stolen refresh
	// token then works until the session ends. The validator flags it.
	NoRotation bool
	// NoReuseDetection makes a retired refresh token presented again merely
	// invalid, instead of revoking its whole session. The validator flags it.
	NoReuseDetection bool
	// VerifyCacheSize bounds the cache of verified JWTs. Default 65536;
	// negative disables the cache.
	VerifyCacheSize int
	// GCInterval: how often expired sessions are deleted in the background.
	// Default 1 minute; negative disables the collector.
	GCInterval time.Duration
	// GCBatch: sessions deleted per store call. Default 1000.
	GCBatch int
	// MaxSessions limits the live sessions of one subject; 0 means no
	// limit. The store must implement Limiter.
	MaxSessions int
	// LimitPolicy says what a login over MaxSessions does: LimitEvictOldest
	// (default) revokes the least recently active session, LimitReject
	// fails with ErrLimitReached, LimitSingle revokes every other session
	// of the subject whatever MaxSessions says.
	LimitPolicy LimitPolicy
	// WatermarkPoll: how often a node reads incident watermarks set by
	// other nodes (stores implementing MetaStore). Default 1s; negative
	// disables polling.
	WatermarkPoll time.Duration
	// Clock; default SystemClock.
	Clock Clock
	// Events receives lifecycle and security events; nil records nothing
	// beyond the log.
	Events EventSink
	// Anomalies, if set, evaluates the client of every verify and refresh
	// that carries one (see docs/anomaly.md for which rules can run in
	// which strategy).
	Anomalies AnomalyChecker
	// VerifyObserver, if set, is called after every Verify with its error
	// (nil on success) and duration: the hook for metrics.
	VerifyObserver func(err error, elapsed time.Duration)
	// Logger; nil discards.
	Logger *slog.Logger
}

// LimitPolicy is what happens when a subject reaches MaxSessions.
type LimitPolicy string

// Limit policies.
const (
	LimitEvictOldest LimitPolicy = "evict_oldest"
	LimitReject      LimitPolicy = "reject"
	LimitSingle      LimitPolicy = "single"
)

// CreateOptions describe a new session.
type CreateOptions struct {
	Claims     json.RawMessage // a JSON object of at most MaxClaimsBytes, or nil
	Persistent bool
	Client     Client
}

// Issued is what Create, Refresh and Rotate hand back: the session and its
// tokens. RefreshToken is empty when the strategy has none (database).
type Issued struct {
	Session          Session
	AccessToken      Secret
	AccessExpiresAt  time.Time
	RefreshToken     Secret
	RefreshExpiresAt time.Time
	// Anomalies found at refresh, and whether one asks for step-up.
	Anomalies []Anomaly
	StepUp    bool
}

// Manager runs the session lifecycle. It is safe for concurrent use.
type Manager struct {
	strategy Strategy
	store    Store
	signed   SignedTokens
	opaque   OpaqueTokens
	life     Lifetimes
	touch    time.Duration
	reuse    time.Duration
	clock    Clock
	events   EventSink
	anomaly  AnomalyChecker
	onVerify func(error, time.Duration)
	dedup    anomalyDedup
	log      *slog.Logger

	rotate bool // hybrid: replace the refresh token on every refresh
	detect bool // hybrid: a retired refresh token revokes its session
	limit  int  // 0: none
	evict  bool // at the limit: evict (true) or reject

	revoked *revokedSet
	marks   watermarks
	cache   *verifyCache // nil when disabled or not a JWT strategy

	stop context.CancelFunc
	wg   sync.WaitGroup
}

// New checks opts, rebuilds the revoked-session set from the store (hybrid)
// and starts the background collector. Close stops it.
func New(ctx context.Context, opts Options) (*Manager, error) {
	m := &Manager{
		strategy: opts.Strategy,
		store:    opts.Store,
		signed:   opts.Signed,
		opaque:   opts.Opaque,
		life:     opts.Lifetimes,
		touch:    opts.TouchInterval,
		reuse:    opts.ReuseInterval,
		clock:    opts.Clock,
		events:   opts.Events,
		anomaly:  opts.Anomalies,
		onVerify: opts.VerifyObserver,
		log:      opts.Logger,
		revoked:  newRevokedSet(),
		rotate:   !opts.NoRotation,
		detect:   !opts.NoReuseDetection,
	}
	if !m.strategy.Valid() {
		return nil, argError("strategy", "must be database, jwt or hybrid, got %q", string(m.strategy))
	}
	if m.life == (Lifetimes{}) {
		m.life, _ = Preset(PresetB2C)
	}
	if err := m.life.validate(); err != nil {
		return nil, err
	}
	if m.touch == 0 {
		m.touch = time.Minute
	}
	if m.reuse == 0 {
		m.reuse = 5 * time.Second
	} else if m.reuse < 0 {
		m.reuse = 0
	}
	if m.clock == nil {
		m.clock = SystemClock{}
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	switch opts.LimitPolicy {
	case "", LimitEvictOldest:
		m.limit, m.evict = opts.MaxSessions, true
	case LimitReject:
		m.limit = opts.MaxSessions
	case LimitSingle:
		m.limit, m.evict = 1, true
	default:
		return nil, argError("limits.policy", "must be evict_oldest, reject or single, got %q", string(opts.LimitPolicy))
	}
	if m.limit < 0 {
		return nil, argError("limits.max_sessions", "must not be negative")
	}
	if m.limit > 0 {
		if m.strategy == StrategyJWT {
			return nil, argError("limits.max_sessions", "the jwt strategy keeps no sessions to count")
		}
		if _, ok := m.store.(Limiter); !ok {
			return nil, fmt.Errorf("sessiond: the store cannot enforce a session limit: %w", ErrUnsupported)
		}
	}
	if m.strategy != StrategyJWT && (m.store == nil || m.opaque == nil) {
		return nil, fmt.Errorf("sessiond: strategy %s needs a Store and OpaqueTokens: %w", m.strategy, ErrInvalidArgument)
	}
	if m.strategy != StrategyDatabase {
		if m.signed == nil {
			return nil, fmt.Errorf("sessiond: strategy %s needs SignedTokens: %w", m.strategy, ErrInvalidArgument)
		}
		if opts.VerifyCacheSize >= 0 {
			size := opts.VerifyCacheSize
			if size == 0 {
				size = 65536
			}
			m.cache = newVerifyCache(size)
		}
	}
	if m.strategy == StrategyHybrid {
		if err := m.Resync(ctx); err != nil {
			return nil, err
		}
	}
	if err := m.syncWatermarks(ctx); err != nil {
		return nil, err
	}
	bg, cancel := context.WithCancel(context.Background())
	m.stop = cancel
	gcEvery, batch := opts.GCInterval, opts.GCBatch
	if gcEvery == 0 {
		gcEvery = time.Minute
	}
	if batch <= 0 {
		batch = 1000
	}
	if gcEvery > 0 {
		m.wg.Add(1)
		go m.collect(bg, gcEvery, batch)
	}
	if _, ok := m.store.(MetaStore); ok && opts.WatermarkPoll >= 0 {
		every := opts.WatermarkPoll
		if every == 0 {
			every = time.Second
		}
		m.wg.Add(1)
		go m.pollWatermarks(bg, every)
	}
	return m, nil
}

// Close stops the background collector. It does not close the store.
func (m *Manager) Close() error {
	m.stop()
	m.wg.Wait()
	return nil
}

// Strategy returns the configured strategy.
func (m *Manager) Strategy() Strategy { return m.strategy }

// Lifetimes returns the effective lifetimes.
func (m *Manager) Lifetimes() Lifetimes { return m.life }

// now is the clock's time at the microsecond precision every store keeps.
func (m *Manager) now() time.Time { return m.clock.Now().UTC().Truncate(time.Microsecond) }

// Create starts a new session for subject and issues its tokens.
func (m *Manager) Create(ctx context.Context, subject string, o CreateOptions) (*Issued, error) {
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	claims, err := checkClaims(o.Claims)
	if err != nil {
		return nil, err
	}
	client, err := CleanClient(o.Client)
	if err != nil {
		return nil, err
	}
	now := m.now()
	s := &Session{
		ID:           NewSessionID(),
		Subject:      subject,
		Strategy:     m.strategy,
		CreatedAt:    now,
		LastActiveAt: now,
		ExpiresAt:    m.life.sessionEnd(now, o.Persistent),
		Persistent:   o.Persistent,
		Client:       client,
		Claims:       claims,
	}
	iss, err := m.issueAndStore(ctx, s, now, m.limit)
	if err != nil {
		return nil, err
	}
	m.emit(ctx, Event{Type: EventSessionCreated, Subject: s.Subject, SessionID: s.ID, Client: s.Client,
		Details: map[string]any{"persistent": s.Persistent, "strategy": string(s.Strategy)}})
	return iss, nil
}

// issueAndStore issues s's tokens and stores it, under the subject's
// session limit when limit > 0.
func (m *Manager) issueAndStore(ctx context.Context, s *Session, now time.Time, limit int) (*Issued, error) {
	iss, tokens, err := m.issue(s, now)
	if err != nil {
		return nil, err
	}
	switch {
	case m.strategy == StrategyJWT:
	case limit > 0:
		evicted, err := m.store.(Limiter).CreateLimited(ctx, s, limit, m.evict, tokens...)
		if err != nil {
			return nil, fmt.Errorf("sessiond: create session: %w", err)
		}
		for _, r := range evicted {
			m.NoteRevoked(r)
			m.emit(ctx, Event{Type: EventSessionRevoked, Subject: r.Subject, SessionID: r.SessionID,
				Details: map[string]any{"reason": string(r.Reason), "replaced_by": string(s.ID)}})
		}
	default:
		if err := m.store.Create(ctx, s, tokens...); err != nil {
			return nil, fmt.Errorf("sessiond: create session: %w", err)
		}
	}
	iss.Session = *s
	return iss, nil
}

// issue mints the tokens of session s (whose ID, subject, times and flags
// are set), sets its idle expiry and returns the opaque tokens to store.
func (m *Manager) issue(s *Session, now time.Time) (*Issued, []Token, error) {
	iss := &Issued{}
	var tokens []Token
	switch m.strategy {
	case StrategyDatabase:
		s.IdleExpiresAt = m.life.idleEnd(now, s.ExpiresAt, s.Persistent)
		tok, h, err := m.opaque.New(KindAccess)
		if err != nil {
			return nil, nil, err
		}
		iss.AccessToken, iss.AccessExpiresAt = tok, s.ExpiresAt
		tokens = append(tokens, Token{Hash: h, Kind: KindAccess, SessionID: s.ID, IssuedAt: now, ExpiresAt: s.ExpiresAt})
	case StrategyHybrid, StrategyJWT:
		atExp := m.life.accessEnd(now, s.ExpiresAt)
		s.IdleExpiresAt = m.life.idleEnd(atExp, s.ExpiresAt, s.Persistent)
		tc := TokenClaims{
			SessionID: s.ID, Subject: s.Subject, Strategy: m.strategy,
			IssuedAt: now, ExpiresAt: atExp, AuthTime: s.CreatedAt,
			SessionExpiresAt: s.ExpiresAt, Persistent: s.Persistent, Claims: s.Claims,
		}
		at, err := m.signed.Sign(KindAccess, tc)
		if err != nil {
			return nil, nil, fmt.Errorf("sessiond: sign access token: %w", err)
		}
		iss.AccessToken, iss.AccessExpiresAt = at, atExp
		iss.RefreshExpiresAt = s.IdleExpiresAt
		if m.strategy == StrategyJWT {
			tc.ID, tc.ExpiresAt = "", s.IdleExpiresAt
			rt, err := m.signed.Sign(KindRefresh, tc)
			if err != nil {
				return nil, nil, fmt.Errorf("sessiond: sign refresh token: %w", err)
			}
			iss.RefreshToken = rt
			break
		}
		rt, h, err := m.opaque.New(KindRefresh)
		if err != nil {
			return nil, nil, err
		}
		iss.RefreshToken = rt
		tokens = append(tokens, Token{Hash: h, Kind: KindRefresh, SessionID: s.ID, IssuedAt: now, ExpiresAt: s.IdleExpiresAt})
	}
	iss.Session = *s
	return iss, tokens, nil
}

// Verify checks an access token and returns its session. Failures match
// ErrInvalidToken, ErrExpired, ErrRevoked, ErrIdleTimeout,
// ErrAbsoluteTimeout or ErrStoreUnavailable.
//
// In the jwt and hybrid strategies the session is rebuilt from the token's
// claims (its Client is empty and LastActiveAt is the token's issue time);
// hybrid also consults the in-process revoked set, without a store read.
func (m *Manager) Verify(ctx context.Context, access Secret, client Client) (Session, error) {
	v, err := m.Inspect(ctx, access, client)
	if err != nil {
		return Session{}, err
	}
	return v.Session, nil
}

// Inspect is Verify plus what the anomaly rules found: an anomaly with
// action revoke ends the session (ErrRevoked), step_up sets StepUp.
func (m *Manager) Inspect(ctx context.Context, access Secret, client Client) (Verification, error) {
	var start time.Time
	if m.onVerify != nil {
		start = time.Now()
	}
	v, err := m.inspect(ctx, access, client)
	if m.onVerify != nil {
		m.onVerify(err, time.Since(start))
	}
	return v, err
}

func (m *Manager) inspect(ctx context.Context, access Secret, client Client) (Verification, error) {
	if len(access) == 0 || len(access) > MaxTokenBytes {
		return Verification{}, fmt.Errorf("sessiond: verify: %w: empty or oversized", ErrInvalidToken)
	}
	now := m.clock.Now()
	var v Verification
	var issued Client
	if m.strategy == StrategyDatabase {
		s, err := m.verifyOpaque(ctx, access, now)
		if err != nil {
			return Verification{}, err
		}
		v.Session, issued = s, s.Client
	} else {
		c, err := m.verifySigned(access, now)
		if err != nil {
			return Verification{}, err
		}
		v.Session = m.sessionFromClaims(c)
	}
	if m.anomaly != nil && (client.IP != "" || client.UserAgent != "") {
		var err error
		if v.Anomalies, v.StepUp, err = m.anomalies(ctx, "verify", &v.Session, issued, client); err != nil {
			return Verification{}, err
		}
	}
	return v, nil
}

// anomalies runs the checker, records what it finds, and applies the
// strongest action: revoke ends the session (returned as ErrRevoked).
func (m *Manager) anomalies(ctx context.Context, stage string, s *Session, issued, current Client) ([]Anomaly, bool, error) {
	cur, err := CleanClient(current)
	if err != nil {
		return nil, false, err
	}
	now := m.clock.Now()
	found := m.anomaly.Check(now, stage, string(s.ID), issued, cur)
	stepUp, revoke := false, false
	for _, a := range found {
		if m.dedup.first(string(s.ID)+"\x00"+a.Rule, now) || a.Action == AnomalyRevoke {
			m.emit(ctx, Event{Type: EventAnomaly, Subject: s.Subject, SessionID: s.ID, Client: cur,
				Details: map[string]any{"rule": a.Rule, "action": a.Action, "detail": a.Detail, "stage": stage}})
		}
		switch a.Action {
		case AnomalyStepUp:
			stepUp = true
		case AnomalyRevoke:
			revoke = true
		}
	}
	if revoke {
		if m.strategy == StrategyJWT {
			// Nothing to revoke statelessly: refuse this request.
			return found, stepUp, fmt.Errorf("sessiond: %s: anomaly: %w", stage, ErrRevoked)
		}
		if _, err := m.revoke(ctx, s.ID, m.now(), ReasonAnomaly); err != nil && !errors.Is(err, ErrNotFound) {
			return found, stepUp, err
		}
		return found, stepUp, fmt.Errorf("sessiond: %s: anomaly: %w", stage, ErrRevoked)
	}
	return found, stepUp, nil
}

func (m *Manager) verifySigned(access Secret, now time.Time) (*TokenClaims, error) {
	if m.cache != nil {
		if c, ok := m.cache.get(string(access), now); ok {
			if err := m.checkSignedSession(c, now); err != nil {
				return nil, err
			}
			return c, nil
		}
	}
	c, err := m.signed.Verify(KindAccess, access, now)
	if err != nil {
		return nil, fmt.Errorf("sessiond: verify: %w", err)
	}
	if c.Strategy != m.strategy {
		return nil, fmt.Errorf("sessiond: verify: %w: issued under strategy %q", ErrInvalidToken, c.Strategy)
	}
	if err := m.checkSignedSession(&c, now); err != nil {
		return nil, err
	}
	if m.cache != nil {
		m.cache.put(string(access), c, c.ExpiresAt.Add(m.signed.Leeway()))
	}
	return &c, nil
}

func (m *Manager) checkSignedSession(c *TokenClaims, now time.Time) error {
	if m.strategy == StrategyHybrid && m.revoked.has(c.SessionID) || m.marks.revoked(c.Subject, c.AuthTime) {
		return fmt.Errorf("sessiond: verify: %w", ErrRevoked)
	}
	if !now.Before(c.SessionExpiresAt.Add(m.signed.Leeway())) {
		return fmt.Errorf("sessiond: verify: %w", ErrAbsoluteTimeout)
	}
	return nil
}

func (m *Manager) sessionFromClaims(c *TokenClaims) Session {
	s := Session{
		ID: c.SessionID, Subject: c.Subject, Strategy: c.Strategy,
		CreatedAt: c.AuthTime, LastActiveAt: c.IssuedAt,
		IdleExpiresAt: m.life.idleEnd(c.ExpiresAt, c.SessionExpiresAt, c.Persistent),
		ExpiresAt:     c.SessionExpiresAt, Persistent: c.Persistent,
	}
	if len(c.Claims) > 0 {
		s.Claims = append(json.RawMessage(nil), c.Claims...)
	}
	return s
}

func (m *Manager) verifyOpaque(ctx context.Context, access Secret, now time.Time) (Session, error) {
	h, err := m.opaque.Parse(KindAccess, access)
	if err != nil {
		return Session{}, fmt.Errorf("sessiond: verify: %w", err)
	}
	tok, s, err := m.store.Lookup(ctx, h)
	if err != nil {
		return Session{}, fmt.Errorf("sessiond: verify: %w", notFoundIsInvalid(err))
	}
	if tok.Kind != KindAccess || !tok.Hash.Equal(h) || s.Strategy != StrategyDatabase {
		return Session{}, fmt.Errorf("sessiond: verify: %w", ErrInvalidToken)
	}
	if err := s.Check(now); err != nil {
		return Session{}, fmt.Errorf("sessiond: verify: %w", err)
	}
	if m.marks.revoked(s.Subject, s.CreatedAt) {
		return Session{}, fmt.Errorf("sessiond: verify: %w", ErrRevoked)
	}
	if now.Sub(s.LastActiveAt) >= m.touch {
		// Written back at most once per touch interval, so a busy session
		// costs one store write per interval, not one per request.
		now = now.UTC().Truncate(time.Microsecond)
		idle := m.life.idleEnd(now, s.ExpiresAt, s.Persistent)
		if err := m.store.Touch(ctx, s.ID, now, idle); err != nil {
			return Session{}, fmt.Errorf("sessiond: verify: touch: %w", notFoundIsInvalid(err))
		}
		s.LastActiveAt, s.IdleExpiresAt = now, idle
	}
	return *s, nil
}

// Refresh exchanges a refresh token for new tokens. In hybrid, the old
// refresh token is retired; presenting a retired one again outside the
// reuse interval revokes the whole session and returns ErrRefreshReused.
// The database strategy has no refresh tokens (ErrUnsupported).
func (m *Manager) Refresh(ctx context.Context, refresh Secret, client Client) (*Issued, error) {
	if len(refresh) == 0 || len(refresh) > MaxTokenBytes {
		return nil, fmt.Errorf("sessiond: refresh: %w: empty or oversized", ErrInvalidToken)
	}
	switch m.strategy {
	case StrategyDatabase:
		return nil, fmt.Errorf("sessiond: refresh: %w", ErrUnsupported)
	case StrategyJWT:
		return m.refreshSigned(ctx, refresh, client)
	}
	h, err := m.opaque.Parse(KindRefresh, refresh)
	if err != nil {
		return nil, fmt.Errorf("sessiond: refresh: %w", err)
	}
	tok, s, err := m.store.Lookup(ctx, h)
	if err != nil {
		return nil, fmt.Errorf("sessiond: refresh: %w", notFoundIsInvalid(err))
	}
	if tok.Kind != KindRefresh || !tok.Hash.Equal(h) || s.Strategy != StrategyHybrid {
		return nil, fmt.Errorf("sessiond: refresh: %w", ErrInvalidToken)
	}
	now := m.now()
	if err := s.Check(now); err != nil {
		return nil, fmt.Errorf("sessiond: refresh: %w", err)
	}
	if m.marks.revoked(s.Subject, s.CreatedAt) {
		return nil, fmt.Errorf("sessiond: refresh: %w", ErrRevoked)
	}
	if m.rotate && !now.Before(tok.ExpiresAt) {
		// Without rotation the one token lives as long as its session,
		// which Check has just judged.
		return nil, fmt.Errorf("sessiond: refresh: %w", ErrExpired)
	}
	var found []Anomaly
	var stepUp bool
	if m.anomaly != nil && (client.IP != "" || client.UserAgent != "") {
		if found, stepUp, err = m.anomalies(ctx, "refresh", s, s.Client, client); err != nil {
			return nil, err
		}
	}
	grace := now.Add(-m.reuse)
	if !tok.RetiredAt.IsZero() && tok.RetiredAt.Before(grace) {
		if !m.detect {
			return nil, fmt.Errorf("sessiond: refresh: %w: retired", ErrInvalidToken)
		}
		return nil, m.reused(ctx, s, client, now)
	}
	if !m.rotate {
		iss, err := m.refreshInPlace(ctx, s, refresh, client, now)
		if iss != nil {
			iss.Anomalies, iss.StepUp = found, stepUp
		}
		return iss, err
	}
	s.LastActiveAt = now
	iss, tokens, err := m.issue(s, now)
	if err != nil {
		return nil, err
	}
	err = m.store.SwapRefresh(ctx, RefreshSwap{
		Old: h, Next: tokens[0], Now: now, GraceSince: grace,
		LastActiveAt: now, IdleExpiresAt: s.IdleExpiresAt,
	})
	switch {
	case errors.Is(err, ErrRefreshReused):
		// A concurrent refresh retired the token first and no grace applies.
		return nil, m.reused(ctx, s, client, now)
	case err != nil:
		return nil, fmt.Errorf("sessiond: refresh: %w", notFoundIsInvalid(err))
	}
	iss.Session = *s
	iss.Anomalies, iss.StepUp = found, stepUp
	m.emit(ctx, Event{Type: EventSessionRefreshed, Subject: s.Subject, SessionID: s.ID, Client: client})
	return iss, nil
}

// refreshInPlace issues a new access token and keeps the refresh token.
func (m *Manager) refreshInPlace(ctx context.Context, s *Session, refresh Secret, client Client, now time.Time) (*Issued, error) {
	s.LastActiveAt = now
	iss, _, err := m.issue(s, now)
	if err != nil {
		return nil, err
	}
	if err := m.store.Touch(ctx, s.ID, now, s.IdleExpiresAt); err != nil {
		return nil, fmt.Errorf("sessiond: refresh: %w", notFoundIsInvalid(err))
	}
	iss.RefreshToken, iss.Session = refresh, *s
	m.emit(ctx, Event{Type: EventSessionRefreshed, Subject: s.Subject, SessionID: s.ID, Client: client})
	return iss, nil
}

// reused handles a retired refresh token presented again: the thief and the
// victim cannot be told apart, so the whole session goes.
func (m *Manager) reused(ctx context.Context, s *Session, client Client, now time.Time) error {
	if _, err := m.revoke(ctx, s.ID, now, ReasonReuse); err != nil && !errors.Is(err, ErrNotFound) {
		m.log.ErrorContext(ctx, "revoke after refresh token reuse", "session_id", s.ID, "err", err)
	}
	m.emit(ctx, Event{Type: EventRefreshReused, Subject: s.Subject, SessionID: s.ID, Client: client,
		Details: map[string]any{"issued_to": s.Client}})
	return fmt.Errorf("sessiond: refresh: %w", ErrRefreshReused)
}

func (m *Manager) refreshSigned(ctx context.Context, refresh Secret, client Client) (*Issued, error) {
	now := m.now()
	c, err := m.signed.Verify(KindRefresh, refresh, now)
	if err != nil {
		return nil, fmt.Errorf("sessiond: refresh: %w", err)
	}
	if c.Strategy != StrategyJWT {
		return nil, fmt.Errorf("sessiond: refresh: %w: issued under strategy %q", ErrInvalidToken, c.Strategy)
	}
	if !now.Before(c.SessionExpiresAt) {
		return nil, fmt.Errorf("sessiond: refresh: %w", ErrAbsoluteTimeout)
	}
	if m.marks.revoked(c.Subject, c.AuthTime) {
		return nil, fmt.Errorf("sessiond: refresh: %w", ErrRevoked)
	}
	var found []Anomaly
	var stepUp bool
	if m.anomaly != nil && (client.IP != "" || client.UserAgent != "") {
		probe := &Session{ID: c.SessionID, Subject: c.Subject}
		if found, stepUp, err = m.anomalies(ctx, "refresh", probe, Client{}, client); err != nil {
			return nil, err
		}
	}
	s := &Session{
		ID: c.SessionID, Subject: c.Subject, Strategy: StrategyJWT,
		CreatedAt: c.AuthTime, LastActiveAt: now, ExpiresAt: c.SessionExpiresAt,
		Persistent: c.Persistent, Claims: c.Claims,
	}
	iss, _, err := m.issue(s, now)
	if err != nil {
		return nil, err
	}
	iss.Anomalies, iss.StepUp = found, stepUp
	m.emit(ctx, Event{Type: EventSessionRefreshed, Subject: s.Subject, SessionID: s.ID, Client: client})
	return iss, nil
}

// Rotate replaces a live session with a new one (new ID, new tokens, same
// subject, claims and absolute expiry) and revokes the old one: call it on
// login over an existing session and on every privilege change.
func (m *Manager) Rotate(ctx context.Context, id SessionID) (*Issued, error) {
	if m.strategy == StrategyJWT {
		return nil, fmt.Errorf("sessiond: rotate: %w", ErrUnsupported)
	}
	old, err := m.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("sessiond: rotate: %w", err)
	}
	now := m.now()
	// Revoke first: if creating the successor fails the user is logged
	// out, never left with both sessions alive.
	if _, err := m.revoke(ctx, old.ID, now, ReasonRotated); err != nil {
		return nil, fmt.Errorf("sessiond: rotate: %w", err)
	}
	s := &Session{
		ID: NewSessionID(), Subject: old.Subject, Strategy: m.strategy,
		CreatedAt: now, LastActiveAt: now, ExpiresAt: old.ExpiresAt,
		Persistent: old.Persistent, Client: old.Client, Claims: old.Claims,
	}
	iss, err := m.issueAndStore(ctx, s, now, 0)
	if err != nil {
		return nil, err
	}
	m.emit(ctx, Event{Type: EventSessionRotated, Subject: s.Subject, SessionID: s.ID, Client: s.Client,
		Details: map[string]any{"previous_session_id": string(old.ID)}})
	return iss, nil
}

// Get returns a live session. Unknown, revoked and expired sessions are
// ErrNotFound.
func (m *Manager) Get(ctx context.Context, id SessionID) (Session, error) {
	if m.strategy == StrategyJWT {
		return Session{}, fmt.Errorf("sessiond: get: %w", ErrUnsupported)
	}
	if !id.Valid() {
		return Session{}, fmt.Errorf("sessiond: get: %w", ErrNotFound)
	}
	s, err := m.store.Get(ctx, id)
	if err != nil {
		return Session{}, fmt.Errorf("sessiond: get: %w", err)
	}
	if !s.Live(m.now()) {
		return Session{}, fmt.Errorf("sessiond: get: %w", ErrNotFound)
	}
	return *s, nil
}

// List returns the live sessions of subject, oldest first.
func (m *Manager) List(ctx context.Context, subject string) ([]Session, error) {
	if m.strategy == StrategyJWT {
		return nil, fmt.Errorf("sessiond: list: %w", ErrUnsupported)
	}
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	ss, err := m.store.List(ctx, subject, m.now())
	if err != nil {
		return nil, fmt.Errorf("sessiond: list: %w", err)
	}
	out := make([]Session, len(ss))
	for i, s := range ss {
		out[i] = *s
	}
	return out, nil
}

// Revoke ends a session at once. Revoking an unknown session is
// ErrNotFound; revoking a revoked one is not an error.
func (m *Manager) Revoke(ctx context.Context, id SessionID, reason RevokeReason) error {
	if m.strategy == StrategyJWT {
		return fmt.Errorf("sessiond: revoke: %w", ErrUnsupported)
	}
	if !id.Valid() {
		return fmt.Errorf("sessiond: revoke: %w", ErrNotFound)
	}
	_, err := m.revoke(ctx, id, m.now(), reason)
	return err
}

func (m *Manager) revoke(ctx context.Context, id SessionID, now time.Time, reason RevokeReason) (*Session, error) {
	s, err := m.store.Revoke(ctx, id, now, reason)
	if err != nil {
		return nil, fmt.Errorf("sessiond: revoke: %w", err)
	}
	m.NoteRevoked(Revocation{SessionID: s.ID, Subject: s.Subject, RevokedAt: s.RevokedAt, ExpiresAt: s.ExpiresAt, Reason: s.RevokeReason})
	if s.RevokedAt.Equal(now) && s.RevokeReason == reason {
		m.emit(ctx, Event{Type: EventSessionRevoked, Subject: s.Subject, SessionID: s.ID, Client: s.Client,
			Details: map[string]any{"reason": string(reason), "lifetime_seconds": s.RevokedAt.Sub(s.CreatedAt).Seconds()}})
	}
	return s, nil
}

// RevokeSubject revokes every live session of subject except `except`
// (which may be empty) and returns how many it revoked.
func (m *Manager) RevokeSubject(ctx context.Context, subject string, except SessionID, reason RevokeReason) (int, error) {
	if m.strategy == StrategyJWT {
		return 0, fmt.Errorf("sessiond: revoke subject: %w", ErrUnsupported)
	}
	if err := checkSubject(subject); err != nil {
		return 0, err
	}
	now := m.now()
	revs, err := m.store.RevokeSubject(ctx, subject, except, now, reason)
	if err != nil {
		return 0, fmt.Errorf("sessiond: revoke subject: %w", err)
	}
	for _, r := range revs {
		m.NoteRevoked(r)
		m.emit(ctx, Event{Type: EventSessionRevoked, Subject: r.Subject, SessionID: r.SessionID,
			Details: map[string]any{"reason": string(reason)}})
	}
	if len(revs) > 0 {
		m.emit(ctx, Event{Type: EventBulkRevoked, Subject: subject,
			Details: map[string]any{"reason": string(reason), "count": len(revs), "except": string(except)}})
	}
	return len(revs), nil
}

// RevokeToken revokes the session a token belongs to, whatever its kind, as
// RFC 7009 asks: an unknown, invalid or expired token is not an error. It
// returns ErrStoreUnavailable when the store cannot be asked.
func (m *Manager) RevokeToken(ctx context.Context, tok Secret) error {
	if m.strategy == StrategyJWT || len(tok) == 0 || len(tok) > MaxTokenBytes {
		return nil
	}
	var id SessionID
	for _, kind := range []TokenKind{KindAccess, KindRefresh} {
		if h, err := m.opaque.Parse(kind, tok); err == nil {
			t, _, err := m.store.Lookup(ctx, h)
			if errors.Is(err, ErrNotFound) {
				return nil
			} else if err != nil {
				return fmt.Errorf("sessiond: revoke token: %w", err)
			}
			id = t.SessionID
		}
	}
	if id == "" && m.strategy == StrategyHybrid {
		// An access JWT, even an expired one: only a valid signature counts.
		c, err := m.signed.Verify(KindAccess, tok, m.clock.Now())
		if err != nil && !errors.Is(err, ErrExpired) {
			return nil
		}
		id = c.SessionID
	}
	if id == "" {
		return nil
	}
	if _, err := m.revoke(ctx, id, m.now(), ReasonLogout); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

// NoteRevoked adds a revocation to the in-process revoked set. The Manager
// calls it for its own revocations; a store's RevocationNotifier feed calls
// it for revocations made on other nodes.
func (m *Manager) NoteRevoked(r Revocation) {
	if m.strategy != StrategyHybrid {
		return
	}
	if drop := m.revokedDropAt(r); drop.After(m.clock.Now()) {
		m.revoked.add(r.SessionID, drop)
	}
}

// revokedDropAt: no access token of the session outlives this moment.
func (m *Manager) revokedDropAt(r Revocation) time.Time {
	return minTime(r.RevokedAt.Add(m.life.Access), r.ExpiresAt).Add(m.signed.Leeway() + time.Second)
}

// Resync reloads recent revocations from the store into the revoked set.
// New calls it; call it again after a revocation feed reconnects.
func (m *Manager) Resync(ctx context.Context) error {
	if m.strategy != StrategyHybrid {
		return nil
	}
	since := m.now().Add(-m.life.Access - m.signed.Leeway() - time.Second)
	revs, err := m.store.Revocations(ctx, since)
	if err != nil {
		return fmt.Errorf("sessiond: load revocations: %w", err)
	}
	for _, r := range revs {
		if r.Reason == ReasonIncident {
			continue // the incident's watermark covers these, at a constant cost
		}
		m.NoteRevoked(r)
	}
	return nil
}

// PurgeVerifyCache forgets every cached verification; call it when signing
// keys were retired early.
func (m *Manager) PurgeVerifyCache() {
	if m.cache != nil {
		m.cache.purge()
	}
}

// Stats are sizes an operator can watch.
type Stats struct {
	RevokedSetEntries  int
	VerifyCacheEntries int
}

// Stats returns current in-process sizes.
func (m *Manager) Stats() Stats {
	st := Stats{RevokedSetEntries: m.revoked.len()}
	if m.cache != nil {
		st.VerifyCacheEntries = m.cache.len()
	}
	return st
}

// CollectGarbage deletes expired sessions in batches of batch until none
// is left, and prunes the in-process sets. It returns how many sessions it
// deleted.
func (m *Manager) CollectGarbage(ctx context.Context, batch int) (int, error) {
	now := m.clock.Now()
	m.revoked.prune(now)
	if m.cache != nil {
		m.cache.prune(now)
	}
	if m.strategy == StrategyJWT {
		return 0, nil
	}
	total := 0
	for {
		n, err := m.store.DeleteExpired(ctx, now, batch)
		total += n
		if err != nil {
			return total, fmt.Errorf("sessiond: collect garbage: %w", err)
		}
		if n < batch {
			return total, nil
		}
	}
}

func (m *Manager) collect(ctx context.Context, every time.Duration, batch int) {
	defer m.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := m.CollectGarbage(ctx, batch); err != nil && ctx.Err() == nil {
				m.log.Warn("garbage collection", "err", err, "deleted", n)
			} else if n > 0 {
				m.log.Debug("garbage collection", "deleted", n)
			}
		}
	}
}

func (m *Manager) pollWatermarks(ctx context.Context, every time.Duration) {
	defer m.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := m.syncWatermarks(ctx); err != nil && ctx.Err() == nil {
				m.log.Warn("incident watermark sync", "err", err)
			}
		}
	}
}

func (m *Manager) emit(ctx context.Context, e Event) {
	if e.Time.IsZero() {
		e.Time = m.now()
	}
	if e.ID == "" {
		e.ID = NewEventID(e.Time)
	}
	m.log.LogAttrs(ctx, slog.LevelInfo, "event", slog.String("event_id", e.ID), slog.String("type", string(e.Type)),
		slog.String("subject", e.Subject), slog.String("session_id", string(e.SessionID)),
		slog.String("client_ip", e.Client.IP), slog.Any("details", e.Details))
	if m.events != nil {
		if err := m.events.Record(ctx, e); err != nil {
			m.log.ErrorContext(ctx, "record event", "event_id", e.ID, "type", string(e.Type), "err", err)
		}
	}
}

func notFoundIsInvalid(err error) error {
	if errors.Is(err, ErrNotFound) {
		return ErrInvalidToken
	}
	return err
}

func checkSubject(s string) error {
	switch {
	case s == "":
		return argError("subject", "is required")
	case len(s) > MaxSubjectBytes:
		return argError("subject", "is %d bytes, over the limit of %d", len(s), MaxSubjectBytes)
	case !utf8.ValidString(s):
		return argError("subject", "is not valid UTF-8")
	case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return argError("subject", "contains control characters")
	}
	return nil
}

func checkClaims(c json.RawMessage) (json.RawMessage, error) {
	if len(c) == 0 || string(c) == "null" {
		return nil, nil
	}
	if len(c) > MaxClaimsBytes {
		return nil, argError("claims", "are %d bytes, over the limit of %d", len(c), MaxClaimsBytes)
	}
	if !utf8.Valid(c) {
		return nil, argError("claims", "are not valid UTF-8")
	}
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(c, &obj); err != nil {
		return nil, argError("claims", "must be a JSON object")
	}
	if len(obj) == 0 {
		return nil, nil
	}
	return append(json.RawMessage(nil), c...), nil
}

// CleanClient checks a client description: IP, when set, must parse; the
// User-Agent is cut to 512 bytes (at a rune boundary) rather than refused,
// since the caller relays it from a browser it does not control.
func CleanClient(c Client) (Client, error) {
	if c.IP != "" {
		a, err := netip.ParseAddr(c.IP)
		if err != nil {
			return Client{}, argError("client.ip", "is not an IP address")
		}
		c.IP = a.Unmap().String()
	}
	if !utf8.ValidString(c.UserAgent) {
		c.UserAgent = strings.ToValidUTF8(c.UserAgent, "")
	}
	if len(c.UserAgent) > maxUserAgentBytes {
		cut := maxUserAgentBytes
		for cut > 0 && !utf8.RuneStart(c.UserAgent[cut]) {
			cut--
		}
		c.UserAgent = c.UserAgent[:cut]
	}
	return c, nil
}
