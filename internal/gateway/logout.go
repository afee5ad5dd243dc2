package gateway

import (
	"mime"
	"net/http"

	"github.com/sessiond/sessiond/httpsession"
)

const maxFormBytes = 8 << 10

// logout is POST <prefix>/logout, behind the CSRF checks: it revokes the
// session, expires every sessiond cookie (Max-Age=0) and sends
// Clear-Site-Data: "cookies", "storage". A form post with a return_to
// field (or query parameter) is answered 303 to it; anything else 204.
// A return_to that is not a same-origin path is refused (400) before
// anything is revoked.
func (g *Gateway) logout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		methodNotAllowed(w, http.MethodPost)
		return
	}
	mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	form := mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data"
	var values []string
	if form {
		r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
		var err error
		if mt == "multipart/form-data" {
			err = r.ParseMultipartForm(maxFormBytes)
		} else {
			err = r.ParseForm()
		}
		if err != nil {
			httpsession.WriteProblem(w, http.StatusBadRequest, "invalid_request", "Bad request", "the form could not be read")
			return
		}
		values = r.Form["return_to"] // body and query
	} else {
		values = r.URL.Query()["return_to"]
	}
	returnTo, ok := g.returnToParam(w, values, "")
	if !ok {
		return
	}
	if err := g.s.Logout(w, r); err != nil {
		g.log.ErrorContext(r.Context(), "gateway: logout", "err", err)
		httpsession.WriteProblem(w, http.StatusServiceUnavailable, "store_unavailable", "Service unavailable", "the session could not be revoked; retry later")
		return
	}
	if returnTo != "" && (form || r.Header.Get("Sec-Fetch-Mode") == "navigate") {
		w.Header().Set("Location", returnTo)
		w.WriteHeader(http.StatusSeeOther)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
