package sessiond_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
)

const testJKT = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I" // RFC 7638 section 3.1's example

func TestManager_KeyBinding(t *testing.T) {
	ctx := context.Background()
	for _, st := range strategies {
		t.Run(string(st), func(t *testing.T) {
			h := newHarness(t, st, nil)
			iss := h.create(t, "ana", sessiond.CreateOptions{Claims: json.RawMessage(`{"role":"admin"}`), KeyThumbprint: testJKT})
			if got := iss.Session.KeyThumbprint(); got != testJKT {
				t.Fatalf("created session thumbprint %q", got)
			}
			s, err := h.m.Verify(ctx, iss.AccessToken, sessiond.Client{})
			if err != nil {
				t.Fatal(err)
			}
			if got := s.KeyThumbprint(); got != testJKT {
				t.Fatalf("verified session thumbprint %q, claims %s", got, s.Claims)
			}
			if !strings.Contains(string(s.Claims), `"role":"admin"`) {
				t.Fatalf("app claims lost: %s", s.Claims)
			}
			if st != sessiond.StrategyDatabase {
				// The access JWT carries cnf.jkt at top level (RFC 9449 section 6.1).
				payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(string(iss.AccessToken), ".")[1])
				var c struct {
					Cnf struct{ JKT string } `json:"cnf"`
				}
				if err := json.Unmarshal(payload, &c); err != nil || c.Cnf.JKT != testJKT {
					t.Fatalf("access JWT cnf = %+v (%v): %s", c, err, payload)
				}
				return // no refresh check below for database (no refresh tokens)
			}
		})
	}
	for _, st := range []sessiond.Strategy{sessiond.StrategyJWT, sessiond.StrategyHybrid} {
		t.Run(string(st)+"/refresh", func(t *testing.T) {
			h := newHarness(t, st, nil)
			iss := h.create(t, "bo", sessiond.CreateOptions{KeyThumbprint: testJKT})
			if _, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{}); !errors.Is(err, sessiond.ErrInvalidToken) {
				t.Fatalf("Refresh of a bound session without a check = %v, want ErrInvalidToken", err)
			}
			errWrongKey := errors.New("wrong key")
			if _, err := h.m.RefreshChecked(ctx, iss.RefreshToken, sessiond.Client{}, func(s *sessiond.Session) error {
				return errWrongKey
			}); !errors.Is(err, errWrongKey) {
				t.Fatalf("RefreshChecked with a failing check = %v", err)
			}
			var seen string
			next, err := h.m.RefreshChecked(ctx, iss.RefreshToken, sessiond.Client{}, func(s *sessiond.Session) error {
				seen = s.KeyThumbprint()
				return nil
			})
			if err != nil {
				t.Fatalf("refused checks must not retire the token: %v", err)
			}
			if seen != testJKT || next.Session.KeyThumbprint() != testJKT {
				t.Fatalf("check saw %q, refreshed session bound to %q", seen, next.Session.KeyThumbprint())
			}
		})
	}
	t.Run("unbound sessions refresh as before", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyHybrid, nil)
		iss := h.create(t, "cy", sessiond.CreateOptions{})
		if iss.Session.KeyThumbprint() != "" {
			t.Fatal("unbound session has a thumbprint")
		}
		if _, err := h.m.Refresh(ctx, iss.RefreshToken, sessiond.Client{}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestManager_KeyBindingBadInput(t *testing.T) {
	h := newHarness(t, sessiond.StrategyHybrid, nil)
	for _, tc := range []struct {
		name   string
		claims string
		jkt    string
	}{
		{"short", "", "abc"},
		{"long", "", testJKT + "A"},
		{"padding", "", testJKT[:42] + "="},
		{"standard base64", "", "+" + testJKT[1:]},
		{"claims already hold cnf", `{"cnf":{"jkt":"x"}}`, testJKT},
		// Without KeyThumbprint too: a cnf claim would bind the session to
		// a key nobody checked (a made-up one: every verify refused).
		{"claims hold cnf, no binding", `{"cnf":{"jkt":"x"}}`, ""},
		{"claims hold a well-formed cnf, no binding", `{"cnf":{"jkt":"` + testJKT + `"}}`, ""},
		// encoding/json matches member names case-insensitively, so
		// KeyThumbprint reads any spelling of cnf as the binding.
		{"claims hold Cnf, no binding", `{"Cnf":{"jkt":"` + testJKT + `"},"note":"cnf"}`, ""},
		{"claims hold CNF, no binding", `{"CNF":{"JKT":"` + testJKT + `"},"note":"cnf"}`, ""},
		{"claims hold Cnf with a binding", `{"Cnf":{"jkt":"` + testJKT + `"}}`, testJKT},
		{"oversized with the binding", `{"a":"` + strings.Repeat("x", sessiond.MaxClaimsBytes-8) + `"}`, testJKT},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.m.Create(context.Background(), "dee", sessiond.CreateOptions{Claims: json.RawMessage(tc.claims), KeyThumbprint: tc.jkt})
			if !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Fatalf("Create = %v, want ErrInvalidArgument", err)
			}
		})
	}
}
