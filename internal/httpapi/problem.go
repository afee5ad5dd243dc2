package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/sessiond/sessiond"
)

// Problem codes: the `code` member of every problem document. They are part
// of the API contract (issue 3), plus session_limit_reached.
const (
	codeInvalidRequest    = "invalid_request"
	codeUnauthorized      = "unauthorized"
	codeInsufficientScope = "insufficient_scope"
	codeTooManyRequests   = "too_many_requests"
	codeNotFound          = "not_found"
	codePayloadTooLarge   = "payload_too_large"
	codeTokenInvalid      = "token_invalid"
	codeTokenExpired      = "token_expired"
	codeSessionRevoked    = "session_revoked"
	codeIdleTimeout       = "idle_timeout"
	codeAbsoluteTimeout   = "absolute_timeout"
	codeRefreshReused     = "refresh_token_reused"
	codeLimitReached      = "session_limit_reached"
	codeStoreUnavailable  = "store_unavailable"
	codeInternal          = "internal"
)

// problemTypeBase + code is the problem's `type` URI.
const problemTypeBase = "https://sessiond.dev/problems/"

// titles are the fixed, human-readable summaries of each code.
var titles = map[string]string{
	codeInvalidRequest:    "Invalid request",
	codeUnauthorized:      "Unauthorized",
	codeInsufficientScope: "Insufficient scope",
	codeTooManyRequests:   "Too many requests",
	codeNotFound:          "Not found",
	codePayloadTooLarge:   "Payload too large",
	codeTokenInvalid:      "Invalid token",
	codeTokenExpired:      "Token expired",
	codeSessionRevoked:    "Session revoked",
	codeIdleTimeout:       "Session idle timeout",
	codeAbsoluteTimeout:   "Session absolute timeout",
	codeRefreshReused:     "Refresh token reused",
	codeLimitReached:      "Session limit reached",
	codeStoreUnavailable:  "Store unavailable",
	codeInternal:          "Internal error",
	codeInvalidDPoPProof:  "Invalid DPoP proof",
	codeUseDPoPNonce:      "DPoP nonce required",
}

// errorTable is the one place that maps the library's errors to a status
// and a problem code. The first match wins, so store_unavailable comes
// first: when the store did not answer, nothing was decided. Details are
// fixed texts: they never quote a token or an internal error.
var errorTable = []struct {
	err    error
	status int
	code   string
	detail string
}{
	{sessiond.ErrStoreUnavailable, http.StatusServiceUnavailable, codeStoreUnavailable, "the session store is unavailable; retry later"},
	{sessiond.ErrInvalidToken, http.StatusUnauthorized, codeTokenInvalid, "the token is not valid"},
	{sessiond.ErrExpired, http.StatusUnauthorized, codeTokenExpired, "the token has expired"},
	{sessiond.ErrRevoked, http.StatusUnauthorized, codeSessionRevoked, "the session was revoked"},
	{sessiond.ErrIdleTimeout, http.StatusUnauthorized, codeIdleTimeout, "the session ended after a period of inactivity"},
	{sessiond.ErrAbsoluteTimeout, http.StatusUnauthorized, codeAbsoluteTimeout, "the session reached its maximum lifetime"},
	{sessiond.ErrRefreshReused, http.StatusUnauthorized, codeRefreshReused, "a refresh token was used twice; the session has been revoked"},
	{sessiond.ErrNotFound, http.StatusNotFound, codeNotFound, "no such session"},
	{sessiond.ErrInvalidArgument, http.StatusBadRequest, codeInvalidRequest, "the request is invalid"},
	{sessiond.ErrUnsupported, http.StatusBadRequest, codeInvalidRequest, "the configured strategy cannot do this"},
	{sessiond.ErrLimitReached, http.StatusConflict, codeLimitReached, "the subject already has the most live sessions allowed"},
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
	return &requestError{status: http.StatusBadRequest, code: codeInvalidRequest, detail: detail}
}

// problem is an RFC 9457 problem document.
type problem struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
	Code   string `json:"code"`
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
	return http.StatusInternalServerError, codeInternal, "the server could not complete the request; the request ID identifies it in the server log"
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
	case http.StatusRequestEntityTooLarge:
		h.Set("Connection", "close") // the rest of the body is not worth reading
	}
	writeJSON(w, status, "application/problem+json", problem{
		Type: problemTypeBase + code, Title: titles[code], Status: status, Detail: detail, Code: code,
	})
}

// oauthError is the RFC 6749 §5.2 error response the /oauth2 routes use.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// writeOAuthError answers an /oauth2 route's failure in RFC 6749 form:
// the code of a requestError (invalid_request, unsupported_token_type;
// 413 as invalid_request), temporarily_unavailable (503 + Retry-After)
// or server_error (500).
func (s *server) writeOAuthError(w http.ResponseWriter, r *http.Request, err error) {
	info := infoFrom(r.Context())
	info.err = err
	status, body := http.StatusInternalServerError, oauthError{Error: "server_error"}
	if re, ok := errors.AsType[*requestError](err); ok {
		status, body = re.status, oauthError{Error: re.code, Description: re.detail}
		if re.code == codePayloadTooLarge {
			body.Error = "invalid_request"
			w.Header().Set("Connection", "close")
		}
	} else if errors.Is(err, sessiond.ErrStoreUnavailable) {
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
		b, _ = json.Marshal(problem{Type: problemTypeBase + codeInternal, Title: titles[codeInternal],
			Status: status, Detail: "the response could not be encoded", Code: codeInternal})
	}
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}
