package sessiond

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// SkipActivity, returned by the check of InspectChecked, accepts the token
// but records no activity: a caller that can check the rest of the request
// only after the answer (introspection of a DPoP-bound token, RFC 9449
// §6.2) must not keep an idle session alive for a copied token. Like
// fs.SkipDir, it is a signal, never returned to the caller.
var SkipActivity = errors.New("sessiond: valid, record no activity")

// Verify checks an access token and returns its session. Failures match
// ErrInvalidToken, ErrExpired, ErrRevoked, ErrIdleTimeout,
// ErrAbsoluteTimeout or ErrStoreUnavailable (also once the Manager is
// closed).
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
	return m.InspectChecked(ctx, access, client, nil)
}

// InspectChecked is Inspect with check run on the session once the token
// is found valid, before anything is written (the database strategy
// records activity) and before the anomaly rules see the client; an error
// from check is returned as is. A caller that must see more than the token
// (a DPoP proof of a key-bound session, a device-bound cookie) checks it
// here, so a request that fails it keeps no idle session alive; a check
// that returns SkipActivity lets the token verify without that record.
func (m *Manager) InspectChecked(ctx context.Context, access Secret, client Client, check func(*Session) error) (Verification, error) {
	if m.onVerify == nil {
		return m.inspect(ctx, access, client, check)
	}
	// The observer measures real elapsed time for metrics, so it reads the
	// monotonic wall clock, not the injected Clock (a fake one stands still).
	start := time.Now()
	v, err := m.inspect(ctx, access, client, check)
	m.onVerify(err, time.Since(start))
	return v, err
}

func (m *Manager) inspect(ctx context.Context, access Secret, client Client, check func(*Session) error) (Verification, error) {
	if len(access) == 0 || len(access) > MaxTokenBytes {
		return Verification{}, fmt.Errorf("sessiond: verify: %w: empty or oversized", ErrInvalidToken)
	}
	if m.closed.Load() {
		return Verification{}, fmt.Errorf("sessiond: verify: the Manager is closed and follows no revocations: %w", ErrStoreUnavailable)
	}
	now := m.clock.Now()
	got, err := m.flow.verify(ctx, access, now, check)
	s, issuedTo := got.session, got.issuedTo
	if err != nil {
		// A check's refusal (a bound token without its proof or its
		// cookie) may wrap ErrInvalidToken, for the error table and the
		// metrics, but the token is one of a known, live session: no
		// unknown or expired token to report, as at refresh.
		if !got.refused {
			m.noteUnknown(ctx, StageVerify, client, err)
			m.noteExpired(ctx, StageVerify, &s, client, err, now)
		}
		return Verification{}, err
	}
	v := Verification{Session: s}
	if m.anomaly != nil && (client.IP != "" || client.UserAgent != "") {
		if v.Anomalies, v.StepUp, err = m.anomalies(ctx, StageVerify, &v.Session, issuedTo, client); err != nil {
			return Verification{}, err
		}
	}
	// A token a step-up refresh issued asks for it on every verify: in the
	// token strategies the rules that saw the other browser run only at
	// refresh.
	v.StepUp = v.StepUp || got.stepUp
	return v, nil
}
