package httpsession_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/setup"
)

// A web app with cookie sessions: sign in, a protected page, refresh,
// sign out, and signing the user's other devices out. The cookies are
// Secure (and __Host-/__Secure-), so the app is served over HTTPS.
func Example() {
	ctx := context.Background()
	m, err := setup.New(ctx, memstore.New(), setup.Options{}) // sqlitestore.New or pgstore.New in production
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	sessions, err := httpsession.New(httpsession.Options{
		Manager:         m,
		Unauthenticated: httpsession.RedirectTo("/login"), // pages to the form; scripts get 401
	})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("POST /login", sessions.CSRF(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := r.PostFormValue("user") // check the password first
		if _, err := sessions.Login(w, r, user, sessiond.CreateOptions{}); err != nil {
			if errors.Is(err, sessiond.ErrInvalidArgument) { // an empty or malformed subject
				http.Error(w, "bad user name", http.StatusBadRequest)
				return
			}
			log.Print(err) // never in the response
			http.Error(w, "try again later", http.StatusServiceUnavailable)
			return
		}
		http.Redirect(w, r, "/account", http.StatusSeeOther)
	})))
	mux.Handle("GET /account", sessions.Require(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, _ := sessiond.FromContext(r.Context())
		fmt.Fprintf(w, "hello %s", s.Subject)
	})))
	mux.Handle(httpsession.DefaultRefreshPath, sessions.RefreshHandler()) // the refresh cookie's Path
	mux.Handle("/logout", sessions.LogoutHandler("/login"))
	// Sensitive: only with a recent sign-in.
	mux.Handle("POST /devices/revoke-others", sessions.CSRF(sessions.RequireRecentAuth(10*time.Minute,
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s, _ := sessiond.FromContext(r.Context())
			n, err := m.RevokeSubject(r.Context(), s.Subject, s.ID, sessiond.ReasonLogout)
			if err != nil {
				log.Print(err)
				http.Error(w, "try again later", http.StatusServiceUnavailable)
				return
			}
			fmt.Fprintf(w, "signed out %d other devices", n)
		}))))

	srv := httptest.NewTLSServer(mux)
	defer srv.Close()
	browser := func() *http.Client {
		c := *srv.Client()
		c.Jar, _ = cookiejar.New(nil)
		c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		return &c
	}
	laptop, phone := browser(), browser()
	do := func(c *http.Client, method, path string, form url.Values) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := c.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		defer res.Body.Close()
		line := fmt.Sprint(method, " ", path, " ", res.StatusCode)
		if body, _ := io.ReadAll(res.Body); res.StatusCode == http.StatusOK && !strings.HasPrefix(string(body), "{") {
			line += ": " + string(body) // the refresh's JSON holds times
		}
		fmt.Println(line)
	}
	do(laptop, "GET", "/account", nil)
	do(laptop, "POST", "/login", url.Values{"user": {"alice"}})
	do(phone, "POST", "/login", url.Values{"user": {"alice"}})
	do(laptop, "GET", "/account", nil)
	do(laptop, "POST", "/auth/refresh", nil)
	do(laptop, "POST", "/devices/revoke-others", nil)
	do(phone, "GET", "/account", nil)
	do(laptop, "POST", "/logout", nil)
	do(laptop, "GET", "/account", nil)
	// Output:
	// GET /account 401
	// POST /login 303
	// POST /login 303
	// GET /account 200: hello alice
	// POST /auth/refresh 200
	// POST /devices/revoke-others 200: signed out 1 other devices
	// GET /account 401
	// POST /logout 204
	// GET /account 401
}
