package sessiond

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"
)

// Refresh exchanges a refresh token for new tokens. In hybrid, the old
// refresh token is retired; presenting a retired one again outside the
// reuse interval revokes the whole session and returns ErrRefreshReused.
// The database strategy has no refresh tokens (ErrUnsupported).
//
// Refresh rotation runs in two phases, as the flow of the strategy sees
// it: check the presented token (nothing written), then issue the successor
// and persist it. Between them the Manager applies its policy: the anomaly
// rules, and reuse detection for a token already retired. A session
// revoked between the two phases is refused by the store's swap itself
// (Store.SwapRefresh), with the same ErrRevoked as one revoked before.
// In hybrid, the first phase reads the store only when this node did not
// store the presented token itself (Options.RefreshCacheSize): a token it
// stored is checked against the session as it was written then, and the
// swap, which is atomic, still has the last word on revocation and reuse.
//
// With Options.RefreshFailures, a failed refresh of a genuine token counts
// against its subject; past the limit it returns a *RateLimitError
// (ErrRateLimited) in place of its own error. The session revocation of a
// reused token happens all the same.
func (m *Manager) Refresh(ctx context.Context, refresh Secret, client Client) (*Issued, error) {
	return m.RefreshChecked(ctx, refresh, client, nil)
}

// RefreshChecked is Refresh with check run on the session after the
// refresh token is found valid and before anything is written: an error
// from check refuses the refresh and is returned as is. A session bound to
// a key (Session.KeyThumbprint) cannot be refreshed without a check, which
// must prove possession of that key (a DPoP proof); plain Refresh refuses
// it with ErrInvalidToken.
func (m *Manager) RefreshChecked(ctx context.Context, refresh Secret, client Client, check func(*Session) error) (*Issued, error) {
	if len(refresh) == 0 || len(refresh) > MaxTokenBytes {
		return nil, fmt.Errorf("sessiond: refresh: %w: empty or oversized", ErrInvalidToken)
	}
	now := m.now()
	g, err := m.flow.checkRefresh(ctx, refresh, now)
	if errors.Is(err, errRetiredOfRotated) && m.detect && g.retiredAt.Before(now.Add(-m.reuse)) {
		// As on the live path: no proof of a bound key (or the caller's
		// check failing), no reuse; a thief without the key must not end
		// the successor either.
		if perr := checkProof(&g.session, check); perr != nil {
			return nil, m.refreshFailed(ctx, &g.session, perr, now)
		}
		if reused, _ := m.reusedAcrossRotation(ctx, &g.session, client, now); reused {
			return nil, m.refreshFailed(ctx, &g.session, fmt.Errorf("sessiond: refresh: %w", ErrRefreshReused), now)
		}
		// No successor lives (or the session was ended by a new login,
		// which also records "rotated"): refused as any revoked session's.
	}
	if err != nil {
		if g.session.ID == "" {
			// No session holds the token: not one issued here.
			m.noteUnknown(ctx, StageRefresh, client, err)
		}
		m.noteExpired(ctx, StageRefresh, &g.session, client, err, now)
		return nil, m.refreshFailed(ctx, &g.session, err, now)
	}
	s := &g.session
	if err := checkProof(s, check); err != nil {
		if check == nil {
			return nil, err
		}
		return nil, m.refreshFailed(ctx, s, err, now)
	}
	// Reuse before the anomaly rules: a thief replaying a retired token
	// from another device is the case reuse detection exists for, and a
	// rule that revokes for the device change must not take its place
	// (the session would end as "anomaly", with no reuse event).
	// The interval is judged by this node's clock against the retiring
	// node's stamp, here and in the swap, so it must exceed the skew
	// between the nodes' clocks (SD-LIFE-015, docs/operations.md).
	grace := now.Add(-m.reuse)
	if !g.retiredAt.IsZero() && g.retiredAt.Before(grace) {
		return nil, m.refreshFailed(ctx, s, m.retired(ctx, s, client, now), now)
	}
	var found []Anomaly
	var stepUp bool
	if m.anomaly != nil && (client.IP != "" || client.UserAgent != "") {
		if found, stepUp, err = m.anomalies(ctx, StageRefresh, s, g.issuedTo, client); err != nil {
			return nil, err
		}
	}
	ev := m.prepare(ctx, Event{Type: EventSessionRefreshed, Subject: s.Subject, SessionID: s.ID, Client: client})
	g.event = &ev
	g.stepUp = stepUp // the new access token carries it
	iss, err := m.flow.issueRefresh(ctx, g, now, grace)
	if errors.Is(err, ErrRefreshReused) {
		// The token was retired before the swap, outside the grace: by a
		// concurrent refresh, or by one on another node since this node
		// stored it (the grant cache).
		return nil, m.refreshFailed(ctx, s, m.retired(ctx, s, client, now), now)
	} else if err != nil {
		return nil, m.refreshFailed(ctx, s, err, now)
	}
	iss.Anomalies, iss.StepUp = found, stepUp
	if err := m.commitEvent(ctx, &ev); err != nil {
		return nil, err
	}
	return iss, nil
}

// errRetiredOfRotated: the refresh token was retired, and its session then
// rotated away (Manager.Rotate); the error also matches ErrRevoked.
var errRetiredOfRotated = errors.New("retired before its session was rotated")

// checkProof is what a refresh checks of s beyond its token: a session
// bound to a key needs a check (a proof of the key), and the check passes.
func checkProof(s *Session, check func(*Session) error) error {
	if check == nil {
		if s.KeyThumbprint() != "" {
			return fmt.Errorf("sessiond: refresh: %w: the session is bound to a key and no proof was checked", ErrInvalidToken)
		}
		return nil
	}
	return check(s)
}

// reusedAcrossRotation handles a retired refresh token of s, a session
// rotated away since, presented outside the grace: a thief who refreshed
// the token first and then had the session rotated (a privilege change)
// must not keep a successor outside the family reuse detection ends. A
// rotation keeps the authentication's time and the absolute end
// (Manager.rotate), so s's successors are the subject's live sessions with
// both (two logins of one subject in the same microsecond would be taken
// for one family: the store keeps no link between them). They go with
// reason reuse, the first with the reuse event: revoke records it unless
// the successor was revoked for reuse already, by a concurrent detection
// that recorded it. It reports whether the token counts as reuse, and
// the first failure of the store (logged). It counts when a successor was
// found, and also when the store failed (listing the successors, or
// revoking one) before the event was recorded: the event is then
// recorded without the revocation, as revokeReused does, so an outage
// cannot hide a theft.
func (m *Manager) reusedAcrossRotation(ctx context.Context, s *Session, client Client, now time.Time) (reused bool, failed error) {
	e := Event{Type: EventRefreshReused, Subject: s.Subject, SessionID: s.ID, Client: client,
		Details: map[string]any{"issued_to": s.Client, "rotated": true}}
	// Read as the successors alone (SubjectPager.ListSpan) where the store
	// can: the replays, and the subject's other sessions, are the caller's
	// to multiply.
	live, failed := m.listSpan(ctx, s.Subject, s.CreatedAt, s.ExpiresAt, now)
	if failed != nil {
		failed = fmt.Errorf("sessiond: list: %w", failed)
		m.log.ErrorContext(ctx, "list the successors of a rotated session after refresh token reuse", "session_id", s.ID, "err", failed)
	}
	recorded := false
	for _, o := range live {
		if m.marks.revoked(o.Subject, o.CreatedAt) {
			continue // ended by an incident the store has not caught up with, as List leaves it out
		}
		var also []Event
		if !recorded {
			also = []Event{e}
		}
		if _, _, err := m.revoke(ctx, o.ID, now, ReasonReuse, also...); err != nil {
			if !errors.Is(err, ErrNotFound) {
				m.log.ErrorContext(ctx, "revoke a rotated session's successor after refresh token reuse", "session_id", o.ID, "err", err)
				failed = cmp.Or(failed, err)
			}
			continue
		}
		// On record now: by this call, or by the detection that revoked
		// the successor for reuse first.
		recorded = true
	}
	if failed != nil && !recorded {
		m.emit(ctx, e)
		return true, failed
	}
	return recorded, failed
}

// retired handles a retired refresh token presented outside the grace:
// theft (reused) with reuse detection, else merely an invalid token.
func (m *Manager) retired(ctx context.Context, s *Session, client Client, now time.Time) error {
	if !m.detect {
		return fmt.Errorf("sessiond: refresh: %w: retired", ErrInvalidToken)
	}
	return m.reused(ctx, s, client, now)
}

// reused handles a retired refresh token presented again: the thief and the
// victim cannot be told apart, so the whole session goes.
// The report of the reuse is written with the revocation, so a crash
// cannot leave a session ended for theft without its reason on record,
// and only by the call that revokes the session: the other requests of a
// storm replaying the token, on any node, find it revoked and report
// nothing more (one theft, one event).
func (m *Manager) reused(ctx context.Context, s *Session, client Client, now time.Time) error {
	m.revokeReused(ctx, s, client, now)
	return fmt.Errorf("sessiond: refresh: %w", ErrRefreshReused)
}

// revokeReused revokes s for reuse as reused does, and returns the
// store's failure (logged; the event is then recorded without the
// revocation).
func (m *Manager) revokeReused(ctx context.Context, s *Session, client Client, now time.Time) error {
	e := Event{Type: EventRefreshReused, Subject: s.Subject, SessionID: s.ID, Client: client,
		Details: map[string]any{"issued_to": s.Client}}
	_, _, err := m.revoke(ctx, s.ID, now, ReasonReuse, e)
	if err == nil {
		return nil
	}
	m.emit(ctx, e)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	m.log.ErrorContext(ctx, "revoke after refresh token reuse", "session_id", s.ID, "err", err)
	return err
}

// revokeRetired is RevokeToken of s's refresh token retired outside the
// reuse interval (with reuse detection), s not bound to a key (the caller
// ends nothing of a bound one): what Refresh does with it. client is who
// presented it (a browser's logout), the zero Client when unknown (RFC
// 7009 requests name none). handled false: s has ended already, and
// Refresh would refuse the token as such, without a reuse; the caller
// revokes it as any token's.
func (m *Manager) revokeRetired(ctx context.Context, s *Session, client Client, now time.Time) (handled bool, err error) {
	switch {
	case s.RevokeReason == ReasonRotated:
		_, err := m.reusedAcrossRotation(ctx, s, client, now)
		return true, err
	case s.Check(now) != nil || m.marks.revoked(s.Subject, s.CreatedAt):
		return false, nil
	}
	return true, m.revokeReused(ctx, s, client, now)
}
