package console

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/ratelimit"
)

// subjectPrefix marks the console session's subject: the ID (never the
// secret) of the API key that signed in.
const subjectPrefix = "apikey:"

// toSignIn answers a request without a usable console session: back to the
// sign-in page, whatever the method (htmx follows HX-Redirect).
func toSignIn(w http.ResponseWriter, r *http.Request, _ error) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Redirect", Prefix+"/signin")
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, Prefix+"/signin", http.StatusSeeOther)
}

// operator lets a request through with a live console session whose API
// key is still unrevoked and admin-scoped; the key is handed to h.
func (c *Console) operator(h func(http.ResponseWriter, *http.Request, apikey.Key)) http.Handler {
	return c.sessions.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, _ := sessiond.FromContext(r.Context())
		id, ok := strings.CutPrefix(sess.Subject, subjectPrefix)
		key, err := c.o.Keys.Get(r.Context(), id)
		if !ok || err != nil || !key.RevokedAt.IsZero() || !key.Allows(apikey.ScopeAdmin) {
			if err == nil {
				err = errNotOperator
			}
			c.log.InfoContext(r.Context(), "console: session ended: API key no longer admin", "key_id", id, "err", err)
			_ = c.sessions.Logout(w, r)
			toSignIn(w, r, err)
			return
		}
		// Every event this request causes names the key, as the API's do.
		h(w, r.WithContext(httpapi.WithActingKey(r.Context(), key.ID)), key)
	}))
}

// stillOperator reports whether the console session sid, signed in with
// the key keyID, may still act: the session is live (not signed out, not
// idle or past its absolute end) and the key is neither revoked nor short
// of the admin scope. A request that outlives its start (the live tail)
// asks again as it goes.
func (c *Console) stillOperator(ctx context.Context, sid sessiond.SessionID, keyID string) bool {
	if _, err := c.own.Get(ctx, sid); err != nil {
		return false
	}
	key, err := c.o.Keys.Get(ctx, keyID)
	return err == nil && key.RevokedAt.IsZero() && key.Allows(apikey.ScopeAdmin)
}

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	c.pages.render(w, r, http.StatusOK, "signin", pageData{Title: "Sign in"})
}

// signIn exchanges an admin-scoped API key for a console session. The key
// travels once, in the form body; the browser keeps only the console
// session's cookie.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	refuse := func(status int, msg string) {
		c.pages.render(w, r, status, "signin", pageData{Title: "Sign in", Error: msg})
	}
	if ok, retry := c.o.SignInLimit.Allow(ratelimit.AddrKey(peerAddr(r))); !ok {
		secs := strconv.Itoa(int(retry / time.Second))
		c.log.WarnContext(r.Context(), "console: sign-in rate limited", "client_ip", peerAddr(r))
		w.Header().Set("Retry-After", secs)
		refuse(http.StatusTooManyRequests, "Too many sign-in attempts from this address; try again in "+secs+" s.")
		return
	}
	if err := r.ParseForm(); err != nil {
		refuse(http.StatusBadRequest, "The form could not be read.")
		return
	}
	secret := strings.TrimSpace(r.PostForm.Get("api_key"))
	if secret == "" {
		refuse(http.StatusBadRequest, "Enter an API key.")
		return
	}
	key, err := c.o.Keys.Authenticate(r.Context(), sessiond.Secret(secret))
	switch {
	case errors.Is(err, sessiond.ErrStoreUnavailable):
		c.log.ErrorContext(r.Context(), "console: sign-in", "err", err)
		refuse(http.StatusServiceUnavailable, "The store is unavailable; try again shortly.")
		return
	case err != nil:
		c.log.InfoContext(r.Context(), "console: sign-in refused: unknown or revoked key")
		c.signInFailed(r, "")
		refuse(http.StatusUnauthorized, "This API key is not valid.")
		return
	case !key.Allows(apikey.ScopeAdmin):
		c.log.InfoContext(r.Context(), "console: sign-in refused: key lacks the admin scope", "key_id", key.ID)
		c.signInFailed(r, key.ID)
		refuse(http.StatusForbidden, "This API key does not carry the admin scope.")
		return
	}
	if _, err := c.sessions.Login(w, r, subjectPrefix+key.ID, sessiond.CreateOptions{}); err != nil {
		c.log.ErrorContext(r.Context(), "console: create console session", "err", err)
		refuse(http.StatusInternalServerError, "Signing in failed; see the server log.")
		return
	}
	c.log.InfoContext(r.Context(), "console: signed in", "key_id", key.ID)
	http.Redirect(w, r, Prefix+"/overview", http.StatusSeeOther)
}

// maxFailureReports bounds the sign-in failures recorded a minute over all
// addresses (SignInLimit bounds each address's attempts): many addresses
// guessing must not flood the durable log.
const maxFailureReports = 100

// signInFailed records a refused sign-in as the API records a refused key
// (api_key.auth_failed, path /console/signin), with the peer's address and
// User-Agent and, for a valid key without the admin scope, its ID.
func (c *Console) signInFailed(r *http.Request, keyID string) {
	if ok, _ := c.failures.Allow(""); !ok {
		return
	}
	client, err := sessiond.CleanClient(sessiond.Client{IP: peerAddr(r), UserAgent: sessiond.CleanText(r.UserAgent(), 256)})
	if err != nil {
		client = sessiond.Client{}
	}
	d := map[string]any{"path": Prefix + "/signin", "had_credentials": true, "count": 1, "via": "console"}
	if keyID != "" {
		d["key_id"], d["reason"] = keyID, "not admin"
	}
	c.record(r, sessiond.Event{Type: "api_key.auth_failed", Client: client, Details: d})
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request, key apikey.Key) {
	if err := c.sessions.Logout(w, r); err != nil {
		c.log.WarnContext(r.Context(), "console: sign-out", "key_id", key.ID, "err", err)
	}
	http.Redirect(w, r, Prefix+"/signin", http.StatusSeeOther)
}

// peerAddr is the connection's peer address: forwarded headers are not
// trusted, so the limit holds per proxy when the console sits behind one.
func peerAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
