package gateway

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"html/template"
	"net/http"
	"time"

	"github.com/sessiond/sessiond/httpsession"
)

// resumeScript refreshes from the page it runs on (<prefix>/refresh, a
// same-origin POST that passes the CSRF checks) and continues to the page
// the user asked for, or to the login page if the session is over. It
// holds the Web Lock sessiond.js refreshes under, so this page and another
// tab never send the same rotating refresh token at once (the second would
// look like theft); the one that waited sends the cookie the first left.
//
// A network error or a 5xx is retried once, a second later (as sessiond.js's
// first retry) and still under the lock, rather than signing the user out
// for a passing fault: a refresh the server committed but whose answer was
// lost left the cookie holding the token it retired, which the server takes
// again only within lifetimes.reuse_interval (5s by default). A 4xx (the
// session is over, a CSRF refusal) is final.
//
// Each attempt gives up after a time: an answer lost on a connection that
// went silent would otherwise hold the Web Lock, and so every tab's
// refresh, for as long as the browser keeps the connection, with this page
// blank. The first gives up after data-first milliseconds
// (FirstAttemptTimeout of the server's reuse interval), so that its retry
// reaches the server while a rotation the first made is still in the
// grace and is not taken for theft; the retry, after which nothing is
// sent, after resumeTimeoutMS, so a slow link's answer still arrives.
const resumeScript = `(function(){var d=document.documentElement.dataset;` +
	`function go(retry){var c=typeof AbortController=="function"?new AbortController():null,t=c&&setTimeout(function(){c.abort()},retry&&+d.first||` + resumeTimeoutMS + `);` +
	`return fetch(location.pathname,{method:"POST",credentials:"same-origin",headers:{Accept:"application/json"},signal:c?c.signal:void 0})` +
	`.then(null,function(){}).then(function(r){clearTimeout(t);` +
	`if(retry&&!(r&&r.status<500))return new Promise(function(w){setTimeout(w,1000)}).then(function(){return go(false)});` +
	`location.replace(r&&r.ok?d.to:d.login)})}` +
	`function first(){return go(true)}` +
	`var l=navigator.locks;l&&l.request?l.request("sessiond-refresh",first):first()})();`

// resumeTimeoutMS bounds the page's last refresh attempt, sessiond.js's
// default lockTimeoutSeconds (docs/browser.md).
const resumeTimeoutMS = "15000"

// FirstAttemptTimeout is how long the refresh page (and sessiond.js by
// default, reuseIntervalSeconds) waits on its first refresh attempt when
// the server takes a retired refresh token again for reuse after its
// rotation: the retry, sent a second after the first gives up, must
// arrive within reuse of a rotation the first attempt made on its way,
// with a second to spare for its own trip. 3s with the default 5s, at
// least a second. Without a grace (0), or one of 2s or less, which the
// shortest first attempt and the pause use up, there is none to aim at:
// cutting the first attempt short would only turn a slow answer into a
// retry past the grace, taken for theft, so it gets the whole 15s.
func FirstAttemptTimeout(reuse time.Duration) time.Duration {
	const pause, margin, least = time.Second, time.Second, time.Second
	if reuse <= pause+least {
		return 15 * time.Second
	}
	return min(max(reuse-pause-margin, least), 15*time.Second)
}

var resumeCSP = "default-src 'none'; script-src 'sha256-" + scriptHash(resumeScript) +
	"'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

func scriptHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return base64.StdEncoding.EncodeToString(sum[:])
}

var resumePage = template.Must(template.New("resume").Parse(`<!doctype html>
<html lang="en" data-to="{{.To}}" data-login="{{.Login}}" data-first="{{.First}}"><head><meta charset="utf-8"><meta name="referrer" content="no-referrer"><title>Resuming your session</title>
<script>{{.Script}}</script></head>
<body><noscript><p>Your session needs JavaScript to resume. <a href="{{.Login}}">Sign in</a></p></noscript></body></html>
`))

// refresh serves <prefix>/refresh: POST refreshes from the refresh cookie
// (post, refreshPost: CSRF-checked, rotation and reuse detection as POST
// /v1/sessions/refresh); GET is the page a navigation
// whose access token expired is sent to. The page changes nothing itself:
// its script POSTs the refresh, so a cross-site link cannot refresh.
func (g *Gateway) refresh(post http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
		case http.MethodPost:
			post.ServeHTTP(w, r)
			return
		default:
			// post's own 405 would allow POST alone: the route takes
			// all three (RFC 9110 §15.5.6).
			methodNotAllowed(w, "GET, HEAD, POST")
			return
		}
		returnTo, ok := g.returnToParam(w, r.URL.Query()["return_to"], "/")
		if !ok {
			return
		}
		var buf bytes.Buffer
		if err := resumePage.Execute(&buf, struct {
			To, Login string
			First     int64
			Script    template.JS
		}{returnTo, g.loginURL(returnTo), FirstAttemptTimeout(g.s.Manager().ReuseInterval()).Milliseconds(), template.JS(resumeScript)}); err != nil {
			g.log.ErrorContext(r.Context(), "gateway: resume page", "err", err)
			httpsession.WriteProblem(w, http.StatusInternalServerError, "internal", "Internal error", "the page could not be rendered")
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", resumeCSP)
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("X-Content-Type-Options", "nosniff")
		_, _ = w.Write(buf.Bytes())
	}
}

// refreshPost is httpsession's RefreshHandler, except that a refused
// refresh cookie that is invalid or unknown spends the failure limit
// (WithFailureLimit): past it, 429 with Retry-After. The cookies are
// expired all the same (Refresh), as for any failed refresh.
func (g *Gateway) refreshPost() http.Handler {
	return g.s.RefreshHandlerWith(g.answeredOverLimit)
}
