package sessiond

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Device binding (DBSC, W3C Device Bound Session Credentials): a browser
// session may be bound to a key pair the browser keeps on the device. The
// binding lives in the session's Claims as {"dbsc":{"id":…,"jkt":…,"jwk":…}}
// like the DPoP binding (keybinding.go), so every store keeps it without a
// schema change and it survives Rotate. It is a separate claim from cnf.jkt:
// a DBSC-bound session is proven by its short-lived bound cookie, not by a
// DPoP proof on every request.

// Events of device-bound sessions (httpsession's DBSC endpoints).
const (
	// EventDeviceBound: a session was bound to a device key (DBSC
	// registration); details: device_session_id, key_thumbprint, alg,
	// previous_session_id.
	EventDeviceBound EventType = "session.device_bound"
	// EventDeviceRefreshed: a bound session proved possession of its key and
	// got a new bound cookie (DBSC refresh).
	EventDeviceRefreshed EventType = "session.device_refreshed"
	// EventDeviceProofRefused: a DBSC registration or refresh proof was
	// refused, or a bound session was used without its bound cookie;
	// details: stage (registration, refresh, request) and reason.
	EventDeviceProofRefused EventType = "session.device_proof_refused"
)

// DeviceBinding names the device key a session is bound to.
type DeviceBinding struct {
	// ID is the DBSC session identifier the browser sends back in
	// Sec-Secure-Session-Id; it stays the same when the session rotates.
	ID string `json:"id"`
	// JKT is the RFC 7638 SHA-256 thumbprint of the key, base64url.
	JKT string `json:"jkt"`
	// JWK is the public key as a JSON Web Key: refresh proofs carry no key,
	// so the server keeps it to check them.
	JWK json.RawMessage `json:"jwk"`
}

// maxDeviceKeyBytes bounds the stored public key (an RSA-4096 JWK is under
// 800 bytes).
const maxDeviceKeyBytes = 1024

// DeviceBinding returns the device key the session is bound to, and false
// when it is not bound. Unbound sessions pay one bytes.Contains.
func (s *Session) DeviceBinding() (DeviceBinding, bool) {
	if len(s.Claims) == 0 || !bytes.Contains(s.Claims, []byte(`"dbsc"`)) {
		return DeviceBinding{}, false
	}
	var c struct {
		DBSC *DeviceBinding `json:"dbsc"`
	}
	if json.Unmarshal(s.Claims, &c) != nil || c.DBSC == nil || c.DBSC.ID == "" || c.DBSC.JKT == "" {
		return DeviceBinding{}, false
	}
	return *c.DBSC, true
}

// DeviceBound reports whether the session is bound to a device key.
func (s *Session) DeviceBound() bool {
	_, ok := s.DeviceBinding()
	return ok
}

func (b DeviceBinding) check() error {
	if b.ID == "" || len(b.ID) > 64 {
		return argError("device_binding.id", "must be 1 to 64 characters")
	}
	for i := 0; i < len(b.ID); i++ {
		c := b.ID[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return argError("device_binding.id", "must be base64url characters")
		}
	}
	if err := checkThumbprint(b.JKT); err != nil {
		return err
	}
	if len(b.JWK) == 0 || len(b.JWK) > maxDeviceKeyBytes || !json.Valid(b.JWK) || b.JWK[0] != '{' {
		return argError("device_binding.jwk", "must be a JSON object of at most %d bytes", maxDeviceKeyBytes)
	}
	return nil
}

// BindDevice replaces the live session id with a new one bound to the
// device key b (new ID and tokens, same subject, claims and expiry, like
// Rotate) and revokes the old one: the cookies that carried the unbound
// session stop working, and the new ones need the bound cookie. It fails
// with ErrConflict when the session is already bound to a device, and
// with ErrUnsupported in the jwt strategy, which keeps no sessions.
func (m *Manager) BindDevice(ctx context.Context, id SessionID, b DeviceBinding) (*Issued, error) {
	if err := m.needSessions("bind device"); err != nil {
		return nil, err
	}
	if err := b.check(); err != nil {
		return nil, err
	}
	old, err := m.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("sessiond: bind device: %w", err)
	}
	if old.DeviceBound() {
		return nil, fmt.Errorf("sessiond: bind device: session already bound to a device: %w", ErrConflict)
	}
	obj := map[string]json.RawMessage{}
	if len(old.Claims) > 0 {
		if err := json.Unmarshal(old.Claims, &obj); err != nil {
			return nil, fmt.Errorf("sessiond: bind device: stored claims: %w", err)
		}
	}
	enc, err := json.Marshal(b)
	if err != nil {
		return nil, fmt.Errorf("sessiond: bind device: %w", err)
	}
	obj["dbsc"] = enc
	claims, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("sessiond: bind device: %w", err)
	}
	if len(claims) > MaxClaimsBytes {
		return nil, argError("claims", "are %d bytes with the device binding, over the limit of %d", len(claims), MaxClaimsBytes)
	}
	iss, err := m.rotate(ctx, old, claims, false)
	if err != nil {
		return nil, err
	}
	m.emit(ctx, Event{Type: EventDeviceBound, Subject: iss.Session.Subject, SessionID: iss.Session.ID, Client: iss.Session.Client,
		Details: map[string]any{"device_session_id": b.ID, "key_thumbprint": b.JKT, "previous_session_id": string(old.ID)}})
	return iss, nil
}

// SessionOf returns the live stored session a token belongs to: an opaque
// token, or an access JWT whose signature is good even if it has expired
// (a browser's access cookie outlives its JWT). ErrNotFound for an unknown,
// invalid, revoked or ended one; ErrUnsupported in the jwt strategy.
func (m *Manager) SessionOf(ctx context.Context, tok Secret) (Session, error) {
	if err := m.needSessions("session of"); err != nil {
		return Session{}, err
	}
	if len(tok) == 0 || len(tok) > MaxTokenBytes {
		return Session{}, fmt.Errorf("sessiond: session of: %w", ErrNotFound)
	}
	id, err := m.flow.sessionOf(ctx, tok, m.clock.Now())
	if err != nil {
		return Session{}, fmt.Errorf("sessiond: session of: %w", err)
	}
	if id == "" {
		return Session{}, fmt.Errorf("sessiond: session of: %w", ErrNotFound)
	}
	return m.Get(ctx, id)
}

// SessionIDOf names the session tok belongs to, as SessionOf does, without
// reading the session: for a signed access token (expired ones too) the
// token says it, for an opaque one its hash is looked up. ErrNotFound when
// it names none, or in the jwt strategy, which keeps no sessions.
func (m *Manager) SessionIDOf(ctx context.Context, tok Secret) (SessionID, error) {
	if len(tok) == 0 || len(tok) > MaxTokenBytes {
		return "", fmt.Errorf("sessiond: session of: %w", ErrNotFound)
	}
	id, err := m.flow.sessionOf(ctx, tok, m.clock.Now())
	if err != nil {
		return "", fmt.Errorf("sessiond: session of: %w", err)
	}
	if id == "" {
		return "", fmt.Errorf("sessiond: session of: %w", ErrNotFound)
	}
	return id, nil
}

// Bounds on EventDeviceProofRefused, per node: whoever holds a bound
// session's cookies without its key (or a user, with their own session) is
// refused on every request, and each refusal would otherwise be a WARN
// line, an event and a webhook delivery. One event a minute per session
// (or client address, when there is none) and stage, at most
// proofRefusedMax a minute per stage in all; every refusal is still
// answered as before.
const (
	proofRefusedWindow = time.Minute
	proofRefusedPerKey = 1
	proofRefusedMax    = 60
)

// Record hands an event produced outside the Manager (httpsession's DBSC
// endpoints, the API's introspection) to the Manager's log and EventSink,
// stamped with the Manager's clock. Like the Manager's own events, a sink
// that fails is logged, never returned. EventDeviceProofRefused is
// recorded within the bounds above, and each one is told to
// Options.DeviceProofRefusedObserver; the rest are recorded always.
func (m *Manager) Record(ctx context.Context, e Event) {
	if e.Type == EventDeviceProofRefused {
		stage, _ := e.Details["stage"].(string)
		if m.onProofRefused != nil {
			m.onProofRefused(stage)
		}
		key := "session " + string(e.SessionID)
		if e.SessionID == "" {
			key = "client " + addrKey(e.Client.IP)
		}
		if !m.proofRefused.allow(stage, key, m.clock.Now()) {
			return
		}
	}
	m.emit(ctx, e)
}
