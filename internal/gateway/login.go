package gateway

import (
	"errors"
	"net/http"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
)

// exchange is GET <prefix>/login?code=…: it redeems a login code (once,
// within CodeLifetime), sets the session's cookies, revoking any session
// the browser carried, and answers 303 to the code's return_to.
//
// A code in a link from another site would log the victim into the
// attacker's account (login CSRF), so the request must come from this
// origin (Sec-Fetch-Site same-origin, or none for a URL the user opened
// directly); the app's login form redirects here from its own origin.
func (g *Gateway) exchange(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		methodNotAllowed(w, http.MethodGet)
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	switch site := r.Header.Get("Sec-Fetch-Site"); site {
	case "", "same-origin", "none":
	default:
		g.log.InfoContext(r.Context(), "gateway: cross-site login code refused", "sec_fetch_site", site)
		httpsession.WriteProblem(w, http.StatusForbidden, "cross_origin_refused", "Forbidden", "a login code is accepted only from this origin")
		return
	}
	codes := r.URL.Query()["code"]
	if len(codes) != 1 {
		httpsession.WriteProblem(w, http.StatusBadRequest, "invalid_login_code", "Bad request", "exactly one code is required")
		return
	}
	p, err := g.codes.redeem(r.Context(), codes[0])
	if err != nil {
		if errors.Is(err, ErrInvalidCode) {
			g.log.InfoContext(r.Context(), "gateway: login code refused", "err", err)
			if retry := g.overLimit(r); retry > 0 {
				tooMany(w, retry)
				return
			}
			httpsession.WriteProblem(w, http.StatusBadRequest, "invalid_login_code", "Bad request", "the login code is invalid, used or expired")
			return
		}
		g.log.ErrorContext(r.Context(), "gateway: redeem login code", "err", err)
		httpsession.WriteProblem(w, http.StatusServiceUnavailable, "store_unavailable", "Service unavailable", "the login could not be completed; retry")
		return
	}
	iss := &sessiond.Issued{
		Session:     p.Session,
		AccessToken: sessiond.Secret(p.AccessToken), AccessExpiresAt: p.AccessExpiresAt,
		RefreshToken: sessiond.Secret(p.RefreshToken), RefreshExpiresAt: p.RefreshExpiresAt,
	}
	// The session may have ended since the code was issued (revoked by an
	// admin, evicted by the session limit): never install a dead one. An
	// access token that merely expired in the meantime is fine.
	if _, err := g.s.Manager().Verify(r.Context(), iss.AccessToken, sessiond.Client{}); err != nil && !errors.Is(err, sessiond.ErrExpired) {
		if httpsession.StoreFailure(err) {
			g.log.ErrorContext(r.Context(), "gateway: login code: verify", "err", err)
			httpsession.WriteProblem(w, http.StatusServiceUnavailable, "store_unavailable", "Service unavailable", "the login could not be completed; retry")
			return
		}
		g.log.InfoContext(r.Context(), "gateway: login code for an ended session", "session_id", iss.Session.ID, "err", err)
		httpsession.WriteProblem(w, http.StatusBadRequest, "invalid_login_code", "Bad request", "the login code is invalid, used or expired")
		return
	}
	// Cookie lifetimes count from now, not from when the code was issued.
	iss.Session.LastActiveAt = g.codes.clock.Now().UTC()
	if err := g.s.LoginIssued(w, r, iss); err != nil {
		g.log.ErrorContext(r.Context(), "gateway: login code: set cookies", "err", err)
		status, code := http.StatusInternalServerError, "internal"
		if httpsession.StoreFailure(err) {
			status, code = http.StatusServiceUnavailable, "store_unavailable"
		}
		httpsession.WriteProblem(w, status, code, "Login failed", "the session could not be started; log in again")
		return
	}
	g.log.InfoContext(r.Context(), "gateway: login code redeemed", "session_id", iss.Session.ID)
	w.Header().Set("Location", p.ReturnTo)
	w.WriteHeader(http.StatusSeeOther)
}
