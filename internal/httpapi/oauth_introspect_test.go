package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/metrics"
	"github.com/sessiond/sessiond/opaquetoken"
	"github.com/sessiond/sessiond/sessiondtest"
)

// A resource server introspects a DPoP-bound token before it checks the
// proof against cnf.jkt (RFC 9449 §6.2), so introspection sees no proof: it
// must not record activity, or a copied token without its key keeps the
// owner's idle session alive, which /v1/sessions/verify rules out.
func TestIntrospect_DPoPBoundKeepsNothingAlive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyDatabase, nil)
	k := newProofKey(t)
	tr := createBound(t, e, k, "ann")
	id := tr.Session.ID
	before, err := e.m.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	// Past the touch interval, before the idle timeout: still answered
	// active, with its key, for the resource server to check.
	e.clock.Advance(life.Idle - time.Minute)
	r := e.postForm("/oauth2/introspect", url.Values{"token": {tr.AccessToken}})
	var in struct {
		Active bool              `json:"active"`
		Type   string            `json:"token_type"`
		Cnf    map[string]string `json:"cnf"`
	}
	if err := json.Unmarshal(r.body, &in); err != nil || r.status != http.StatusOK {
		t.Fatalf("introspect = %d %s (%v)", r.status, r.body, err)
	}
	if !in.Active || in.Type != "DPoP" || in.Cnf["jkt"] != k.jkt() {
		t.Fatalf("introspect of a live DPoP-bound token = %s; want active, token_type DPoP, cnf.jkt %s", r.body, k.jkt())
	}
	after, err := e.m.Get(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !after.LastActiveAt.Equal(before.LastActiveAt) || !after.IdleExpiresAt.Equal(before.IdleExpiresAt) {
		t.Errorf("introspection without a proof moved the session's idle expiry %v → %v", before.IdleExpiresAt, after.IdleExpiresAt)
	}
	e.clock.Advance(2 * time.Minute)
	if _, err := e.m.Get(t.Context(), id); err == nil {
		t.Errorf("the session outlived its idle timeout on introspections of its token alone")
	}
}

// A device-bound (DBSC) session's token presented alone is a copied cookie:
// inactive, and recorded as the gateway records it, so the theft raises
// its event (and webhook, and alert).
func TestIntrospect_DeviceBoundRecordsRefusal(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyDatabase, nil)
	iss := e.createDeviceBound(t, "sam")
	r := e.postForm("/oauth2/introspect", url.Values{"token": {string(iss.AccessToken)}})
	if r.status != http.StatusOK || string(r.body) != "{\"active\":false}\n" {
		t.Fatalf("introspect of a device-bound token = %d %s; want 200 {\"active\":false}", r.status, r.body)
	}
	var found bool
	for _, l := range e.logLines() {
		if l["type"] != string(sessiond.EventDeviceProofRefused) {
			continue
		}
		found = true
		d, _ := l["details"].(map[string]any)
		if l["session_id"] != string(iss.Session.ID) || l["subject"] != "sam" || d["stage"] != "request" {
			t.Errorf("refusal event = %v; want session %s, subject sam, stage request", l, iss.Session.ID)
		}
	}
	if !found {
		t.Errorf("no %s event for a device-bound token introspected alone", sessiond.EventDeviceProofRefused)
	}
}

// A device-bound session's token introspected alone is a refused token,
// not a server error: sessiond_verify_total counts it as token_invalid
// (outcome "error" pages as a fault), and it raises no session.unknown_id
// event, since its session is known (the refusal has its own event).
func TestIntrospect_DeviceBoundCountsAsRefusal(t *testing.T) {
	for _, strategy := range []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid} {
		t.Run(string(strategy), func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var outcomes []string
			e := newObservedEnv(t, strategy, func(err error, _ time.Duration) {
				mu.Lock()
				defer mu.Unlock()
				outcomes = append(outcomes, metrics.VerifyOutcome(err))
			})
			iss := e.createDeviceBound(t, "sam")
			r := e.postForm("/oauth2/introspect", url.Values{"token": {string(iss.AccessToken)}})
			if r.status != http.StatusOK || string(r.body) != "{\"active\":false}\n" {
				t.Fatalf("introspect of a device-bound token = %d %s; want 200 {\"active\":false}", r.status, r.body)
			}
			mu.Lock()
			got := slices.Clone(outcomes)
			mu.Unlock()
			if want := []string{metrics.VerifyTokenInvalid}; !slices.Equal(got, want) {
				t.Errorf("verify outcomes = %q; want %q", got, want)
			}
			for _, l := range e.logLines() {
				if l["type"] == string(sessiond.EventUnknownToken) {
					t.Errorf("%s event for the token of a known session: %v", sessiond.EventUnknownToken, l)
				}
			}
		})
	}
}

// newObservedEnv is newEnv with the server's verify metric hook: observe
// gets every verification's error, as metrics.VerifyOutcome reads it.
func newObservedEnv(t *testing.T, strategy sessiond.Strategy, observe func(error, time.Duration)) *env {
	t.Helper()
	return newEnvWith(t, strategy, func(o *sessiond.Options) { o.VerifyObserver = observe }, nil)
}

// jwt.leeway is for other clocks; the introspecting server answers by its
// own, so a token past its exp is inactive, not "active" with a past exp
// (RFC 7662 §2.2).
func TestIntrospect_InactiveOncePastExp(t *testing.T) {
	for _, strategy := range []sessiond.Strategy{sessiond.StrategyJWT, sessiond.StrategyHybrid} {
		t.Run(string(strategy), func(t *testing.T) {
			t.Parallel()
			clock := sessiondtest.NewClock(t0)
			ring, err := jwttoken.NewRing(t0, jwttoken.RingOptions{MaxTokenLifetime: life.Refresh})
			if err != nil {
				t.Fatal(err)
			}
			signed, err := jwttoken.New(ring, jwttoken.Options{Issuer: "https://sessiond.test", Audience: "test-app", Leeway: 5 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			m, err := sessiond.New(t.Context(), sessiond.Options{
				Strategy: strategy, Store: memstore.New(), Signed: signed, Opaque: opaquetoken.Codec{},
				Lifetimes: life, Clock: clock, GCInterval: -1,
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { m.Close() })
			h, err := httpapi.New(httpapi.Options{Manager: m, Authenticate: authenticate, Clock: clock, JWKS: ring.JWKS,
				Ready: func(context.Context) error { return nil }})
			if err != nil {
				t.Fatal(err)
			}
			e := &env{t: t, srv: httptest.NewServer(h)}
			t.Cleanup(e.srv.Close)
			e.hc = e.srv.Client()
			iss, err := m.Create(t.Context(), "leeway", sessiond.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			clock.Set(iss.AccessExpiresAt.Add(-time.Second))
			if r := e.postForm("/oauth2/introspect", url.Values{"token": {string(iss.AccessToken)}}); !strings.Contains(string(r.body), `"active":true`) {
				t.Fatalf("a second before exp: %d %s; want active", r.status, r.body)
			}
			clock.Set(iss.AccessExpiresAt.Add(2 * time.Second)) // within the leeway
			r := e.postForm("/oauth2/introspect", url.Values{"token": {string(iss.AccessToken)}})
			if r.status != http.StatusOK || string(r.body) != "{\"active\":false}\n" {
				t.Errorf("past exp, within the leeway = %d %s; want 200 {\"active\":false}", r.status, r.body)
			}
		})
	}
}
