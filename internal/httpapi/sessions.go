package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
)

// The wire types below are the contract of issue 3; their JSON names must
// not change. Times are encoded by time.Time as RFC 3339 in UTC with
// fractional seconds when non-zero (time.RFC3339Nano), e.g.
// "2030-01-02T03:04:05.123456Z".

// tokenJSON is a token response. The tokens are strings here, converted
// from sessiond.Secret on purpose: a Secret marshals as "REDACTED".
type tokenJSON struct {
	Session              apitype.Session `json:"session"`
	AccessToken          string          `json:"access_token"`
	AccessTokenExpiresAt time.Time       `json:"access_token_expires_at"`
	// ExpiresIn is AccessTokenExpiresAt as whole seconds from the answer
	// on (RFC 6749 §5.1), rounded down: a device whose clock is off cannot
	// compare an instant with its clock, but can count seconds.
	ExpiresIn             int64      `json:"expires_in"`
	RefreshToken          *string    `json:"refresh_token"`            // null when the strategy has none
	RefreshTokenExpiresAt *time.Time `json:"refresh_token_expires_at"` // null with it
	TokenType             string     `json:"token_type"`
}

// writeTokens answers with the tokens of iss, uncacheable (RFC 6749 §5.1);
// now is the server's time of the answer.
func writeTokens(w http.ResponseWriter, status int, iss *sessiond.Issued, now time.Time) {
	out := tokenResponse(iss, now)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, status, "application/json", out)
}

func tokenResponse(iss *sessiond.Issued, now time.Time) tokenJSON {
	out := tokenJSON{
		Session:              apitype.SessionOf(&iss.Session),
		AccessToken:          string(iss.AccessToken),
		AccessTokenExpiresAt: iss.AccessExpiresAt.UTC(),
		ExpiresIn:            sessiond.ExpiresIn(iss.AccessExpiresAt, now),
		TokenType:            iss.TokenType(),
	}
	if iss.RefreshToken != "" {
		rt, exp := string(iss.RefreshToken), iss.RefreshExpiresAt.UTC()
		out.RefreshToken, out.RefreshTokenExpiresAt = &rt, &exp
	}
	return out
}

type createRequest struct {
	Subject    string          `json:"subject"`
	Claims     json.RawMessage `json:"claims"`
	Persistent bool            `json:"persistent"`
	Client     sessiond.Client `json:"client"`
	handoffRequest
	dpopBinding
}

// POST /v1/sessions
func (s *server) createSession(w http.ResponseWriter, r *http.Request) error {
	var req createRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	subject, err := cleanSubject("subject", req.Subject)
	if err != nil {
		return err
	}
	req.Subject = subject
	if err := s.checkHandoff(&req.handoffRequest); err != nil {
		return err
	}
	retry, err := loginRetry(r, &req.handoffRequest)
	if err != nil {
		return err
	}
	jkt, err := s.bindKey(r.Context(), w, &req.dpopBinding)
	if err != nil {
		return err
	}
	iss, err := s.m.Create(r.Context(), req.Subject, sessiond.CreateOptions{
		Claims: compact(req.Claims), Persistent: req.Persistent, Client: sessiond.Client(req.Client),
		KeyThumbprint: jkt, Retry: retry,
	})
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/v1/sessions/"+string(iss.Session.ID))
	if handoffWanted(&req.handoffRequest) {
		return s.writeHandoff(w, r, &req.handoffRequest, iss)
	}
	writeTokens(w, http.StatusCreated, iss, s.clock.Now())
	return nil
}

// compact drops insignificant whitespace from claims, so the size limit
// counts content. The decoder has checked the JSON already.
func compact(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return nil
	}
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return raw
	}
	return b.Bytes()
}

type verifyRequest struct {
	AccessToken sessiond.Secret `json:"access_token"`
	Client      sessiond.Client `json:"client"`
	dpopProof
}

type verifyResponse struct {
	Active  bool            `json:"active"`
	Session apitype.Session `json:"session"`
	// Present only when the anomaly rules found something.
	Anomalies      []sessiond.Anomaly `json:"anomalies,omitempty"`
	StepUpRequired bool               `json:"step_up_required,omitempty"`
}

// POST /v1/sessions/verify
func (s *server) verifySession(w http.ResponseWriter, r *http.Request) error {
	var req verifyRequest
	if err := s.decodeVerify(w, r, &req); err != nil {
		return err
	}
	if req.AccessToken == "" {
		return &sessiond.ArgumentError{Field: "access_token", Msg: "is required"}
	}
	client, err := sessiond.CleanClient(sessiond.Client(req.Client))
	if err != nil {
		return err
	}
	// The proof of a key-bound session is checked before the session's
	// activity is recorded: a copied token without the key keeps nothing
	// alive.
	// The check escapes (the Manager calls it through an interface): it
	// captures copies, not req, so req stays on the stack and a verify
	// allocates the closure alone.
	access, proof := req.AccessToken, req.dpopProof
	v, err := s.m.InspectChecked(r.Context(), req.AccessToken, client, func(sess *sessiond.Session) error {
		p := proof
		return s.checkBound(r.Context(), w, sess, access, &p)
	})
	if err != nil {
		return err
	}
	out := apitype.SessionOf(&v.Session)
	if len(v.Anomalies) == 0 && !v.StepUp {
		writeVerified(w, &out) // the hot path, without reflection
		return nil
	}
	writeJSON(w, http.StatusOK, "application/json", verifyResponse{Active: true, Session: out,
		Anomalies: v.Anomalies, StepUpRequired: v.StepUp})
	return nil
}

type refreshRequest struct {
	RefreshToken sessiond.Secret `json:"refresh_token"`
	Client       sessiond.Client `json:"client"`
	dpopProof
}

// POST /v1/sessions/refresh
func (s *server) refreshSession(w http.ResponseWriter, r *http.Request) error {
	var req refreshRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if req.RefreshToken == "" {
		return &sessiond.ArgumentError{Field: "refresh_token", Msg: "is required"}
	}
	if req.Client == (sessiond.Client{}) {
		s.refreshWithoutClient(r)
	}
	client, err := sessiond.CleanClient(sessiond.Client(req.Client))
	if err != nil {
		return err
	}
	iss, err := s.m.RefreshChecked(r.Context(), req.RefreshToken, client, s.refreshCheck(r.Context(), w, &req.dpopProof))
	if err != nil {
		return err
	}
	writeTokens(w, http.StatusOK, iss, s.clock.Now())
	return nil
}

// pathID returns the {id} of the route, or ErrNotFound when it cannot be
// a session ID (checked before any store is asked).
func pathID(r *http.Request) (sessiond.SessionID, error) {
	id := sessiond.SessionID(r.PathValue("id"))
	if !id.Valid() {
		return "", fmt.Errorf("httpapi: session id: %w", sessiond.ErrNotFound)
	}
	return id, nil
}

// POST /v1/sessions/{id}/rotate
func (s *server) rotateSession(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	iss, err := s.m.Rotate(r.Context(), id)
	if err != nil {
		return err
	}
	writeTokens(w, http.StatusOK, iss, s.clock.Now())
	return nil
}

// GET /v1/sessions/{id}
func (s *server) getSession(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	sess, err := s.m.Get(r.Context(), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, "application/json", apitype.SessionOf(&sess))
	return nil
}

// DELETE /v1/sessions/{id}[?reason=logout|admin]: logout, or an
// operator's revocation (reason=admin). Revoking a revoked session succeeds.
func (s *server) revokeSession(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	v, err := oneValue(q, "reason")
	if err != nil {
		return err
	}
	reason := sessiond.ReasonLogout
	switch _, given := q["reason"]; {
	case !given, v == string(sessiond.ReasonLogout):
	case v == string(sessiond.ReasonAdmin):
		reason = sessiond.ReasonAdmin
	default:
		return &sessiond.ArgumentError{Field: "reason", Msg: "must be logout or admin"}
	}
	if err := s.m.Revoke(r.Context(), id, reason); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// GET /v1/subjects/{subject}/sessions[?limit=N[&cursor=C]]: without limit,
// every live session of the subject (Manager.List, as before paging
// existed); with it, one page (Manager.ListPage).
func (s *server) listSessions(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	limit, err := queryLimit(q, 0)
	if err != nil {
		return err
	}
	// An empty cursor is the first page, as a paging loop starts.
	cursor, err := oneValue(q, "cursor")
	if err != nil {
		return err
	}
	switch {
	case cursor != "" && limit == 0:
		// Without limit the answer is every session: a cursor there
		// would be ignored, and a client paging without a limit would
		// read the whole list again and again.
		return badRequest("cursor needs limit")
	case len(cursor) > maxSessionCursor:
		return badRequest("a query parameter is too long")
	}
	subject, err := cleanSubject("subject", r.PathValue("subject"))
	if err != nil {
		return err
	}
	if limit == 0 {
		ss, err := s.m.List(r.Context(), subject)
		if err != nil {
			return err
		}
		out := apitype.SessionList{Sessions: make([]apitype.Session, len(ss))}
		for i := range ss {
			out.Sessions[i] = apitype.SessionOf(&ss[i])
		}
		writeJSON(w, http.StatusOK, "application/json", out)
		return nil
	}
	page, err := s.m.ListPage(r.Context(), subject, sessiond.PageRequest{After: cursor, Limit: limit})
	if ae, ok := errors.AsType[*sessiond.ArgumentError](err); ok && ae.Field == "after" {
		return badRequest("cursor must be the next_cursor of a previous page of this subject's sessions")
	}
	if err != nil {
		return err
	}
	out := apitype.SessionList{Sessions: make([]apitype.Session, len(page.Sessions)), NextCursor: page.Next}
	for i := range page.Sessions {
		out.Sessions[i] = apitype.SessionOf(&page.Sessions[i])
	}
	writeJSON(w, http.StatusOK, "application/json", out)
	return nil
}

// maxSessionCursor bounds the cursor of a session page before it is
// parsed: the server writes at most 52 characters.
const maxSessionCursor = 64

// DELETE /v1/subjects/{subject}/sessions[?except=ID]: an administrative
// revocation (reason admin) of every live session but one.
func (s *server) revokeSubject(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	v, err := oneValue(q, "except")
	if err != nil {
		return err
	}
	except := sessiond.SessionID(v)
	// A mistyped (or empty) ID would match nothing and revoke the
	// caller's own session too: refuse it.
	if _, given := q["except"]; given && !except.Valid() {
		return &sessiond.ArgumentError{Field: "except", Msg: "is not a session ID"}
	}
	subject, err := cleanSubject("subject", r.PathValue("subject"))
	if err != nil {
		return err
	}
	n, err := s.m.RevokeSubject(r.Context(), subject, except, sessiond.ReasonAdmin)
	if errors.Is(err, sessiond.ErrConflict) {
		// The subject's sessions kept changing through every try (a
		// store that must see the same set twice): nothing of that step
		// was revoked (on a store that revokes in batches, those before
		// it were), and trying again is the answer, not a 500.
		return failedAfter(n, &requestError{status: http.StatusServiceUnavailable, code: apitype.CodeStoreUnavailable,
			detail: "the subject's sessions kept changing while they were revoked; retry", cause: err})
	}
	if err != nil {
		return failedAfter(n, err)
	}
	writeJSON(w, http.StatusOK, "application/json", apitype.RevokedCount{Revoked: n})
	return nil
}

// refreshWithoutClient notes a refresh that cannot be checked for a
// device change: counted every time, logged once, so an integration that
// never sends client information is noticed without flooding the log.
func (s *server) refreshWithoutClient(r *http.Request) {
	if s.noClient != nil {
		s.noClient()
	}
	s.noClientOnce.Do(func() {
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "refresh without client information: device-change detection cannot run; send client.ip and client.user_agent",
			slog.String("request_id", infoFrom(r.Context()).id), slog.String("api_key_id", infoFrom(r.Context()).keyID))
	})
}
