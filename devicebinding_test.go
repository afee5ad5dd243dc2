package sessiond_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
)

var testBinding = sessiond.DeviceBinding{
	ID:  "dbsc-session-1",
	JKT: strings.Repeat("A", 43),
	JWK: json.RawMessage(`{"kty":"EC","crv":"P-256","x":"AAAA","y":"BBBB"}`),
}

func TestManager_BindDevice(t *testing.T) {
	for _, strategy := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		t.Run(string(strategy), func(t *testing.T) {
			h := newHarness(t, strategy, nil)
			iss := h.create(t, "alice", sessiond.CreateOptions{Claims: json.RawMessage(`{"role":"admin"}`)})
			bound, err := h.m.BindDevice(t.Context(), iss.Session.ID, testBinding)
			if err != nil {
				t.Fatalf("BindDevice: %v", err)
			}
			if bound.Session.ID == iss.Session.ID {
				t.Error("BindDevice kept the session ID; want a new session")
			}
			if _, err := h.m.Verify(t.Context(), iss.AccessToken, sessiond.Client{}); err == nil && strategy == sessiond.StrategyDatabase {
				t.Error("the unbound session's token still verifies")
			}
			got, err := h.m.Get(t.Context(), bound.Session.ID)
			if err != nil {
				t.Fatal(err)
			}
			b, ok := got.DeviceBinding()
			if !ok || b.ID != testBinding.ID || b.JKT != testBinding.JKT || string(b.JWK) != string(testBinding.JWK) {
				t.Errorf("DeviceBinding() = %+v, %v; want %+v", b, ok, testBinding)
			}
			if !strings.Contains(string(got.Claims), `"role":"admin"`) {
				t.Errorf("claims = %s; the app's claims were lost", got.Claims)
			}
			// The binding survives a rotation (a privilege change).
			rot, err := h.m.Rotate(t.Context(), bound.Session.ID)
			if err != nil || !rot.Session.DeviceBound() {
				t.Fatalf("Rotate = %v, bound %v; want the binding kept", err, rot != nil && rot.Session.DeviceBound())
			}
			if _, err := h.m.BindDevice(t.Context(), rot.Session.ID, testBinding); !errors.Is(err, sessiond.ErrConflict) {
				t.Errorf("second BindDevice = %v; want ErrConflict", err)
			}
			s, err := h.m.SessionOf(t.Context(), rot.AccessToken)
			if err != nil || s.ID != rot.Session.ID {
				t.Errorf("SessionOf = %v, %v; want %s", s.ID, err, rot.Session.ID)
			}
			if n := h.events.Count(sessiond.EventDeviceBound); n != 1 {
				t.Errorf("%d session.device_bound events; want 1", n)
			}
		})
	}
	t.Run("Refused", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyDatabase, nil)
		iss := h.create(t, "alice", sessiond.CreateOptions{})
		for name, b := range map[string]sessiond.DeviceBinding{
			"NoID":       {JKT: testBinding.JKT, JWK: testBinding.JWK},
			"BadID":      {ID: "a b", JKT: testBinding.JKT, JWK: testBinding.JWK},
			"ShortJKT":   {ID: "x", JKT: "abc", JWK: testBinding.JWK},
			"NoJWK":      {ID: "x", JKT: testBinding.JKT},
			"JWKNotJSON": {ID: "x", JKT: testBinding.JKT, JWK: json.RawMessage(`{"kty"`)},
			"HugeJWK":    {ID: "x", JKT: testBinding.JKT, JWK: json.RawMessage(`{"k":"` + strings.Repeat("a", 2000) + `"}`)},
		} {
			if _, err := h.m.BindDevice(t.Context(), iss.Session.ID, b); !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Errorf("%s: BindDevice = %v; want ErrInvalidArgument", name, err)
			}
		}
		if _, err := h.m.BindDevice(t.Context(), "nosuchsessionnosuchsession", testBinding); !errors.Is(err, sessiond.ErrNotFound) {
			t.Errorf("BindDevice of an unknown session = %v; want ErrNotFound", err)
		}
	})
	t.Run("JWTStrategy", func(t *testing.T) {
		h := newHarness(t, sessiond.StrategyJWT, nil)
		iss := h.create(t, "alice", sessiond.CreateOptions{})
		if _, err := h.m.BindDevice(t.Context(), iss.Session.ID, testBinding); !errors.Is(err, sessiond.ErrUnsupported) {
			t.Errorf("BindDevice in the jwt strategy = %v; want ErrUnsupported", err)
		}
	})
}

// TestManager_DeviceBindingClaimsRefused: a device binding is made only by
// BindDevice, after a DBSC registration proved the key. Claims holding a
// dbsc member, in any spelling encoding/json (and so DeviceBinding and the
// Go verifier) reads as dbsc, are refused at login: they would bind the
// session to a key nobody proved, read as bound by some verifiers and not
// by others (Node matches "dbsc" exactly).
func TestManager_DeviceBindingClaimsRefused(t *testing.T) {
	h := newHarness(t, sessiond.StrategyDatabase, nil)
	binding := `{"id":"dev1","jkt":"` + testJKT + `","jwk":{"kty":"EC"}}`
	for _, claims := range []string{
		`{"dbsc":` + binding + `}`,
		`{"DBSC":` + binding + `,"note":"dbsc"}`,
		`{"Dbsc":` + binding + `}`,
		`{"db\u017fc":` + binding + `,"note":"dbsc"}`, // ſ folds to s
	} {
		t.Run(claims[:8], func(t *testing.T) {
			_, err := h.m.Create(context.Background(), "dee", sessiond.CreateOptions{Claims: json.RawMessage(claims)})
			if !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Fatalf("Create with claims %s = %v, want ErrInvalidArgument", claims, err)
			}
		})
	}
	// A claim that only mentions dbsc in a value is an ordinary claim.
	if _, err := h.m.Create(context.Background(), "dee", sessiond.CreateOptions{Claims: json.RawMessage(`{"note":"dbsc"}`)}); err != nil {
		t.Errorf("Create with a value mentioning dbsc = %v", err)
	}
}
