package console

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/ratelimit"
)

// subjectPrefix marks the console session's subject: the ID (never the
// secret) of the API key that signed in.
const subjectPrefix = "apikey:"

// toSignIn answers a request without a usable console session: back to the
// sign-in page, whatever the method (htmx follows HX-Redirect), with the
// console page to return to once signed in (returnTo).
// A session signed in too long ago for a sensitive action is sent there
// with ?reauth=1, which says why.
func toSignIn(w http.ResponseWriter, r *http.Request, err error) {
	w.Header().Set("Cache-Control", "no-store")
	q := url.Values{}
	if next := returnTo(r); next != "" {
		q.Set("next", next)
	}
	if errors.Is(err, httpsession.ErrReauthenticationRequired) {
		q.Set("reauth", "1")
	}
	to := Prefix + "/signin"
	if len(q) > 0 {
		to += "?" + q.Encode()
	}
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Redirect", to)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// returnTo is the console page that signing in returns to after r was
// sent to sign in: the page r asked for, or the one htmx sent r's form
// from (HX-Current-URL); "" for none (the overview). A form sent without
// htmx names no page.
func returnTo(r *http.Request) string {
	var page string
	switch {
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		page = consolePage(r.URL.RequestURI())
	case r.Header.Get("HX-Current-URL") != "":
		u, err := url.Parse(r.Header.Get("HX-Current-URL"))
		if err != nil {
			return ""
		}
		// Its path and query only: the sign-in sends the operator to this
		// host whatever the header names.
		page = consolePage(u.RequestURI())
	}
	if page == Prefix+"/overview" {
		return "" // where a sign-in goes anyway
	}
	return page
}

// consolePages are the console's pages: where a sign-in may return to.
var consolePages = []string{"/overview", "/sessions", "/events", "/webhooks", "/keys", "/incident"}

// maxReturn bounds the page a sign-in returns to, query included.
const maxReturn = 2048

// consolePage returns s if a sign-in may send the operator there, else
// "": the path of one of the console's pages (consolePages, spelled
// exactly: no dot segment or escape), with its query, in printable ASCII,
// with no scheme, host, fragment, "//" or backslash anywhere. Anything
// more could send an operator who just signed in to another site: an open
// redirect lends the console's name to a phishing link.
func consolePage(s string) string {
	if s == "" || len(s) > maxReturn || strings.Contains(s, "//") || strings.ContainsAny(s, "\\#") ||
		strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r > '~' }) {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return ""
	}
	page, ok := strings.CutPrefix(u.Path, Prefix)
	if !ok || !slices.Contains(consolePages, page) || !strings.HasPrefix(s, u.Path) {
		return ""
	}
	return s
}

// operator lets a request through with a live console session whose API
// key is still unrevoked and admin-scoped; the key is handed to h.
func (c *Console) operator(h func(http.ResponseWriter, *http.Request, apikey.Key)) http.Handler {
	return c.sessions.Require(c.keyStillAdmin(h))
}

// recentOperator is operator for the sensitive actions: the console
// session must also have signed in within Options.RecentAuth, or the
// operator is sent to sign in again with the key.
func (c *Console) recentOperator(h func(http.ResponseWriter, *http.Request, apikey.Key)) http.Handler {
	return c.sessions.RequireRecentAuth(c.o.RecentAuth, c.keyStillAdmin(h))
}

// keyStillAdmin hands h the API key of the request's console session if
// it is still unrevoked and admin-scoped, and ends the session otherwise.
func (c *Console) keyStillAdmin(h func(http.ResponseWriter, *http.Request, apikey.Key)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, _ := sessiond.FromContext(r.Context())
		id, ok := strings.CutPrefix(sess.Subject, subjectPrefix)
		// From the key set the API authenticates against: read again at
		// most once a second, and during a store outage the last set read,
		// so an outage does not sign every operator out (the pages that
		// need the store answer 503 meanwhile), while a key revoked on any
		// node ends its console sessions within that second.
		key, err := c.o.Keys.Known(r.Context(), id)
		if !ok || err != nil || !key.RevokedAt.IsZero() || !key.Allows(apikey.ScopeAdmin) {
			if err == nil {
				err = errNotOperator
			}
			msg := "console: session ended: API key no longer admin"
			if errors.Is(err, sessiond.ErrStoreUnavailable) {
				// Fails closed: a key that cannot be checked is not trusted
				// (no set read yet), but the operator reading the log must
				// see why.
				msg = "console: session ended: its API key could not be checked (store unavailable)"
			}
			c.log.InfoContext(r.Context(), msg, "key_id", id, "err", err)
			_ = c.logout(w, r)
			toSignIn(w, r, err)
			return
		}
		// Every event this request causes names the key, as the API's do.
		h(w, r.WithContext(httpapi.WithActingKey(r.Context(), key.ID)), key)
	})
}

// tailOperator is operator for the live tail, which authenticates the
// console session without recording activity: the browser's EventSource
// reconnects on its own whenever the stream drops, and a tab left open
// with nobody at it must not keep the session from its idle timeout. The
// session cookie is the only credential taken, as for every console page.
func (c *Console) tailOperator(h func(http.ResponseWriter, *http.Request, apikey.Key)) http.Handler {
	next := c.keyStillAdmin(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := ""
		for _, ck := range r.Cookies() {
			if ck.Name == CookieName { // exact: "__host-…" is not ours
				tok = ck.Value
				break
			}
		}
		v, err := c.own.InspectChecked(r.Context(), sessiond.Secret(tok), c.sessions.Client(r),
			func(*sessiond.Session) error { return sessiond.SkipActivity })
		switch {
		case errors.Is(err, sessiond.ErrStoreUnavailable):
			// Not an error status: the browser's EventSource would stop
			// for good. It reconnects after the retry instead.
			tailLater(w, unavailableStore, c.o.Clock.Now())
			return
		case err != nil:
			toSignIn(w, r, err)
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r.WithContext(sessiond.NewContext(r.Context(), &v.Session)))
	})
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
	key, err := c.o.Keys.Known(ctx, keyID)
	return err == nil && key.RevokedAt.IsZero() && key.Allows(apikey.ScopeAdmin)
}

// signInView is the sign-in form's: the console page to return to.
type signInView struct{ Next string }

func (c *Console) signInPage(w http.ResponseWriter, r *http.Request) {
	d := pageData{Title: "Sign in", Data: signInView{Next: consolePage(r.URL.Query().Get("next"))}}
	if r.URL.Query().Get("reauth") == "1" {
		d.Notice = "Creating, revoking or rotating keys and the kill switch need a sign-in within the last " +
			minutes(c.o.RecentAuth) + ": sign in again with your API key, then repeat the action."
	}
	c.pages.render(w, r, http.StatusOK, "signin", d)
}

// signIn exchanges an admin-scoped API key for a console session. The key
// travels once, in the form body; the browser keeps only the console
// session's cookie.
func (c *Console) signIn(w http.ResponseWriter, r *http.Request) {
	// Where to go once signed in, kept by a refusal: the form's field,
	// a page of the console's only (consolePage).
	var next string
	refuse := func(status int, msg string) {
		c.pages.render(w, r, status, "signin", pageData{Title: "Sign in", Error: msg, Data: signInView{Next: next}})
	}
	ok, retry := c.o.SignInLimit.Allow(ratelimit.AddrKey(peerAddr(r)))
	// The form is read (at most maxFormBytes) before a refusal by the
	// limit too, for the page to return to: the 429 form came back without
	// it, and the sign-in after the wait landed on the overview. The key
	// is not looked at.
	formErr := r.ParseForm()
	if formErr == nil {
		next = consolePage(r.PostForm.Get("next"))
	}
	if !ok {
		secs := strconv.Itoa(int(retry / time.Second))
		ip := c.o.LogIPPrefixes.Mask(peerAddr(r))
		if warn, repeated := c.limitedWarn.warn(ratelimit.AddrKey(peerAddr(r)), c.o.Clock.Now()); warn {
			c.log.WarnContext(r.Context(), "console: sign-in rate limited", "client_ip", ip, "repeated", repeated)
		} else {
			c.log.DebugContext(r.Context(), "console: sign-in rate limited", "client_ip", ip)
		}
		w.Header().Set("Retry-After", secs)
		refuse(http.StatusTooManyRequests, "Too many sign-in attempts from this address; try again in "+secs+" s.")
		return
	}
	if formErr != nil {
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
	iss, err := c.sessions.Login(w, r, subjectPrefix+key.ID, sessiond.CreateOptions{})
	if err != nil {
		c.log.ErrorContext(r.Context(), "console: create console session", "err", err)
		refuse(http.StatusInternalServerError, "Signing in failed; see the server log.")
		return
	}
	// A sign-in is an authentication event: the durable log keeps it as
	// it keeps a refused one (ASVS 16.3.1), naming the key, never holding
	// it. A sign-in the log cannot show does not happen: during a store
	// outage the console session would otherwise leave no trace.
	if err := c.record(r.WithContext(httpapi.WithActingKey(r.Context(), key.ID)), sessiond.Event{Type: sessiond.EventConsoleSignedIn,
		Client: peerClient(r), Details: map[string]any{"key_id": key.ID, "method": "api_key", "via": "console"}}); err != nil {
		c.undoSignIn(w, r, iss)
		c.log.WarnContext(r.Context(), "console: sign-in undone: its event was not recorded", "key_id", key.ID)
		refuse(http.StatusServiceUnavailable, "The sign-in could not be recorded: the store is unavailable; try again shortly.")
		return
	}
	c.log.InfoContext(r.Context(), "console: signed in", "key_id", key.ID)
	if next == "" {
		next = Prefix + "/overview"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// undoSignIn ends the console session Login just created and expires its
// cookie in place of the one Login set. Login has already revoked the
// session the request carried, so nothing of the browser's is lost.
func (c *Console) undoSignIn(w http.ResponseWriter, r *http.Request, iss *sessiond.Issued) {
	// The console's sessions are in memory: this fails only on a bug.
	if err := c.own.Revoke(r.Context(), iss.Session.ID, sessiond.ReasonLogout); err != nil {
		c.log.ErrorContext(r.Context(), "console: end an unrecorded console session", "err", err)
	}
	cookies, _ := c.sessions.Cookies(iss)
	w.Header().Del("Set-Cookie")
	for _, ck := range cookies {
		ck.Value, ck.MaxAge = "", -1
		http.SetCookie(w, ck)
	}
}

// minutes shows d as a person would say it ("15 minutes").
func minutes(d time.Duration) string {
	if d%time.Minute != 0 || d < time.Minute {
		return d.String()
	}
	if d == time.Minute {
		return "minute"
	}
	return strconv.Itoa(int(d/time.Minute)) + " minutes"
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
	d := map[string]any{"path": Prefix + "/signin", "had_credentials": true, "count": 1, "via": "console"}
	if keyID != "" {
		d["key_id"], d["reason"] = keyID, "not admin"
	}
	c.record(r, sessiond.Event{Type: sessiond.EventAPIKeyAuthFailed, Client: peerClient(r), Details: d})
}

// peerClient is the client of a sign-in or sign-out as the event log keeps
// it: the connection's peer and its User-Agent, cut to 256 bytes with
// control characters replaced, as for a refused API key.
func peerClient(r *http.Request) sessiond.Client {
	client, err := sessiond.CleanClient(sessiond.Client{IP: peerAddr(r), UserAgent: sessiond.CleanText(r.UserAgent(), 256)})
	if err != nil {
		return sessiond.Client{}
	}
	return client
}

func (c *Console) signOut(w http.ResponseWriter, r *http.Request, key apikey.Key) {
	err := c.logout(w, r)
	if err != nil {
		c.log.WarnContext(r.Context(), "console: sign-out", "key_id", key.ID, "err", err)
	} else {
		c.record(r, sessiond.Event{Type: sessiond.EventConsoleSignedOut, Client: peerClient(r),
			Details: map[string]any{"key_id": key.ID, "via": "console"}})
	}
	http.Redirect(w, r, Prefix+"/signin", http.StatusSeeOther)
}

// logout ends the request's console session: on the server, and in the
// browser only its own cookie (ownCookieOnly). Every way a console
// session ends goes through it.
func (c *Console) logout(w http.ResponseWriter, r *http.Request) error {
	err := c.sessions.Logout(w, r)
	ownCookieOnly(w.Header())
	return err
}

// ownCookieOnly narrows what httpsession's Logout asked of the browser to
// the console's own cookie. Its Clear-Site-Data "cookies" reaches every
// cookie of the registrable domain: an operator signing out of the
// console lost the sessions of every app under that domain in this
// browser, while the server kept them live. Its Set-Cookie lines also
// expired the default refresh cookie, which the console never sets but an
// app on the same host may. The console keeps nothing in browser storage
// (htmx's history cache is off) and its pages are no-store, so expiring
// its own cookie is all a sign-out needs.
func ownCookieOnly(h http.Header) {
	h.Del("Clear-Site-Data")
	var keep []string
	for _, c := range h.Values("Set-Cookie") {
		if strings.HasPrefix(c, CookieName+"=") {
			keep = append(keep, c)
		}
	}
	h.Del("Set-Cookie")
	for _, c := range keep {
		h.Add("Set-Cookie", c)
	}
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
