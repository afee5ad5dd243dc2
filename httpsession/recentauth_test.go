package httpsession_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/testenv"
)

// TestSessions_RequireRecentAuth: a sensitive action needs a login within
// maxAge. An older session gets the RFC 9470 challenge; rotating it (a
// privilege change) does not count as logging in, a new Login does.
func TestSessions_RequireRecentAuth(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	h := e.s.RequireRecentAuth(5*time.Minute, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	call := func(tok sessiond.Secret) *http.Response {
		r := httptest.NewRequest(http.MethodPost, "https://app.example/account/password", nil)
		if tok != "" {
			r.Header.Set("Authorization", "Bearer "+string(tok))
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Result()
	}
	login := func() *sessiond.Issued {
		iss, err := e.s.Login(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "https://app.example/login", nil), "alice", sessiond.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return iss
	}
	const challenge = `Bearer error="insufficient_user_authentication", error_description="a more recent authentication is required", max_age="300"`

	iss := login()
	if res := call(iss.AccessToken); res.StatusCode != http.StatusNoContent {
		t.Fatalf("right after login = %d; want 204", res.StatusCode)
	}
	e.clock.Advance(6 * time.Minute)
	res := call(iss.AccessToken)
	testenv.WantChallenge(t, "6 minutes after login", res, challenge)
	if body := readBody(t, res); !strings.Contains(body, `"code":"reauthentication_required"`) {
		t.Errorf("problem = %s; want code reauthentication_required", body)
	}
	rotated, err := e.m.Rotate(ctx, iss.Session.ID)
	if err != nil {
		t.Fatal(err)
	}
	testenv.WantChallenge(t, "after a rotation", call(rotated.AccessToken), challenge)
	if res := call(login().AccessToken); res.StatusCode != http.StatusNoContent {
		t.Errorf("after a new login = %d; want 204", res.StatusCode)
	}
	testenv.WantChallenge(t, "without a session", call(""), "Bearer")
}
