package sessiond_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
)

// TestSession_JSON: a Session has a deliberate JSON form (the API's names)
// that round-trips.
func TestSession_JSON(t *testing.T) {
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	iss := h.create(t, "alice", sessiond.CreateOptions{Claims: json.RawMessage(`{"role":"admin"}`),
		Client: sessiond.Client{IP: "203.0.113.7", UserAgent: "UA"}})
	b, err := json.Marshal(iss.Session)
	if err != nil {
		t.Fatal(err)
	}
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(b, &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "subject", "strategy", "created_at", "last_active_at", "idle_expires_at", "expires_at", "persistent", "client", "claims"} {
		if _, ok := keys[k]; !ok {
			t.Errorf("Session JSON %s lacks %q", b, k)
		}
	}
	for _, k := range []string{"revoked_at", "revoke_reason", "ID", "CreatedAt"} {
		if _, ok := keys[k]; ok {
			t.Errorf("Session JSON %s has %q", b, k)
		}
	}
	var back sessiond.Session
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, iss.Session) {
		t.Errorf("round trip = %+v; want %+v", back, iss.Session)
	}
}

// TestIssued_JSON: marshalling an Issued fails instead of writing
// "REDACTED" tokens; TokenResponse writes them on purpose.
func TestIssued_JSON(t *testing.T) {
	for _, st := range strategies {
		t.Run(string(st), func(t *testing.T) {
			h := newHarness(t, st, nil)
			iss := h.create(t, "alice", sessiond.CreateOptions{})
			for _, v := range []any{iss, *iss, struct{ Login *sessiond.Issued }{iss}} {
				b, err := json.Marshal(v)
				if !errors.Is(err, sessiond.ErrInvalidArgument) {
					t.Errorf("json.Marshal(%T) = %s, %v; want an error matching ErrInvalidArgument", v, b, err)
				}
				if strings.Contains(string(b), "REDACTED") || strings.Contains(string(b), string(iss.AccessToken)) {
					t.Errorf("json.Marshal(%T) wrote %s", v, b)
				}
			}
			b, err := json.Marshal(iss.TokenResponse())
			if err != nil {
				t.Fatal(err)
			}
			var got struct {
				AccessToken  string           `json:"access_token"`
				RefreshToken *string          `json:"refresh_token"`
				TokenType    string           `json:"token_type"`
				Session      sessiond.Session `json:"session"`
			}
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatal(err)
			}
			if got.AccessToken != string(iss.AccessToken) || got.TokenType != "Bearer" || got.Session.ID != iss.Session.ID {
				t.Errorf("TokenResponse JSON = %s; want the access token, Bearer and the session", b)
			}
			if hasRefresh := got.RefreshToken != nil && *got.RefreshToken == string(iss.RefreshToken); hasRefresh != (iss.RefreshToken != "") {
				t.Errorf("TokenResponse JSON = %s; refresh token present %v, want %v", b, hasRefresh, iss.RefreshToken != "")
			}
			if strings.Contains(string(b), "REDACTED") {
				t.Errorf("TokenResponse JSON = %s", b)
			}
		})
	}
}
