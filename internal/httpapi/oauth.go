package httpapi

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sessiond/sessiond"
)

// formToken returns the required `token` parameter of an /oauth2 request.
func (s *server) formToken(w http.ResponseWriter, r *http.Request) (sessiond.Secret, error) {
	form, err := s.parseForm(w, r)
	if err != nil {
		return "", err
	}
	tok, err := oneValue(form, "token")
	if err != nil {
		return "", err
	}
	if tok == "" {
		return "", badRequest("token: is required")
	}
	// token_type_hint is only a hint (RFC 7009 §2.1): every kind is
	// searched whatever it says, so its value is not used. Given twice it
	// is refused like any parameter (RFC 6749 §3.1): a proxy and sessiond
	// must not read two different requests.
	if _, err := oneValue(form, "token_type_hint"); err != nil {
		return "", err
	}
	return sessiond.Secret(tok), nil
}

// POST /oauth2/revoke (RFC 7009). An unknown, invalid, expired or already
// revoked token answers 200 with an empty body, like a revoked one.
func (s *server) oauthRevoke(w http.ResponseWriter, r *http.Request) error {
	tok, err := s.formToken(w, r)
	if err != nil {
		return err
	}
	if s.m.Strategy() == sessiond.StrategyJWT {
		// RFC 7009 §2.2.1: the server cannot revoke this kind of token.
		// Saying 200 would make the caller believe a live token is dead.
		return &requestError{status: http.StatusBadRequest, code: "unsupported_token_type",
			detail: "the jwt strategy cannot revoke a token before it expires"}
	}
	if err := s.m.RevokeToken(r.Context(), tok); err != nil {
		return err // store unavailable: 503, and the caller must assume the token still works
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusOK)
	return nil
}

// introspection is an RFC 7662 §2.2 response. An inactive token gets
// exactly {"active":false}: every other member is omitted.
type introspection struct {
	Active    bool               `json:"active"`
	TokenType string             `json:"token_type,omitempty"`
	Subject   string             `json:"sub,omitempty"`
	SessionID sessiond.SessionID `json:"sid,omitempty"`
	ExpiresAt int64              `json:"exp,omitempty"`
	IssuedAt  int64              `json:"iat,omitempty"`
	// Cnf names the DPoP key a bound token is good with only (RFC 9449
	// §6.2): a resource server that introspects must check the request's
	// proof against it.
	Cnf *confirmation `json:"cnf,omitempty"`
}

// confirmation is RFC 7800's cnf with RFC 9449's member.
type confirmation struct {
	JKT string `json:"jkt"`
}

// tokenErrors are the Verify failures that make a token inactive.
var tokenErrors = []error{
	sessiond.ErrInvalidToken, sessiond.ErrExpired, sessiond.ErrRevoked,
	sessiond.ErrIdleTimeout, sessiond.ErrAbsoluteTimeout, sessiond.ErrNotFound,
}

// POST /oauth2/introspect (RFC 7662). Access tokens only: anything that
// does not verify as one, refresh tokens included, is {"active":false}.
func (s *server) oauthIntrospect(w http.ResponseWriter, r *http.Request) error {
	tok, err := s.formToken(w, r)
	if err != nil {
		return err
	}
	// A device-bound (DBSC) session's token authenticates only with the
	// bound cookie its browser's key keeps fresh, which no resource server
	// sees: presented alone it is a copied cookie. Checked before the
	// session's activity is recorded, so introspecting a copy keeps no
	// idle session alive.
	//
	// A DPoP-bound session's token is answered (the resource server checks
	// the proof against cnf.jkt afterwards, RFC 9449 §6.2), but records no
	// activity: a copied token without its key must not keep the owner's
	// idle session alive either.
	var refused *sessiond.Session
	v, err := s.m.InspectChecked(r.Context(), tok, sessiond.Client{}, func(sess *sessiond.Session) error {
		if _, bound := sess.DeviceBinding(); bound {
			refused = sess
			return errDeviceBoundBearer
		}
		if sess.KeyThumbprint() != "" {
			return sessiond.SkipActivity
		}
		return nil
	})
	sess := v.Session
	if errors.Is(err, errDeviceBoundBearer) {
		infoFrom(r.Context()).err = err
		// The infostealer signal DBSC exists for, as the gateway records it.
		s.m.Record(r.Context(), sessiond.Event{Type: sessiond.EventDeviceProofRefused,
			Subject: refused.Subject, SessionID: refused.ID,
			Details: map[string]any{"stage": "request", "reason": "introspected without its bound cookie"}})
		writeJSON(w, http.StatusOK, "application/json", introspection{Active: false})
		return nil
	}
	if err != nil {
		for _, target := range tokenErrors {
			if errors.Is(err, target) {
				infoFrom(r.Context()).err = err // why it is inactive, for the log only
				writeJSON(w, http.StatusOK, "application/json", introspection{Active: false})
				return nil
			}
		}
		return err // store unavailable: the answer is unknown, not "inactive"
	}
	iat, exp := s.accessTimes(&sess)
	if !s.m.Now().Before(exp) {
		// Inside jwt.leeway, which is for other clocks: this answer is
		// read by this server's, and "active" with a past exp is neither
		// (RFC 7662 §2.2).
		infoFrom(r.Context()).err = sessiond.ErrExpired
		writeJSON(w, http.StatusOK, "application/json", introspection{Active: false})
		return nil
	}
	out := introspection{
		Active: true, TokenType: "Bearer", Subject: sess.Subject, SessionID: sess.ID,
		ExpiresAt: exp.Unix(), IssuedAt: iat.Unix(),
	}
	if jkt := sess.KeyThumbprint(); jkt != "" {
		// RFC 7662's token_type is the RFC 6749 §5.1 access token type,
		// and a bound token is of RFC 9449's type: sent as Bearer it
		// fails.
		out.TokenType = "DPoP"
		out.Cnf = &confirmation{JKT: jkt}
	}
	writeJSON(w, http.StatusOK, "application/json", out)
	return nil
}

// accessTimes returns when the verified access token of sess was issued
// and when it stops verifying, from the lifecycle formulas of
// docs/lifecycle.md. Database: the token is the session's, issued at
// creation, good while the session lives (min of idle and absolute
// expiry). JWT and hybrid: Verify rebuilds LastActiveAt from the token's
// iat, and the token expires at min(iat + access, absolute expiry).
func (s *server) accessTimes(sess *sessiond.Session) (iat, exp time.Time) {
	exp = sess.ExpiresAt
	if sess.IdleExpiresAt.Before(exp) {
		exp = sess.IdleExpiresAt
	}
	if sess.Strategy == sessiond.StrategyDatabase {
		return sess.CreatedAt, exp
	}
	if at := sess.LastActiveAt.Add(s.m.Lifetimes().Access); at.Before(exp) {
		exp = at
	}
	return sess.LastActiveAt, exp
}

// errDeviceBoundBearer: why a device-bound session's token is inactive to
// introspection (for the log). It matches ErrInvalidToken, so that the
// verify metric counts a refused token (token_invalid), not a server
// error; the Manager raises no unknown-token event for a check's refusal.
var errDeviceBoundBearer = fmt.Errorf("%w: the session is device-bound: its token alone does not authenticate", sessiond.ErrInvalidToken)
