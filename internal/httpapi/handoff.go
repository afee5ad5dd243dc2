package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
)

// Handoff hands a session created by POST /v1/sessions to a browser, for
// a backend behind the browser gateway (issue 12; internal/gateway
// implements it): a single-use login code the browser redeems at the
// gateway, or the Set-Cookie values the backend relays itself.
type Handoff interface {
	// CheckReturnTo refuses a return_to that is not a same-origin path.
	CheckReturnTo(returnTo string) error
	// NewLoginCode stores iss under a new login code and returns it with
	// the relative URL that redeems it and answers 303 to returnTo.
	NewLoginCode(ctx context.Context, iss *sessiond.Issued, returnTo string) (code sessiond.Secret, loginURL string, err error)
	// SetCookieValues returns the Set-Cookie values of iss.
	SetCookieValues(iss *sessiond.Issued) ([]string, error)
}

// ErrTooManyLoginCodes, wrapped by a Handoff, answers 503: too many codes
// wait to be redeemed.
var ErrTooManyLoginCodes = errors.New("httpapi: too many pending login codes")

// handoffRequest are the members of a create request that ask for a
// browser handoff.
type handoffRequest = apitype.HandoffRequest

// handoffJSON is the token response with what a handoff adds.
type handoffJSON struct {
	tokenJSON
	apitype.HandoffResponse
}

func handoffWanted(h *handoffRequest) bool { return h.LoginCode || h.SetCookie }

// check refuses a handoff request before any session is created.
func (s *server) checkHandoff(h *handoffRequest) error {
	switch {
	case !handoffWanted(h) && h.ReturnTo != "":
		return &sessiond.ArgumentError{Field: "return_to", Msg: "applies only with login_code"}
	case !handoffWanted(h):
		return nil
	case s.handoff == nil:
		field := "login_code"
		if !h.LoginCode {
			field = "set_cookie"
		}
		return &sessiond.ArgumentError{Field: field, Msg: "needs the browser gateway (gateway.enabled: true)"}
	case h.LoginCode && h.SetCookie:
		return &sessiond.ArgumentError{Field: "set_cookie", Msg: "cannot be combined with login_code"}
	case h.SetCookie && h.ReturnTo != "":
		return &sessiond.ArgumentError{Field: "return_to", Msg: "applies only with login_code"}
	case h.ReturnTo != "":
		if err := s.handoff.CheckReturnTo(h.ReturnTo); err != nil {
			return &sessiond.ArgumentError{Field: "return_to", Msg: "must be a same-origin relative path such as /orders"}
		}
	}
	return nil
}

// writeHandoff answers a create request that asked for a handoff: the
// token response plus login_code and login_url, or plus set_cookie. If
// the handoff fails the new session is revoked, so none is left that
// nobody can use.
func (s *server) writeHandoff(w http.ResponseWriter, r *http.Request, h *handoffRequest, iss *sessiond.Issued) error {
	var out handoffJSON
	var err error
	if h.LoginCode {
		var code sessiond.Secret
		code, out.LoginURL, err = s.handoff.NewLoginCode(r.Context(), iss, h.ReturnTo)
		out.LoginCode = string(code)
	} else {
		out.SetCookie, err = s.handoff.SetCookieValues(iss)
	}
	if err != nil {
		if rerr := s.m.Revoke(r.Context(), iss.Session.ID, sessiond.ReasonRotated); rerr != nil && !errors.Is(rerr, sessiond.ErrUnsupported) {
			s.log.WarnContext(r.Context(), "httpapi: revoke a session whose handoff failed", "session_id", iss.Session.ID, "err", rerr)
		}
		if errors.Is(err, ErrTooManyLoginCodes) {
			return &requestError{status: http.StatusServiceUnavailable, code: apitype.CodeStoreUnavailable,
				detail: "too many login codes wait to be redeemed; retry later", cause: err}
		}
		return err
	}
	out.tokenJSON = tokenResponse(iss, s.clock.Now())
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusCreated, "application/json", out)
	return nil
}
