package httpsession_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
)

// claimsOf is a JSON object of about n bytes.
func claimsOf(n int) []byte {
	return fmt.Appendf(nil, `{"groups":%q}`, strings.Repeat("g", n))
}

// TestSessions_TokenTooLongForCookie: a JWT carries the session's claims,
// which the Manager accepts up to MaxClaimsBytes, more than fits in a
// 4096-byte cookie. Login and LoginIssued then set no cookie and revoke
// the new session, so none is left live that nobody holds (checklist 18).
func TestSessions_TokenTooLongForCookie(t *testing.T) {
	tests := []struct {
		name     string
		strategy sessiond.Strategy
		claims   int
		tooLarge bool
	}{
		{"hybrid, claims that fit", sessiond.StrategyHybrid, 1000, false},
		{"hybrid, claims that do not", sessiond.StrategyHybrid, 3500, true},
		{"jwt, claims that do not", sessiond.StrategyJWT, 3500, true},
		{"database: an opaque token fits whatever the claims", sessiond.StrategyDatabase, 3500, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, envOptions{strategy: tt.strategy})
			opts := sessiond.CreateOptions{Claims: claimsOf(tt.claims)}
			check := func(t *testing.T, what string, err error, w *httptest.ResponseRecorder, id sessiond.SessionID) {
				t.Helper()
				if got := errors.Is(err, httpsession.ErrCookieTooLarge); got != tt.tooLarge {
					t.Fatalf("%s = %v; want ErrCookieTooLarge: %v", what, err, tt.tooLarge)
				}
				if !tt.tooLarge {
					if len(w.Result().Cookies()) == 0 {
						t.Errorf("%s set no cookie", what)
					}
					return
				}
				if c := w.Header().Values("Set-Cookie"); len(c) != 0 {
					t.Errorf("%s failed but set cookies %q", what, c)
				}
				if s, err := e.m.Get(context.Background(), id); err == nil && s.RevokedAt.IsZero() {
					t.Errorf("%s failed but left session %s live", what, id)
				}
			}

			w := httptest.NewRecorder()
			iss, err := e.s.Login(w, httptest.NewRequest("POST", "https://app.example/login", nil), "alice", opts)
			// The session Login created, from its event: Login returns no
			// Issued when it fails.
			var id sessiond.SessionID
			for _, ev := range e.events.OfType(sessiond.EventSessionCreated) {
				if ev.Subject == "alice" {
					id = ev.SessionID
				}
			}
			if id == "" {
				t.Fatalf("Login = %v and created no session; want one created", err)
			}
			check(t, "Login", err, w, id)

			// LoginIssued: a session created elsewhere (the API, for a login
			// code) whose tokens turn out too long at redemption.
			iss, err = e.m.Create(context.Background(), "bob", opts)
			if err != nil {
				t.Fatal(err)
			}
			w = httptest.NewRecorder()
			err = e.s.LoginIssued(w, httptest.NewRequest("GET", "https://app.example/sessiond/login", nil), iss)
			check(t, "LoginIssued", err, w, iss.Session.ID)
		})
	}
}
