package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
)

// errorTable is the one place that maps the library's errors to a status
// and a problem code. The first match wins, so store_unavailable comes
// first: when the store did not answer, nothing was decided. A conflict
// that reaches a route is a store that gave up on a lost race (PostgreSQL's
// lock_timeout, a serialization failure or deadlock, a set that kept
// changing): nothing changed and the same request may succeed, so it is
// answered as the store to retry, not as a fault. Details are fixed texts:
// they never quote a token or an internal error.
var errorTable = []struct {
	err    error
	status int
	code   string
	detail string
}{
	{sessiond.ErrStoreUnavailable, http.StatusServiceUnavailable, apitype.CodeStoreUnavailable, "the session store is unavailable; retry later"},
	{sessiond.ErrConflict, http.StatusServiceUnavailable, apitype.CodeStoreUnavailable, "the session store gave up on concurrent changes; retry"},
	{sessiond.ErrRateLimited, http.StatusTooManyRequests, apitype.CodeTooManyRequests, "too many failed refreshes; retry later"},
	{sessiond.ErrInvalidToken, http.StatusUnauthorized, apitype.CodeTokenInvalid, "the token is not valid"},
	{sessiond.ErrExpired, http.StatusUnauthorized, apitype.CodeTokenExpired, "the token has expired"},
	{sessiond.ErrRevoked, http.StatusUnauthorized, apitype.CodeSessionRevoked, "the session was revoked"},
	{sessiond.ErrIdleTimeout, http.StatusUnauthorized, apitype.CodeIdleTimeout, "the session ended after a period of inactivity"},
	{sessiond.ErrAbsoluteTimeout, http.StatusUnauthorized, apitype.CodeAbsoluteTimeout, "the session reached its maximum lifetime"},
	{sessiond.ErrRefreshReused, http.StatusUnauthorized, apitype.CodeRefreshReused, "a refresh token was used twice; the session has been revoked"},
	{sessiond.ErrNotFound, http.StatusNotFound, apitype.CodeNotFound, "no such session"},
	{sessiond.ErrInvalidArgument, http.StatusBadRequest, apitype.CodeInvalidRequest, "the request is invalid"},
	{sessiond.ErrUnsupported, http.StatusBadRequest, apitype.CodeInvalidRequest, "the configured strategy cannot do this"},
	{sessiond.ErrLimitReached, http.StatusConflict, apitype.CodeLimitReached, "the subject already has the most live sessions allowed"},
	{sessiond.ErrIdempotencyKeyReused, http.StatusUnprocessableEntity, apitype.CodeIdempotencyKeyReused, "the Idempotency-Key was sent with another login; use a new key for a new login"},
	{sessiond.ErrLoginSuperseded, http.StatusConflict, apitype.CodeIdempotencyKeySuperseded, "a later login with this Idempotency-Key was stored first; its session stands and this login stored nothing"},
}

// requestError is an error the handler itself decides on (bad input, no
// route, no API key); its detail is safe to show.
type requestError struct {
	status int
	code   string
	detail string
	cause  error // for the log only
}

func (e *requestError) Error() string {
	if e.cause != nil {
		return e.detail + ": " + e.cause.Error()
	}
	return e.detail
}

func (e *requestError) Unwrap() error { return e.cause }

func badRequest(detail string) error {
	return &requestError{status: http.StatusBadRequest, code: apitype.CodeInvalidRequest, detail: detail}
}

// notFound is the 404 problem of a route whose feature this server does
// not offer.
func notFound(detail string) error {
	return &requestError{status: http.StatusNotFound, code: apitype.CodeNotFound, detail: detail}
}

// problemFor maps err to its status, code and detail through errorTable.
func (s *server) problemFor(err error) (status int, code, detail string) {
	if re, ok := errors.AsType[*requestError](err); ok {
		return re.status, re.code, re.detail
	}
	for _, e := range errorTable {
		if !errors.Is(err, e.err) {
			continue
		}
		detail = e.detail
		switch e.err {
		case sessiond.ErrInvalidArgument:
			if ae, ok := errors.AsType[*sessiond.ArgumentError](err); ok {
				detail = ae.Error() // names the field; never echoes the value
			}
		case sessiond.ErrUnsupported:
			detail = fmt.Sprintf("the %s strategy cannot do this", s.m.Strategy())
		}
		return e.status, e.code, detail
	}
	return http.StatusInternalServerError, apitype.CodeInternal, "the server could not complete the request; the request ID identifies it in the server log"
}

// writeError answers with the problem document for err and notes the code
// and cause for the request log.
func (s *server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	status, code, detail := s.problemFor(err)
	info := infoFrom(r.Context())
	info.code, info.err = code, err
	h := w.Header()
	switch status {
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", "1")
	case http.StatusTooManyRequests:
		setRetryAfter(h, err)
		if _, ok := errors.AsType[*sessiond.RateLimitError](err); ok {
			// A refused proof's challenge, set while it was checked, names
			// the reason the limit no longer tells.
			h.Del("WWW-Authenticate")
		}
	case http.StatusRequestEntityTooLarge:
		h.Set("Connection", "close") // the rest of the body is not worth reading
	}
	p := apitype.Problem{Type: apitype.ProblemTypeBase + code, Title: apitype.Title(code), Status: status, Detail: detail, Code: code}
	if rp, ok := errors.AsType[*revokedPartly](err); ok {
		p.Revoked = rp.n
	}
	if re, ok := errors.AsType[*sessiond.RevokeMatchingError](err); ok {
		p.IssuedBefore = re.IssuedBefore.UTC()
	}
	writeJSON(w, status, "application/problem+json", p)
}

// revokedPartly is the error of a revocation that failed after it had
// revoked n sessions (n > 0), which stay revoked: its problem carries n as
// the revoked member, so that the operator learns what was done and not
// only that it failed.
type revokedPartly struct {
	n   int
	err error
}

func (e *revokedPartly) Error() string {
	return fmt.Sprintf("%v (%d sessions revoked before the failure)", e.err, e.n)
}
func (e *revokedPartly) Unwrap() error { return e.err }

// failedAfter is err, of a revocation that had revoked n sessions, as a
// *revokedPartly when n > 0.
func failedAfter(n int, err error) error {
	if n <= 0 {
		return err
	}
	return &revokedPartly{n: n, err: err}
}

// oauthError is the RFC 6749 §5.2 error response the /oauth2 routes use.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// writeOAuthError answers an /oauth2 route's failure in RFC 6749 form:
// the code of a requestError (invalid_request, unsupported_token_type;
// 413 as invalid_request), temporarily_unavailable (503 + Retry-After:
// the store did not answer, or gave up on a lost race, as errorTable says)
// or server_error (500).
func (s *server) writeOAuthError(w http.ResponseWriter, r *http.Request, err error) {
	info := infoFrom(r.Context())
	info.err = err
	status, body := http.StatusInternalServerError, oauthError{Error: "server_error"}
	if re, ok := errors.AsType[*requestError](err); ok {
		status, body = re.status, oauthError{Error: re.code, Description: re.detail}
		if re.code == apitype.CodePayloadTooLarge {
			body.Error = "invalid_request"
			w.Header().Set("Connection", "close")
		}
	} else if errors.Is(err, sessiond.ErrStoreUnavailable) || errors.Is(err, sessiond.ErrConflict) {
		status, body = http.StatusServiceUnavailable, oauthError{Error: "temporarily_unavailable"}
		w.Header().Set("Retry-After", "1")
	}
	info.code = body.Error
	writeJSON(w, status, "application/json", body)
}

// writeJSON writes v as the whole response. It encodes before writing, so
// a failure still leaves room for an error reply.
func writeJSON(w http.ResponseWriter, status int, contentType string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only a programming error gets here: every value is a plain struct.
		status, contentType = http.StatusInternalServerError, "application/problem+json"
		b, _ = json.Marshal(apitype.Problem{Type: apitype.ProblemTypeBase + apitype.CodeInternal, Title: apitype.Title(apitype.CodeInternal),
			Status: status, Detail: "the response could not be encoded", Code: apitype.CodeInternal})
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// setRetryAfter sets Retry-After from a *sessiond.RateLimitError in err,
// unless a limit of this package already set it.
func setRetryAfter(h http.Header, err error) {
	if h.Get("Retry-After") != "" {
		return
	}
	secs := 1
	if rl, ok := errors.AsType[*sessiond.RateLimitError](err); ok {
		secs = max(int(rl.RetryAfter/time.Second), 1)
	}
	h.Set("Retry-After", strconv.Itoa(secs))
}
