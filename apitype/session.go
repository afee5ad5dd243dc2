package apitype

import (
	"encoding/json"
	"time"

	"github.com/sessiond/sessiond"
)

// Session is a session as the API shows it: in token responses, verify
// answers and session listings.
type Session struct {
	ID            sessiond.SessionID `json:"id"`
	Subject       string             `json:"subject"`
	Strategy      sessiond.Strategy  `json:"strategy"`
	CreatedAt     time.Time          `json:"created_at"`
	LastActiveAt  time.Time          `json:"last_active_at"`
	IdleExpiresAt time.Time          `json:"idle_expires_at"`
	ExpiresAt     time.Time          `json:"expires_at"`
	Persistent    bool               `json:"persistent"`
	Client        sessiond.Client    `json:"client"`
	Claims        json.RawMessage    `json:"claims"` // a JSON object, {} when none
	// DeviceBound: the session is bound to a key the browser keeps on the
	// device (DBSC); its cookie alone does not authenticate.
	DeviceBound bool `json:"device_bound"`
}

// emptyObject is what Claims holds for a session without custom claims.
var emptyObject = json.RawMessage(`{}`)

// SessionOf returns s as the API shows it, times in UTC.
func SessionOf(s *sessiond.Session) Session {
	claims := s.Claims
	if len(claims) == 0 {
		claims = emptyObject
	}
	return Session{
		ID: s.ID, Subject: s.Subject, Strategy: s.Strategy,
		CreatedAt: s.CreatedAt.UTC(), LastActiveAt: s.LastActiveAt.UTC(),
		IdleExpiresAt: s.IdleExpiresAt.UTC(), ExpiresAt: s.ExpiresAt.UTC(),
		Persistent: s.Persistent, Client: s.Client, Claims: claims,
		DeviceBound: s.DeviceBound(),
	}
}

// HandoffRequest are the members of POST /v1/sessions that hand the new
// session to a browser through the gateway (gateway.enabled): LoginCode
// asks for a single-use code the browser redeems at the gateway's login
// route, which then redirects to ReturnTo (a same-origin relative path,
// only with LoginCode); SetCookie asks for the Set-Cookie values, for a
// backend that sets the cookies itself. LoginCode and SetCookie exclude
// each other.
type HandoffRequest struct {
	LoginCode bool   `json:"login_code,omitempty"`
	ReturnTo  string `json:"return_to,omitempty"`
	SetCookie bool   `json:"set_cookie,omitempty"`
}

// HandoffResponse is what a handoff adds to the token response of POST
// /v1/sessions: the login code and the relative URL that redeems it
// (/sessiond/login?code=…), or the Set-Cookie values. Each carries a
// credential.
type HandoffResponse struct {
	LoginCode string   `json:"login_code,omitempty"`
	LoginURL  string   `json:"login_url,omitempty"`
	SetCookie []string `json:"set_cookie,omitempty"`
}

// DPoPProof is a DPoP proof (RFC 9449) relayed to the session API: the
// proof the end user's client sent the app, with the method (htm) and
// absolute URL (htu) of the client's request it was made for.
// POST /v1/sessions binds the new session to its key; verify and refresh
// of a bound session require one (docs/bound-sessions.md).
type DPoPProof struct {
	Proof string `json:"dpop_proof,omitempty"`
	HTM   string `json:"htm,omitempty"`
	HTU   string `json:"htu,omitempty"`
}

// SessionList is the answer of GET /v1/subjects/{subject}/sessions:
// every live session of the subject without limit, or one page with it
// and, when the walk goes on, the cursor of the next page (absent on the
// last page and without limit).
type SessionList struct {
	Sessions   []Session `json:"sessions"`
	NextCursor string    `json:"next_cursor,omitempty"`
}
