package main

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/medama-io/go-useragent"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/sdk"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"ago": func(t time.Time) string {
		d := time.Since(t).Round(time.Second)
		if d < 5*time.Second {
			return "just now"
		}
		return d.String() + " ago"
	},
	"utc": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
}).ParseFS(templateFS, "templates/*.html"))

var uaParser = useragent.NewParser()

type app struct {
	m             *sessiond.Manager
	s             *httpsession.Sessions
	users         *users
	events        *eventLog
	log           *slog.Logger
	refreshBefore time.Duration
	reauthAfter   time.Duration // sudo mode: signing other devices out needs a login this recent
	testEndpoints bool
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.Handle("GET /sdk/sessiond.js", sdk.Handler())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok\n")) })

	mux.HandleFunc("GET /login", a.loginPage)
	// Every unsafe method goes through CSRF first: a forged request is
	// refused with 403 before anything else looks at it.
	mux.Handle("POST /login", a.csrf(http.HandlerFunc(a.login)))
	mux.Handle("/logout", a.refusalAsPage(a.s.LogoutHandler("/login")))
	mux.Handle(httpsession.DefaultRefreshPath, a.s.RefreshHandler())

	mux.Handle("GET /{$}", a.s.Require(http.HandlerFunc(a.home)))
	mux.Handle("GET /devices", a.s.Require(http.HandlerFunc(a.devices)))
	// Ending other sessions needs a recent sign-in (OWASP ASVS 7.5.2): a
	// stolen session must not be able to sign its owner out everywhere.
	// This device signs itself out at /logout, which needs none.
	mux.Handle("POST /devices/revoke", a.csrf(a.s.RequireRecentAuth(a.reauthAfter, http.HandlerFunc(a.revokeDevice))))
	mux.Handle("POST /devices/revoke-others", a.csrf(a.s.RequireRecentAuth(a.reauthAfter, http.HandlerFunc(a.revokeOthers))))
	mux.Handle("GET /api/me", a.s.Require(http.HandlerFunc(a.me)))
	if a.testEndpoints {
		mux.HandleFunc("GET /debug/events", a.debugEvents)
	}
	return securityHeaders(mux)
}

// csrf is the middleware's CSRF check; a refused form submission (a page
// navigation) gets an HTML page instead of the JSON problem an API client
// reads.
func (a *app) csrf(next http.Handler) http.Handler { return a.refusalAsPage(a.s.CSRF(next)) }

// refusalAsPage turns a 403 problem document from h into the demo's page
// when a browser navigates (a form), and leaves API clients their JSON.
func (a *app) refusalAsPage(checked http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.Header.Get("Accept"), "text/html") {
			checked.ServeHTTP(w, r)
			return
		}
		checked.ServeHTTP(&refusalPage{ResponseWriter: w, a: a}, r)
	})
}

// refusalPage replaces a 403 problem document with the demo's page.
type refusalPage struct {
	http.ResponseWriter
	a        *app
	replaced bool
}

func (p *refusalPage) WriteHeader(status int) {
	if status == http.StatusForbidden && strings.HasPrefix(p.Header().Get("Content-Type"), "application/problem+json") {
		p.replaced = true
		p.Header().Del("Content-Length")
		p.a.render(p.ResponseWriter, http.StatusForbidden, "refused.html", pageData{Title: "Request refused", Page: "refused"})
		return
	}
	p.ResponseWriter.WriteHeader(status)
}

func (p *refusalPage) Write(b []byte) (int, error) {
	if p.replaced {
		return len(b), nil // the JSON body: the page is already written
	}
	return p.ResponseWriter.Write(b)
}

// securityHeaders: no inline script or style, no framing, no referrer
// leaving the origin.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "+
			"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		next.ServeHTTP(w, r)
	})
}

// pageData is what every template gets.
type pageData struct {
	Title         string
	Page          string // body data-page, read by static/app.js
	RefreshBefore int    // seconds
	Subject       string
	SessionID     sessiond.SessionID
	Next          string
	Error         string
	Notice        string // why the user is on the sign-in page
	Devices       []device
	Session       *sessiond.Session
}

func (a *app) render(w http.ResponseWriter, status int, name string, d pageData) {
	d.RefreshBefore = int(a.refreshBefore / time.Second)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := pages.ExecuteTemplate(w, name, d); err != nil {
		a.log.Error("render", "template", name, "err", err)
	}
}

func current(r *http.Request) *sessiond.Session {
	s, _ := sessiond.FromContext(r.Context())
	return s
}

func (a *app) loginPage(w http.ResponseWriter, r *http.Request) {
	d := pageData{Title: "Sign in", Page: "login", Next: localPath(r.URL.Query().Get("next"))}
	switch r.URL.Query().Get("reason") {
	case "ended":
		d.Notice = "You were signed out: this session was ended from another device, or it expired. Sign in again to continue."
	case "reauth":
		d.Notice = "Confirm it's you: signing other devices out needs a recent sign-in. Sign in again, then try once more."
	}
	a.render(w, http.StatusOK, "login.html", d)
}

func (a *app) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	name, password := r.PostForm.Get("username"), r.PostForm.Get("password")
	next := localPath(r.PostForm.Get("next"))
	ip := a.s.Client(r).IP
	if a.users.limits.throttled(name, ip, time.Now()) {
		a.log.Warn("login throttled", "user", name, "ip", ip)
		w.Header().Set("Retry-After", strconv.Itoa(int(accountRefill/time.Second)))
		a.render(w, http.StatusTooManyRequests, "login.html", pageData{Title: "Sign in", Page: "login", Next: next, Error: "Too many failed sign-ins. Wait a minute, then try again."})
		return
	}
	if !a.users.authenticate(r.Context(), name, password) {
		a.users.limits.failed(name, ip, time.Now())
		a.log.Info("login failed", "user", name, "ip", ip)
		a.render(w, http.StatusUnauthorized, "login.html", pageData{Title: "Sign in", Page: "login", Next: next, Error: "Wrong user name or password."})
		return
	}
	if _, err := a.s.Login(w, r, name, sessiond.CreateOptions{}); err != nil {
		a.unavailable(w, "could not sign you in, try again", "login", err, "user", name)
		return
	}
	a.log.Info("login", "user", name, "ip", a.s.Client(r).IP)
	if next == "" {
		next = "/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// localPath returns p if it is a path on this site, else "": never an
// open redirect ("//evil.example", "/\evil.example", "https://…").
// localPath returns p when it is a path on this site, else "". Browsers
// read a backslash as a slash and drop tabs and line breaks, and
// http.Redirect cleans "..": so "/\\evil", "/\t/evil" and "/x/../\\evil" all
// reach another host. Any backslash or control character is refused, and
// the path is cleaned here, before it is checked.
func localPath(p string) string {
	if !strings.HasPrefix(p, "/") || strings.Contains(p, "\\") {
		return ""
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return ""
		}
	}
	u, err := url.Parse(p)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return ""
	}
	u.Path, u.RawPath = path.Clean("/"+u.Path), ""
	out := u.String()
	if !strings.HasPrefix(out, "/") || strings.HasPrefix(out, "//") || strings.Contains(out, "\\") {
		return ""
	}
	return out
}

func (a *app) home(w http.ResponseWriter, r *http.Request) {
	s := current(r)
	a.render(w, http.StatusOK, "home.html", pageData{Title: "Home", Page: "home", Subject: s.Subject, SessionID: s.ID, Session: s})
}

// device is one row of "Your devices".
type device struct {
	ID         sessiond.SessionID
	Name       string // "Chrome on Linux"
	Kind       string // "Desktop", "Mobile"…
	IP         string
	LastActive time.Time
	SignedIn   time.Time
	Current    bool
}

func describe(uaString string) (name, kind string) {
	if uaString == "" {
		return "Unknown device", ""
	}
	ua := uaParser.Parse(uaString)
	browser, os := ua.GetBrowser(), ua.GetOS()
	switch {
	case browser != "" && os != "":
		name = browser + " on " + os
	case browser != "":
		name = browser
	case os != "":
		name = os
	default:
		name = "Unknown device"
	}
	return name, ua.GetDevice()
}

func (a *app) devices(w http.ResponseWriter, r *http.Request) {
	s := current(r)
	list, err := a.m.List(r.Context(), s.Subject)
	if err != nil {
		a.unavailable(w, "could not list your devices", "list sessions", err)
		return
	}
	ds := make([]device, 0, len(list))
	for _, x := range list {
		name, kind := describe(x.Client.UserAgent)
		ds = append(ds, device{ID: x.ID, Name: name, Kind: kind, IP: x.Client.IP,
			LastActive: x.LastActiveAt, SignedIn: x.CreatedAt, Current: x.ID == s.ID})
	}
	// This device first, then the most recently active.
	for i := 1; i < len(ds); i++ {
		for j := i; j > 0 && less(ds[j], ds[j-1]); j-- {
			ds[j], ds[j-1] = ds[j-1], ds[j]
		}
	}
	a.render(w, http.StatusOK, "devices.html", pageData{Title: "Your devices", Page: "devices", Subject: s.Subject, SessionID: s.ID, Devices: ds})
}

func less(x, y device) bool {
	if x.Current != y.Current {
		return x.Current
	}
	return x.LastActive.After(y.LastActive)
}

func (a *app) revokeDevice(w http.ResponseWriter, r *http.Request) {
	s := current(r)
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	id := sessiond.SessionID(r.PostFormValue("id"))
	if id == s.ID {
		if err := a.s.Logout(w, r); err != nil {
			a.log.Error("logout", "err", err)
			http.Error(w, "You could not be signed out; try again.", http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	// Only the user's own sessions: an ID from the form is user input.
	other, err := a.m.Get(r.Context(), id)
	switch {
	case errors.Is(err, sessiond.ErrNotFound) || err == nil && other.Subject != s.Subject:
		// Already gone, or not yours: the same answer either way.
	case err != nil:
		a.unavailable(w, "could not sign that device out", "get session", err)
		return
	default:
		if err := a.m.Revoke(r.Context(), id, sessiond.ReasonLogout); err != nil && !errors.Is(err, sessiond.ErrNotFound) {
			a.unavailable(w, "could not sign that device out", "revoke session", err)
			return
		}
	}
	http.Redirect(w, r, "/devices", http.StatusSeeOther)
}

func (a *app) revokeOthers(w http.ResponseWriter, r *http.Request) {
	s := current(r)
	if _, err := a.m.RevokeSubject(r.Context(), s.Subject, s.ID, sessiond.ReasonLogout); err != nil {
		a.unavailable(w, "could not sign the other devices out", "revoke other sessions", err)
		return
	}
	http.Redirect(w, r, "/devices", http.StatusSeeOther)
}

func (a *app) me(w http.ResponseWriter, r *http.Request) {
	s := current(r)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"subject":            s.Subject,
		"session_id":         s.ID,
		"session_expires_at": s.ExpiresAt,
	})
}

func (a *app) debugEvents(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]any{"events": a.events.list(r.URL.Query().Get("type"))})
}

// eventLog keeps the last n security events in memory (the demo's event
// sink; a real app would use the store's EventLog or webhooks).
type eventLog struct {
	mu     sync.Mutex
	n      int
	events []sessiond.Event
}

func newEventLog(n int) *eventLog { return &eventLog{n: n} }

// Record implements sessiond.EventSink.
func (l *eventLog) Record(_ context.Context, e sessiond.Event) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
	if len(l.events) > l.n {
		l.events = append([]sessiond.Event(nil), l.events[len(l.events)-l.n:]...)
	}
	return nil
}

// list returns the events, of type typ if it is not empty, oldest first.
func (l *eventLog) list(typ string) []sessiond.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := []sessiond.Event{}
	for _, e := range l.events {
		if typ == "" || string(e.Type) == typ {
			out = append(out, e)
		}
	}
	return out
}

// unavailable logs what failed and answers 503 with a message for the
// user: every handler fails the same way when sessiond cannot answer.
func (a *app) unavailable(w http.ResponseWriter, msg, op string, err error, attrs ...any) {
	a.log.Error(op, append(attrs, "err", err)...)
	http.Error(w, msg, http.StatusServiceUnavailable)
}
