package sessiond

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// CreateOptions describe a new session.
type CreateOptions struct {
	Claims     json.RawMessage // a JSON object of at most MaxClaimsBytes, or nil
	Persistent bool
	Client     Client
	// KeyThumbprint, when set, binds the session to the client's DPoP key
	// (its RFC 7638 SHA-256 thumbprint, base64url): see Session.KeyThumbprint.
	// Claims must then not hold a cnf member of their own.
	KeyThumbprint string
	// Retry, when its Key is set, makes this login one its client may
	// send again (LoginRetry): a login with the same key, scope and
	// request replaces the session the earlier one made. The jwt
	// strategy keeps no sessions and ignores it.
	Retry LoginRetry
}

// Issued is what Create, Refresh and Rotate hand back: the session and its
// tokens. RefreshToken is empty when the strategy has none (database).
//
// It has no JSON form of its own: json.Marshal fails with
// ErrInvalidArgument rather than write its tokens as "REDACTED" (what a
// Secret marshals to) or write them where a caller did not mean to. Write
// it through TokenResponse, which puts the tokens in clear on purpose.
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

// MarshalJSON refuses: see Issued.
func (Issued) MarshalJSON() ([]byte, error) {
	return nil, argError("issued", "holds bearer tokens: marshal Issued.TokenResponse() to write them")
}

// TokenResponse is the JSON form of an Issued, the tokens in clear, with
// the names of the server's token responses (RFC 6749 section 5.1 style).
// Send it only to the client the tokens belong to, with Cache-Control:
// no-store. It has no expires_in: that counts from the answer's time,
// which an Issued does not know (the server's answers add
// ExpiresIn(iss.AccessExpiresAt, m.Now()) as they are written).
type TokenResponse struct {
	Session               Session   `json:"session"`
	AccessToken           string    `json:"access_token"`
	AccessTokenExpiresAt  time.Time `json:"access_token_expires_at"`
	RefreshToken          string    `json:"refresh_token,omitempty"`           // empty when the strategy has none
	RefreshTokenExpiresAt time.Time `json:"refresh_token_expires_at,omitzero"` // zero with it
	TokenType             string    `json:"token_type"`                        // Issued.TokenType: "Bearer", or "DPoP" for a session bound to a DPoP key
	Anomalies             []Anomaly `json:"anomalies,omitempty"`               // found at refresh
	StepUpRequired        bool      `json:"step_up_required,omitempty"`        // an anomaly asks to re-authenticate
}

// TokenType is the RFC 6749 §5.1 type of iss's access token: "DPoP" when
// its session is bound to a DPoP key (RFC 9449 §5: it must be sent as
// Authorization: DPoP with a proof), "Bearer" otherwise.
func (iss *Issued) TokenType() string {
	if iss.Session.KeyThumbprint() != "" {
		return "DPoP"
	}
	return "Bearer"
}

// TokenResponse returns iss with its tokens in clear, ready to marshal: the
// one deliberate way to write an Issued's tokens.
func (iss *Issued) TokenResponse() TokenResponse {
	out := TokenResponse{
		Session: iss.Session, AccessToken: string(iss.AccessToken), AccessTokenExpiresAt: iss.AccessExpiresAt,
		TokenType: iss.TokenType(), Anomalies: iss.Anomalies, StepUpRequired: iss.StepUp,
	}
	if iss.RefreshToken != "" {
		out.RefreshToken, out.RefreshTokenExpiresAt = string(iss.RefreshToken), iss.RefreshExpiresAt
	}
	return out
}

// Manager runs the session lifecycle. It is safe for concurrent use.
//
// What the strategy changes (how tokens are minted, verified and
// refreshed) is its flow, chosen once in New; the Manager holds the policy
// every strategy shares: input checks, session limits, anomaly rules,
// refresh-token reuse, the incident kill switch and events.
type Manager struct {
	strategy Strategy
	flow     flow
	store    Store // nil only in the jwt strategy
	life     Lifetimes
	reuse    time.Duration // grace for a retired refresh token
	detect   bool          // a retired refresh token revokes its session
	limit    sessionLimit
	clock    Clock
	events   EventSink
	anomaly  AnomalyChecker
	eventIP  IPPrefixes // Options.EventIPPrefixes
	onVerify func(error, time.Duration)
	// onProofRefused: Options.DeviceProofRefusedObserver
	onProofRefused func(stage string)
	storeErr       storeFailures // Options.StoreErrorObserver
	dedup          anomalyDedup
	// lateAlso: sessions whose revoke found them ended for another reason
	// and recorded the events of also anyway (see revoke).
	lateAlso recentOnce
	log      *slog.Logger

	revoked *revokedSet  // the flow's; nil unless hybrid
	cache   *verifyCache // the flow's; nil when disabled or not a JWT strategy
	grants  *grantCache  // the flow's; nil when disabled or not hybrid with rotation
	marks   watermarks

	stop context.CancelFunc
	wg   sync.WaitGroup
	feed feedGate // the store's revocation feed calls in through it
	// closed: Close was called. Verify refuses from then on: the feed
	// and the watermark poll have stopped, so a hybrid or jwt Manager
	// would go on accepting tokens revoked elsewhere.
	closed atomic.Bool
	// resyncDue: the catch-up after a feed reconnect failed (the store
	// dropped again); the watermark loop retries it until it succeeds.
	resyncDue atomic.Bool
	pub       MetaNotifier  // tells other nodes the watermarks changed; nil: they poll
	kick      chan struct{} // asks the watermark loop to reload now (coalesced)

	fails   refreshLimit  // failed refreshes per subject
	unknown eventThrottle // EventUnknownToken
	expired eventThrottle // EventSessionExpired
	csrf    eventThrottle // EventCSRFRejected
	// proofRefused: EventDeviceProofRefused handed to Record
	proofRefused eventThrottle

	concurrent *concurrentChecks // EventConcurrentLogin; nil in the jwt strategy
}

// New checks opts, rebuilds the revoked-session set from the store (hybrid)
// and starts the background collector. Close stops it.
func New(ctx context.Context, opts Options) (*Manager, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	limit, err := o.limit()
	if err != nil {
		return nil, err
	}
	m := &Manager{
		strategy:       o.Strategy,
		store:          o.Store,
		life:           o.Lifetimes,
		reuse:          o.ReuseInterval,
		detect:         !o.NoReuseDetection,
		limit:          limit,
		clock:          o.Clock,
		events:         o.Events,
		anomaly:        o.Anomalies,
		eventIP:        o.EventIPPrefixes,
		onVerify:       o.VerifyObserver,
		onProofRefused: o.DeviceProofRefusedObserver,
		storeErr:       o.StoreErrorObserver,
		log:            o.Logger,
		fails:          newRefreshLimit(o),
		unknown:        eventThrottle{window: unknownTokenWindow, perKey: unknownTokenPerIP, max: unknownTokenMax},
		expired:        eventThrottle{window: expiredWindow, perKey: expiredPerSession, max: expiredMax},
		csrf:           eventThrottle{window: csrfRejectedWindow, perKey: csrfRejectedPerIP, max: csrfRejectedMax},
		proofRefused:   eventThrottle{window: proofRefusedWindow, perKey: proofRefusedPerKey, max: proofRefusedMax},
	}
	m.marks.meta, _ = o.Store.(MetaStore)
	m.marks.keep = o.Lifetimes.Refresh
	m.marks.fails = m.storeErr
	if m.flow, err = newFlow(o, limit, &m.marks); err != nil {
		return nil, err
	}
	m.cache, m.revoked, m.grants = m.flow.inProcess()
	if err := m.Resync(ctx); err != nil {
		return nil, err
	}
	if err := m.marks.sync(ctx); err != nil {
		return nil, err
	}
	// The loops' context says whose it is: an event a loop records ends
	// at Close, not later (recordContext).
	bg, cancel := context.WithCancel(context.WithValue(context.Background(), loopContext{}, m))
	m.stop = cancel
	if o.GCInterval > 0 {
		m.wg.Add(1)
		go m.collect(bg, o.GCInterval, o.GCBatch)
	}
	if m.flow.keepsSessions() {
		m.concurrent = newConcurrentChecks()
		m.wg.Add(1)
		go m.checkConcurrent(bg)
	}
	n, notifier := o.Store.(RevocationNotifier)
	notifier = notifier && !o.NoRevocationFeed
	if pub, ok := o.Store.(MetaNotifier); ok && notifier && m.marks.meta != nil {
		m.pub = pub
	}
	m.kick = make(chan struct{}, 1)
	if m.marks.meta != nil && (o.WatermarkPoll > 0 || m.pub != nil) {
		m.wg.Add(1)
		go m.watchWatermarks(bg, o.WatermarkPoll, cmp.Or(o.watermarkCallTimeout, defaultWatermarkCallTimeout))
	}
	if notifier && (m.revoked != nil || m.pub != nil) {
		if err := m.subscribe(bg, n); err != nil {
			m.Close()
			return nil, err
		}
		// Catch up once more now that the feed is live: a revocation (or
		// watermark) made on another node between the first load and the
		// subscription was in neither (TestE2E_NodeKilledUnderLoad met one).
		if err := m.Resync(ctx); err != nil {
			m.Close()
			return nil, err
		}
		m.reloadWatermarks()
	}
	for _, run := range o.Background {
		m.wg.Add(1)
		go func() {
			defer m.wg.Done()
			run(bg)
		}()
	}
	return m, nil
}

// Close stops the background collector, the watermark poll, the
// revocation feed and the loops of Options.Background, and returns once none of them runs any more. It does not
// close the store. From Close on, Verify, Inspect and InspectChecked fail
// with ErrStoreUnavailable: without the feed and the poll this node would
// no longer hear of revocations made elsewhere.
func (m *Manager) Close() error {
	m.closed.Store(true)
	m.stop()
	m.wg.Wait()
	m.feed.close()
	return nil
}

// Strategy returns the configured strategy.
func (m *Manager) Strategy() Strategy { return m.strategy }

// Now is the time on the Manager's clock, for comparing with the times of
// its sessions.
func (m *Manager) Now() time.Time { return m.now() }

// Lifetimes returns the effective lifetimes.
func (m *Manager) Lifetimes() Lifetimes { return m.life }

// ReuseInterval returns the effective Options.ReuseInterval (0 when
// disabled): how long after a rotation the retired refresh token is still
// taken, which bounds how long a client may wait on a refresh before it
// sends it again.
func (m *Manager) ReuseInterval() time.Duration { return m.reuse }

// now is the clock's time at the microsecond precision every store keeps.
func (m *Manager) now() time.Time { return m.clock.Now().UTC().Truncate(time.Microsecond) }

// needSessions fails op in a strategy that keeps no sessions (jwt).
func (m *Manager) needSessions(op string) error {
	if m.flow.keepsSessions() {
		return nil
	}
	return fmt.Errorf("sessiond: %s: %w", op, ErrUnsupported)
}

// Create starts a new session for subject and issues its tokens.
func (m *Manager) Create(ctx context.Context, subject string, o CreateOptions) (*Issued, error) {
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	claims, err := checkClaims(o.Claims)
	if err != nil {
		return nil, err
	}
	if o.KeyThumbprint != "" {
		if claims, err = bindClaims(claims, o.KeyThumbprint); err != nil {
			return nil, err
		}
	}
	client, err := CleanClient(o.Client)
	if err != nil {
		return nil, err
	}
	if err := checkLoginRetry(o.Retry); err != nil {
		return nil, err
	}
	now := m.now()
	s := &Session{
		ID:           NewSessionID(),
		Subject:      subject,
		Strategy:     m.strategy,
		CreatedAt:    m.marks.creationTime(subject, now),
		LastActiveAt: now,
		ExpiresAt:    m.life.sessionEnd(now, o.Persistent),
		Persistent:   o.Persistent,
		Client:       client,
		Claims:       claims,
	}
	ev := m.prepareRecorded(ctx, Event{Type: EventSessionCreated, Subject: s.Subject, SessionID: s.ID, Client: s.Client,
		Details: map[string]any{"persistent": s.Persistent, "strategy": string(s.Strategy)}})
	var iss *Issued
	if o.Retry.Key != "" && m.flow.keepsSessions() {
		iss, err = m.createRetried(ctx, s, now, &ev, o.Retry)
	} else {
		iss, err = m.issueAndStore(ctx, s, now, m.limit.max, &ev, false)
		if errors.Is(err, ErrLimitReached) && m.endBehindMarks(ctx, subject) > 0 {
			iss, err = m.issueAndStore(ctx, s, now, m.limit.max, &ev, false)
		}
	}
	if err != nil {
		return nil, err
	}
	if err := m.commitEvent(ctx, &ev); err != nil {
		return nil, err
	}
	m.noteLogin(s)
	return iss, nil
}

// prepareRecorded is prepare for an event whose records a ChangeRecorder
// writes with a session's creation or revocation: without one (or in the
// jwt strategy, which stores nothing) the event is only stamped, and
// committed records it after the change.
func (m *Manager) prepareRecorded(ctx context.Context, e Event) carried {
	if _, ok := m.recorder(); !ok || !m.flow.keepsSessions() {
		return carried{event: m.stamp(e)}
	}
	return m.prepare(ctx, e)
}

// evictedEvent is the session.revoked event of a session the limit evicted
// to make room for the session by: its client is the login's, who ended
// it, as a logout's is who logged out.
func evictedEvent(r Revocation, by *Session) Event {
	return Event{Type: EventSessionRevoked, Subject: r.Subject, SessionID: r.SessionID, Client: by.Client,
		Details: map[string]any{"reason": string(r.Reason), "replaced_by": string(by.ID), "revoked_at": revokedAtDetail(r.RevokedAt)}}
}

// issueAndStore issues s's tokens and stores it, under the subject's
// session limit when limit > 0. The store writes ev's records (and those of
// the sessions the limit evicts) with the session when it is a
// ChangeRecorder, and then marks ev written. extra are stored with the
// session's tokens (a login's key, LoginRetry); with them a conflict is
// left to the caller to report, as it settles most by trying again.
func (m *Manager) issueAndStore(ctx context.Context, s *Session, now time.Time, limit int, ev *carried, stepUp bool, extra ...Token) (*Issued, error) {
	iss, tokens, err := m.flow.issue(s, now, stepUp)
	if err != nil {
		return nil, err
	}
	if len(extra) > 0 {
		tokens = append(tokens, extra...)
	}
	fails := m.storeErr
	if len(extra) > 0 {
		fails = fails.settling() // createRetried settles and reports its conflicts
	}
	rec, recording := m.recorder()
	var evicted []Revocation
	var evictedEvents map[SessionID]*carried
	switch {
	case !m.flow.keepsSessions():
	case recording:
		var onEvict func(Revocation) ChangeRecords
		if limit > 0 {
			evictedEvents = make(map[SessionID]*carried)
			onEvict = func(r Revocation) ChangeRecords {
				c := m.prepare(ctx, evictedEvent(r, s))
				evictedEvents[r.SessionID] = &c
				return c.records()
			}
		}
		if evicted, err = rec.CreateRecorded(ctx, s, limit, m.limit.evict, ev.records(), onEvict, tokens...); err != nil {
			return nil, fmt.Errorf("sessiond: create session: %w", fails.check(createOp(limit), err))
		}
		ev.written = ev.ok
	case limit > 0:
		if evicted, err = m.store.(Limiter).CreateLimited(ctx, s, limit, m.limit.evict, tokens...); err != nil {
			return nil, fmt.Errorf("sessiond: create session: %w", fails.check("create_limited", err))
		}
	default:
		if err := m.store.Create(ctx, s, tokens...); err != nil {
			return nil, fmt.Errorf("sessiond: create session: %w", fails.check("create", err))
		}
	}
	m.grants.keep(s, tokens, now)
	if len(evicted) >= MaxLimitEvictions {
		// A subject far over its limit (lowered under it) comes down a
		// batch a login; the operator may revoke the rest at once.
		m.log.WarnContext(ctx, "sessiond: session limit: a login evicted the most one login evicts; the subject may still be over its limit",
			"subject", s.Subject, "evicted", len(evicted), "max_sessions", limit)
	}
	for _, r := range evicted {
		m.NoteRevoked(r)
		if c := evictedEvents[r.SessionID]; c != nil {
			c.written = c.ok
			m.committed(ctx, c)
		} else {
			m.emit(ctx, evictedEvent(r, s))
		}
	}
	iss.Session = *s
	return iss, nil
}

// Rotate replaces a live session with a new one (new ID, new tokens, same
// subject, claims, creation time and absolute expiry) and revokes the old
// one: call it on every privilege change. The successor keeps the time the
// user authenticated (the tokens' auth_time), and an incident that ends
// the old session ends the successor too; after a new authentication,
// create a session instead.
func (m *Manager) Rotate(ctx context.Context, id SessionID) (*Issued, error) {
	if err := m.needSessions("rotate"); err != nil {
		return nil, err
	}
	old, err := m.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("sessiond: rotate: %w", err)
	}
	return m.rotate(ctx, old, old.Claims, false)
}

// RotateFrom is Rotate for a request from client whose token asked for a
// step-up or not (stepUp: Verification.StepUp of the token the request
// carried). In hybrid, where a step_up travels in the access token, the
// anomaly rules a refresh runs check client against the client the
// session was issued to first, with their actions (a revoke ends the
// session instead: ErrRevoked), and the successor's access token carries
// a step_up if they ask for one or stepUp is set: rotating is not signing
// in again, and must not clear it (a rule that fires once, distinct_ips,
// does not fire again here). Issued.Anomalies and StepUp report it. In the
// database strategy every verify checks the stored client, which the
// successor keeps, so RotateFrom is Rotate.
func (m *Manager) RotateFrom(ctx context.Context, id SessionID, client Client, stepUp bool) (*Issued, error) {
	if err := m.needSessions("rotate"); err != nil {
		return nil, err
	}
	old, err := m.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("sessiond: rotate: %w", err)
	}
	var found []Anomaly
	if m.anomaly != nil && m.strategy != StrategyDatabase && (client.IP != "" || client.UserAgent != "") {
		var asked bool
		if found, asked, err = m.anomalies(ctx, StageRefresh, &old, old.Client, client); err != nil {
			return nil, err
		}
		stepUp = stepUp || asked
	}
	iss, err := m.rotate(ctx, old, old.Claims, stepUp)
	if err != nil {
		return nil, err
	}
	iss.Anomalies, iss.StepUp = found, stepUp
	return iss, nil
}

// rotate replaces old, read through Get (which refuses a session an
// incident's watermark ended), with a new session holding claims; stepUp
// goes into its access token.
func (m *Manager) rotate(ctx context.Context, old Session, claims json.RawMessage, stepUp bool) (*Issued, error) {
	now := m.now()
	s := &Session{
		ID: NewSessionID(), Subject: old.Subject, Strategy: m.strategy,
		// CreatedAt is the authentication's, not the rotation's: a successor
		// dated after a kill switch that raced this rotation (or that this
		// node has not heard of yet) would outlive the incident.
		CreatedAt: old.CreatedAt, LastActiveAt: now, ExpiresAt: old.ExpiresAt,
		Persistent: old.Persistent, Client: old.Client, Claims: claims,
	}
	ev := m.prepareRecorded(ctx, Event{Type: EventSessionRotated, Subject: s.Subject, SessionID: s.ID, Client: s.Client,
		Details: map[string]any{"previous_session_id": string(old.ID)}})
	iss, err := m.issueAndStore(ctx, s, now, 0, &ev, stepUp)
	if err != nil {
		return nil, err
	}
	m.committed(ctx, &ev)
	// The successor exists before the old session ends, and is kept only
	// if this call is the one that ends it. Whatever ends the subject's
	// sessions meanwhile (a revocation of all of them, a login under the
	// single-session limit, a concurrent rotation, an operator) finds the
	// successor live and ends it too, or ends the old session first, and
	// then the successor is revoked here: it never outlives them.
	_, mine, err := m.revoke(ctx, old.ID, now, ReasonRotated)
	if err != nil || !mine {
		// Its tokens have not left this call: revoking it is tidiness, and
		// a failure leaves a session nobody holds until it times out.
		if _, _, rerr := m.revoke(ctx, s.ID, now, ReasonRotated); rerr != nil {
			m.log.WarnContext(ctx, "sessiond: rotate: revoke the successor of a failed rotation", "session_id", s.ID, "err", rerr)
		}
		if err != nil {
			return nil, fmt.Errorf("sessiond: rotate: %w", err)
		}
		return nil, fmt.Errorf("sessiond: rotate: %w: revoked meanwhile", ErrNotFound)
	}
	return iss, nil
}

// Get returns a live session. Unknown, revoked and expired sessions are
// ErrNotFound, and so is one an incident's watermark ended before the
// store recorded it (the store's bulk write may still run, or have failed).
func (m *Manager) Get(ctx context.Context, id SessionID) (Session, error) {
	if err := m.needSessions("get"); err != nil {
		return Session{}, err
	}
	if !id.Valid() {
		return Session{}, fmt.Errorf("sessiond: get: %w", ErrNotFound)
	}
	s, err := m.store.Get(ctx, id)
	if err != nil {
		return Session{}, fmt.Errorf("sessiond: get: %w", m.storeErr.check("get", err))
	}
	if !s.Live(m.now()) || m.marks.revoked(s.Subject, s.CreatedAt) {
		return Session{}, fmt.Errorf("sessiond: get: %w", ErrNotFound)
	}
	return *s, nil
}

// List returns the live sessions of subject, oldest first.
func (m *Manager) List(ctx context.Context, subject string) ([]Session, error) {
	if err := m.needSessions("list"); err != nil {
		return nil, err
	}
	if err := checkSubject(subject); err != nil {
		return nil, err
	}
	ss, err := m.store.List(ctx, subject, m.now())
	if err != nil {
		return nil, fmt.Errorf("sessiond: list: %w", m.storeErr.check("list", err))
	}
	out := make([]Session, 0, len(ss))
	for _, s := range ss {
		if !m.marks.revoked(s.Subject, s.CreatedAt) { // ended by an incident the store has not caught up with
			out = append(out, *s)
		}
	}
	return out, nil
}

// Revoke ends a session at once. Revoking an unknown session is
// ErrNotFound; revoking a revoked one is not an error. ReasonIncident is
// RevokeMatching's alone (ErrInvalidArgument).
func (m *Manager) Revoke(ctx context.Context, id SessionID, reason RevokeReason) error {
	if err := m.needSessions("revoke"); err != nil {
		return err
	}
	if err := notIncident(reason); err != nil {
		return err
	}
	if !id.Valid() {
		return fmt.Errorf("sessiond: revoke: %w", ErrNotFound)
	}
	_, _, err := m.revoke(ctx, id, m.now(), reason)
	return err
}

// revoke revokes a session and records its session.revoked event and the
// events in also when this call is the one that revokes it: in the
// revocation's transaction when the store can, otherwise after it. The
// events in also report what the revocation is for (a theft): a session
// revoked already for the same reason records nothing, since a storm of
// requests detecting the same theft on any number of nodes must raise
// them once, and the call that revoked it recorded them (the store's
// answer settles which atomically); one revoked already for another
// reason (a logout between the caller's check and this call) records
// also after the change, as nobody reported what it reports, once per
// session on this node however many of a storm's requests find it so
// (lateAlso; several nodes may each record it once). On error
// nothing is recorded: the caller decides about also. mine reports
// whether this call is the one that revoked the session.
func (m *Manager) revoke(ctx context.Context, id SessionID, now time.Time, reason RevokeReason, also ...Event) (s *Session, mine bool, err error) {
	return m.revokeBy(ctx, id, now, reason, Client{}, also...)
}

// revokeBy is revoke at the request of by, the client that asked (a
// browser logging out), which session.revoked records; the zero Client
// when unknown.
func (m *Manager) revokeBy(ctx context.Context, id SessionID, now time.Time, reason RevokeReason, by Client, also ...Event) (s *Session, mine bool, err error) {
	if rec, ok := m.recorder(); ok {
		var evs []carried // session.revoked, then also
		s, recorded, err := rec.RevokeRecorded(ctx, id, now, reason, func(s *Session) ChangeRecords {
			var out ChangeRecords
			evs, out = m.prepareAll(ctx, append([]Event{revokedEvent(s, reason, by)}, also...))
			return out
		})
		if err != nil {
			return nil, false, fmt.Errorf("sessiond: revoke: %w", m.storeErr.check("revoke", err))
		}
		m.NoteRevoked(Revocation{SessionID: s.ID, Subject: s.Subject, RevokedAt: s.RevokedAt, ExpiresAt: s.ExpiresAt, Reason: s.RevokeReason})
		switch {
		case recorded && len(evs) == 1+len(also):
			for i := range evs {
				evs[i].written = evs[i].ok
				m.committed(ctx, &evs[i])
			}
		case recorded:
			// The store broke its contract (revoked not called): record
			// the events after the change rather than lose them.
			m.emit(ctx, revokedEvent(s, reason, by))
			fallthrough
		case s.RevokeReason != reason && len(also) > 0 && m.lateAlso.first(s.ID, now):
			for _, e := range also {
				m.emit(ctx, e)
			}
		}
		return s, recorded, nil
	}
	if r, ok := m.store.(ChangeRecorder); ok {
		// The store knows whether this call revoked it: two calls in one
		// microsecond (a coarse or fake clock) cannot both think so. The
		// callback writes nothing; it is passed rather than nil because a
		// store that reports the revocation only when it has records to
		// write (sqlitestore's) would make every call "not mine", losing
		// the events and failing every Rotate.
		s, mine, err = r.RevokeRecorded(ctx, id, now, reason, noRecords)
	} else {
		s, err = m.store.Revoke(ctx, id, now, reason)
		// Store.Revoke returns a session revoked before as it was: the
		// time and reason tell whether this call revoked it (two calls in
		// one microsecond may both think so: such a store may record a
		// theft twice).
		mine = err == nil && s.RevokedAt.Equal(now) && s.RevokeReason == reason
	}
	if err != nil {
		return nil, false, fmt.Errorf("sessiond: revoke: %w", m.storeErr.check("revoke", err))
	}
	m.NoteRevoked(Revocation{SessionID: s.ID, Subject: s.Subject, RevokedAt: s.RevokedAt, ExpiresAt: s.ExpiresAt, Reason: s.RevokeReason})
	if mine {
		m.emit(ctx, revokedEvent(s, reason, by))
	}
	if mine || s.RevokeReason != reason && len(also) > 0 && m.lateAlso.first(s.ID, now) {
		for _, e := range also {
			m.emit(ctx, e)
		}
	}
	return s, mine, nil
}

// noRecords is the RevokeRecorded callback of a revocation whose events
// are recorded after it.
func noRecords(*Session) ChangeRecords { return ChangeRecords{} }

// recentOnce answers true for a session the first time in a minute. Its
// memory is bounded: past recentOnceMax sessions it forgets those older
// than a minute, then, if still full, all of them (a repeat then costs one
// more event, never a lost one).
type recentOnce struct {
	mu   sync.Mutex
	seen map[SessionID]time.Time
}

const recentOnceMax = 10000

func (o *recentOnce) first(id SessionID, now time.Time) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if t, ok := o.seen[id]; ok && now.Sub(t) < time.Minute && !now.Before(t) {
		return false
	}
	if o.seen == nil {
		o.seen = make(map[SessionID]time.Time)
	}
	if len(o.seen) >= recentOnceMax {
		for k, t := range o.seen {
			if now.Sub(t) >= time.Minute {
				delete(o.seen, k)
			}
		}
		if len(o.seen) >= recentOnceMax {
			clear(o.seen)
		}
	}
	o.seen[id] = now
	return true
}

// notIncident refuses ReasonIncident outside RevokeMatching: Resync leaves
// incident revocations out of the revoked set because the incident's
// watermark covers them, and a session revoked alone has no watermark, so
// a node started later would accept its access tokens again.
func notIncident(reason RevokeReason) error {
	if reason == ReasonIncident {
		return argError("reason", "%q is the kill switch's (RevokeMatching); revoke single sessions or subjects with another reason", reason)
	}
	return nil
}

// revokedEvent is the session.revoked event of s, revoked for reason at
// the request of by. Its client is who ended the session when known (a
// thief's logout must not read as the owner's), with the client the
// session was issued to in issued_to, as a reuse event has it; otherwise
// (by is the zero Client) the session's own client, as always.
//
// Its details carry the revocation's time as stored (revoked_at): the
// event's own time is when it was recorded, milliseconds after the store's
// write under load, and the revocation stream sends a revocation from the
// store's feed and the snapshot with the stored time and again from the
// event log, so one revocation must carry one revoked_at. The event keeps
// its recording time because the stream reads the log by time and allows
// Settle for the commit after it: a time taken before a write that waits
// in a queue could fall behind that window. evictedEvent and
// subjectRevokedEvent do the same.
func revokedEvent(s *Session, reason RevokeReason, by Client) Event {
	e := Event{Type: EventSessionRevoked, Subject: s.Subject, SessionID: s.ID, Client: s.Client,
		Details: map[string]any{"reason": string(reason), "lifetime_seconds": s.RevokedAt.Sub(s.CreatedAt).Seconds(),
			"revoked_at": revokedAtDetail(s.RevokedAt)}}
	if by != (Client{}) {
		e.Client = by
		e.Details["issued_to"] = s.Client
	}
	return e
}

// RevokeSubject revokes every live session of subject except `except`
// (which may be empty) and returns how many it revoked. ReasonIncident is
// RevokeMatching's alone (ErrInvalidArgument). On a SubjectBatchRevoker it
// revokes a batch at a time, each with its events: an error part way
// returns how many the batches before it revoked, which stay revoked and
// are not counted again by a second call.
func (m *Manager) RevokeSubject(ctx context.Context, subject string, except SessionID, reason RevokeReason) (int, error) {
	if err := m.needSessions("revoke subject"); err != nil {
		return 0, err
	}
	if err := notIncident(reason); err != nil {
		return 0, err
	}
	if err := checkSubject(subject); err != nil {
		return 0, err
	}
	now := m.now()
	if br, ok := m.store.(SubjectBatchRevoker); ok {
		return m.revokeSubjectBatches(ctx, br, subject, except, now, reason)
	}
	clients := m.subjectClients(ctx, subject, now)
	if rec, ok := m.recorder(); ok {
		if rec, ok := rec.(SubjectChangeRecorder); ok {
			return m.revokeSubjectRecorded(ctx, rec, subject, except, now, reason, clients)
		}
	}
	revs, err := m.store.RevokeSubject(ctx, subject, except, now, reason)
	if err != nil {
		return 0, fmt.Errorf("sessiond: revoke subject: %w", m.storeErr.check("revoke_subject", err))
	}
	for _, r := range revs {
		m.NoteRevoked(r)
		m.emit(ctx, subjectRevokedEvent(r, reason, clients[r.SessionID]))
	}
	if len(revs) > 0 {
		m.emit(ctx, bulkRevokedEvent(subject, except, reason, len(revs)))
	}
	return len(revs), nil
}

// revokeSubjectRecorded is RevokeSubject through a store that writes the
// events of the revocations, and their outbox deliveries, in the
// revocation's own transaction.
func (m *Manager) revokeSubjectRecorded(ctx context.Context, rec SubjectChangeRecorder, subject string, except SessionID,
	now time.Time, reason RevokeReason, clients map[SessionID]Client) (int, error) {
	var evs []carried // one per revocation, then the bulk event
	revs, err := rec.RevokeSubjectRecorded(ctx, subject, except, now, reason, func(revs []Revocation) ChangeRecords {
		es := make([]Event, 0, len(revs)+1)
		for _, r := range revs {
			es = append(es, subjectRevokedEvent(r, reason, clients[r.SessionID]))
		}
		es = append(es, bulkRevokedEvent(subject, except, reason, len(revs)))
		var out ChangeRecords
		evs, out = m.prepareAll(ctx, es)
		return out
	})
	if err != nil {
		return 0, fmt.Errorf("sessiond: revoke subject: %w", m.storeErr.check("revoke_subject", err))
	}
	if len(revs) == 0 {
		return 0, nil
	}
	if len(evs) != len(revs)+1 {
		// The store broke its contract (revoked not called with what it
		// returns): record the events after the change rather than lose them.
		m.log.ErrorContext(ctx, "revoke subject: store did not record the revocations it returned", "subject", subject)
		evs = evs[:0]
		for _, r := range revs {
			evs = append(evs, carried{event: m.stamp(subjectRevokedEvent(r, reason, clients[r.SessionID]))})
		}
		evs = append(evs, carried{event: m.stamp(bulkRevokedEvent(subject, except, reason, len(revs)))})
	}
	for i, r := range revs {
		m.NoteRevoked(r)
		evs[i].written = evs[i].ok
		m.committed(ctx, &evs[i])
	}
	bulk := &evs[len(revs)]
	bulk.written = bulk.ok
	m.committed(ctx, bulk)
	return len(revs), nil
}

// subjectRevokedEvent is the session.revoked event of a session
// RevokeSubject revoked, issued to client.
func subjectRevokedEvent(r Revocation, reason RevokeReason, client Client) Event {
	return Event{Type: EventSessionRevoked, Subject: r.Subject, SessionID: r.SessionID, Client: client,
		Details: map[string]any{"reason": string(reason), "revoked_at": revokedAtDetail(r.RevokedAt)}}
}

// revokedAtDetail is a session.revoked event's details.revoked_at: the
// revocation's time as the store holds it (RFC 3339, UTC, nanoseconds).
func revokedAtDetail(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// subjectClients returns the clients of subject's live sessions, for the
// session.revoked events of RevokeSubject to record each session's, as
// Revoke's does: a store's Revocation carries none (a SubjectBatchRevoker
// returns them with each batch, and is not read). It is one read before
// the revocation, and best effort: a failed read leaves the events without
// a client (the revocation that follows answers for the store; the read's
// failure is reported to Options.StoreErrorObserver as any store call's),
// as does a login stored between the read and the revocation. A
// SubjectClientLister reads the clients alone; another store is read with
// List, every session in full. Either read is reported as op "list", the
// read it always was.
func (m *Manager) subjectClients(ctx context.Context, subject string, now time.Time) map[SessionID]Client {
	if l, ok := m.store.(SubjectClientLister); ok {
		out, err := l.SubjectClients(ctx, subject, now)
		if err != nil {
			m.storeErr.check("list", err)
			return nil
		}
		return out
	}
	ss, err := m.store.List(ctx, subject, now)
	if err != nil {
		m.storeErr.check("list", err)
		return nil
	}
	out := make(map[SessionID]Client, len(ss))
	for _, s := range ss {
		out[s.ID] = s.Client
	}
	return out
}

// bulkRevokedEvent is the event of RevokeSubject revoking n sessions.
func bulkRevokedEvent(subject string, except SessionID, reason RevokeReason, n int) Event {
	return Event{Type: EventBulkRevoked, Subject: subject,
		Details: map[string]any{"reason": string(reason), "count": n, "except": string(except)}}
}

// RevokeToken revokes the session a token belongs to, whatever its kind, as
// RFC 7009 asks: an unknown, invalid or expired token is not an error. It
// returns ErrStoreUnavailable when the store cannot be asked.
//
// A refresh token retired outside the reuse interval is theft evidence
// here as at Refresh: with reuse detection on, its session (or the
// successor of a session rotated since) is revoked with reason reuse and
// the reuse recorded, and nil is returned all the same. Like Refresh
// without a proof, a retired token ends nothing of a session bound to a
// key, whatever the reuse interval and detection: the token has been
// useless without the key since it was retired, and a thief holding it
// must not end the owner's session. A live token ends its session, bound
// or not.
func (m *Manager) RevokeToken(ctx context.Context, tok Secret) error {
	return m.RevokeTokenChecked(ctx, tok, Client{}, nil)
}

// RevokeTokenChecked is RevokeToken at the request of client, with check
// run on the token's session (ended ones too: a retired refresh token's
// may have been rotated away) before anything is revoked or recorded: an
// error from check revokes nothing and is returned as is. It is for a
// logout on a request that must prove more than the token, as a request
// to a protected route would (httpsession checks a device-bound session's
// bound cookie, and refuses a key-bound one): a copied token alone must
// not end its owner's session. The session.revoked event records client
// as who ended the session and the session's own client in
// details.issued_to; the zero Client records the session's, as
// RevokeToken does. A nil check checks nothing.
func (m *Manager) RevokeTokenChecked(ctx context.Context, tok Secret, client Client, check func(*Session) error) error {
	if len(tok) == 0 || len(tok) > MaxTokenBytes {
		return nil
	}
	o, err := m.flow.ownerOf(ctx, tok, m.clock.Now())
	if err != nil || o.id == "" {
		return err
	}
	if check != nil {
		if o.session == nil { // a signed access token names its session only
			s, err := m.store.Get(ctx, o.id)
			if errors.Is(err, ErrNotFound) {
				return nil
			} else if err != nil {
				return fmt.Errorf("sessiond: revoke token: %w", m.storeErr.check("get", err))
			}
			o.session = s
		}
		if err := check(o.session); err != nil {
			return err
		}
	}
	now := m.now()
	if o.refresh && !o.retiredAt.IsZero() {
		if o.session.KeyThumbprint() != "" {
			// Refresh takes a retired token of a bound session, as reuse or
			// within the interval, only with a proof of the key
			// (checkProof), which a revocation request cannot carry.
			return nil
		}
		if m.detect && o.retiredAt.Before(now.Add(-m.reuse)) {
			if handled, err := m.revokeRetired(ctx, o.session, client, now); handled {
				return err
			}
		}
	}
	if _, _, err := m.revokeBy(ctx, o.id, now, ReasonLogout, client); err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	return nil
}

// NoteRevoked adds a revocation to the in-process revoked set (hybrid; the
// other strategies keep none). The Manager calls it for its own
// revocations; a store's RevocationNotifier feed calls it for revocations
// made on other nodes.
func (m *Manager) NoteRevoked(r Revocation) {
	m.revoked.note(r, m.clock.Now())
}

// Resync reloads recent revocations from the store into the revoked set.
// New calls it; call it again after a revocation feed reconnects.
func (m *Manager) Resync(ctx context.Context) error {
	if m.revoked == nil {
		return nil
	}
	revs, err := m.store.Revocations(ctx, m.revoked.since(m.now()))
	if err != nil {
		return fmt.Errorf("sessiond: load revocations: %w", m.storeErr.check("revocations", err))
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
	RevokedSetEntries   int
	VerifyCacheEntries  int
	RefreshCacheEntries int // the hybrid grant cache (Options.RefreshCacheSize)
	// ConcurrentChecksSkipped counts logins whose concurrent-login check
	// (EventConcurrentLogin) was skipped: over 100 a second on this node,
	// 1,024 waiting for a slow store, or a login over 30 s old when its
	// check's turn came.
	ConcurrentChecksSkipped int64
}

// Stats returns current in-process sizes.
func (m *Manager) Stats() Stats {
	st := Stats{RevokedSetEntries: m.revoked.len()}
	if m.cache != nil {
		st.VerifyCacheEntries = m.cache.len()
	}
	if m.grants != nil {
		st.RefreshCacheEntries = m.grants.len()
	}
	if m.concurrent != nil {
		st.ConcurrentChecksSkipped = m.concurrent.skipped.Load()
	}
	return st
}
