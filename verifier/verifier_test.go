package verifier_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/verifier"
	"github.com/sessiond/sessiond/verifier/stream"
)

func TestVerifier_Verify(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	sid, tok := s.token("alice")
	v, _ := s.newVerifier(nil)
	ctx := context.Background()
	c, err := v.Verify(ctx, tok)
	if err != nil {
		t.Fatalf("Verify(valid) = %v", err)
	}
	if c.Subject != "alice" || c.SessionID != string(sid) || c.Strategy != "hybrid" || c.TokenID == "" || c.Stale ||
		!c.AuthTime.Equal(s.clock.Now()) || !c.ExpiresAt.Equal(s.clock.Now().Add(life.Access)) {
		t.Errorf("claims = %+v", c)
	}
	// Cached: the same answer again.
	if c2, err := v.Verify(ctx, tok); err != nil || c2.SessionID != c.SessionID {
		t.Errorf("Verify again = %+v, %v", c2, err)
	}
	if err := s.m.Revoke(ctx, sid, sessiond.ReasonLogout); err != nil {
		t.Fatal(err)
	}
	eventually(t, "revoked token rejected", func() bool {
		_, err := v.Verify(ctx, tok)
		return errors.Is(err, sessiond.ErrRevoked)
	})
	// Other sessions are untouched.
	_, other := s.token("alice")
	if _, err := v.Verify(ctx, other); err != nil {
		t.Errorf("Verify(other session) = %v", err)
	}
}

// TestVerifier_DeviceBoundSession: the access token of a browser session
// bound to a device key (DBSC, Manager.BindDevice) authenticates only with
// the bound cookie that the gateway checks and no resource server sees.
// Presented as a bearer token it is a copied cookie: the server's
// introspection answers it inactive, and the verifier refuses it, as
// Bearer, WithDPoP and through the middleware, every time (it is never
// cached as valid). Tokens whose custom claims merely mention dbsc verify.
func TestVerifier_DeviceBoundSession(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	ctx := context.Background()
	iss, err := s.m.Create(ctx, "dana", sessiond.CreateOptions{Claims: json.RawMessage(`{"plan":"pro"}`)})
	if err != nil {
		t.Fatal(err)
	}
	jwk := json.RawMessage(`{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`)
	bound, err := s.m.BindDevice(ctx, iss.Session.ID, sessiond.DeviceBinding{ID: "dbsc-session-1", JKT: strings.Repeat("A", 43), JWK: jwk})
	if err != nil {
		t.Fatal(err)
	}
	tok := string(bound.AccessToken)
	if s.introspect(tok) {
		t.Fatal("harness: the server's introspection answers a device-bound session's token active")
	}
	v, _ := s.newVerifier(nil)
	for range 2 {
		if c, err := v.Verify(ctx, tok); !errors.Is(err, verifier.ErrDeviceBound) || !errors.Is(err, sessiond.ErrInvalidToken) {
			t.Fatalf("Verify(device-bound session's token) = %+v, %v; want ErrDeviceBound and ErrInvalidToken", c, err)
		}
	}
	if _, err := v.Verify(ctx, tok, verifier.WithDPoP("x.y.z", "GET", "https://api.example.test/")); !errors.Is(err, verifier.ErrDeviceBound) {
		t.Errorf("Verify(device-bound, WithDPoP) = %v; want ErrDeviceBound", err)
	}
	h := v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("the middleware let a device-bound session's token through")
	}))
	r := httptest.NewRequest(http.MethodGet, "/api", nil)
	r.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusUnauthorized || !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("middleware = %d, WWW-Authenticate %q; want 401 invalid_token", w.Code, w.Header().Get("WWW-Authenticate"))
	}

	// Controls: custom claims that name dbsc without a binding are no
	// binding, for the server as for the verifier. (A top-level dbsc
	// member of its own, with a key or without, is refused at login:
	// TestManager_DeviceBindingClaimsRefused.)
	for name, claims := range map[string]string{
		"dbsc as a value":         `{"feature":"dbsc"}`,
		"dbsc nested in a claim":  `{"app":{"dbsc":{"id":"x","jkt":"y"}}}`,
		"no custom claims at all": ``,
	} {
		iss, err := s.m.Create(ctx, "dana", sessiond.CreateOptions{Claims: json.RawMessage(claims)})
		if err != nil {
			t.Fatal(err)
		}
		if iss.Session.DeviceBound() || !s.introspect(string(iss.AccessToken)) {
			t.Fatalf("%s: harness: the server takes the session as device-bound", name)
		}
		if _, err := v.Verify(ctx, string(iss.AccessToken)); err != nil {
			t.Errorf("%s: Verify = %v; want the token valid", name, err)
		}
	}
}

func TestVerifier_SnapshotAtStart(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	sid, tok := s.token("bob")
	if err := s.m.Revoke(context.Background(), sid, sessiond.ReasonLogout); err != nil {
		t.Fatal(err)
	}
	s.setMarks([]stream.Watermark{{Subject: "carol", IssuedBefore: s.clock.Now()}})
	_, carol := s.token("carol")
	v, _ := s.newVerifier(nil)
	for name, tok := range map[string]string{"revoked before start": tok, "behind a watermark": carol} {
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, sessiond.ErrRevoked) {
			t.Errorf("%s: Verify = %v; want ErrRevoked", name, err)
		}
	}
}

func TestVerifier_Watermark(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	_, alice := s.token("alice")
	_, bob := s.token("bob")
	v, _ := s.newVerifier(nil)
	ctx := context.Background()
	s.appendEvent(httpapi.EventWatermarkRaised, map[string]any{"subjects": []string{"alice"},
		"issued_before": s.clock.Now().Format(time.RFC3339Nano)})
	eventually(t, "subject watermark", func() bool {
		_, err := v.Verify(ctx, alice)
		return errors.Is(err, sessiond.ErrRevoked)
	})
	if _, err := v.Verify(ctx, bob); err != nil {
		t.Errorf("another subject: Verify = %v", err)
	}
	s.appendEvent(httpapi.EventWatermarkRaised, map[string]any{"all": true, "issued_before": s.clock.Now().Format(time.RFC3339Nano)})
	eventually(t, "global watermark", func() bool {
		_, err := v.Verify(ctx, bob)
		return errors.Is(err, sessiond.ErrRevoked)
	})
	// A login after the incident (in a later second) is fine.
	s.clock.Advance(time.Second)
	_, later := s.token("bob")
	if _, err := v.Verify(ctx, later); err != nil {
		t.Errorf("session after the watermark: Verify = %v", err)
	}
}

func TestVerifier_KeyRetired(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	_, old := s.token("dave")
	// (Refetches are not rate-limited here: the event below fetched the
	// JWKS a moment before the new signer appears.)
	v, _ := s.newVerifier(func(o *verifier.Options) { o.MinRefetchInterval = time.Nanosecond })
	ctx := context.Background()
	if _, err := v.Verify(ctx, old); err != nil {
		t.Fatal(err)
	}
	kid := s.ring.Keys()[0].ID
	// The event arrives before the JWKS changes: the verifier must not
	// take the key back from a JWKS that still lists it.
	fetches := s.jwksCalls.Load()
	s.appendEvent(httpapi.EventKeysRetired, map[string]any{"kids": []string{kid}})
	eventually(t, "token of a retired key rejected", func() bool {
		_, err := v.Verify(ctx, old)
		return errors.Is(err, sessiond.ErrInvalidToken)
	})
	// The event's own refetch may still be under way, and a token of a
	// new kid joins a fetch under way rather than start another
	// (docs/verifier.md): one that began before the new signer appeared
	// cannot bring it. A token of a made-up kid waits for it to end.
	eventually(t, "the event's refetch reached the server", func() bool { return s.jwksCalls.Load() > fetches })
	if _, err := v.Verify(ctx, s.foreignToken()); !errors.Is(err, sessiond.ErrInvalidToken) {
		t.Fatalf("token of a made-up kid: Verify = %v; want ErrInvalidToken", err)
	}
	// A new signer appears in the JWKS and is fetched on first sight.
	if err := s.ring.RetireAll(s.clock.Now()); err != nil {
		t.Fatal(err)
	}
	_, fresh := s.token("dave")
	if _, err := v.Verify(ctx, fresh); err != nil {
		t.Errorf("token of the new signer: Verify = %v", err)
	}
	if _, err := v.Verify(ctx, old); !errors.Is(err, sessiond.ErrInvalidToken) {
		t.Errorf("old token after the JWKS changed: Verify = %v; want ErrInvalidToken", err)
	}
}

func TestVerifier_RefetchRateLimited(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	v, _ := s.newVerifier(func(o *verifier.Options) { o.MinRefetchInterval = time.Hour })
	tok := s.foreignToken()
	before := s.jwksCalls.Load()
	for range 50 {
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, sessiond.ErrInvalidToken) {
			t.Fatalf("foreign token: Verify = %v; want ErrInvalidToken", err)
		}
	}
	if n := s.jwksCalls.Load() - before; n != 0 {
		t.Errorf("50 unknown kids within MinRefetchInterval fetched the JWKS %d times; want 0", n)
	}
	// With the limit passed, an unknown kid fetches once.
	v2, _ := s.newVerifier(func(o *verifier.Options) { o.MinRefetchInterval = time.Nanosecond })
	before = s.jwksCalls.Load()
	v2.Verify(context.Background(), tok)
	if n := s.jwksCalls.Load() - before; n != 1 {
		t.Errorf("unknown kid past the limit fetched the JWKS %d times; want 1", n)
	}
}

func TestVerifier_Stale(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		policy verifier.StalePolicy
		want   error
	}{
		{"reject", verifier.RejectWhenStale, verifier.ErrStale},
		{"accept with warning", verifier.AcceptWhenStale, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, nil)
			ctx := context.Background()
			revokedSID, revokedTok := s.token("frank")
			s.m.Revoke(ctx, revokedSID, sessiond.ReasonLogout) // in the snapshot
			_, tok := s.token("frank")
			// The stream is held until released, so no heartbeat can mark
			// the state current behind the test's back: the snapshot at
			// New is the last proof (a heartbeat that came after the clock
			// moved used to make Status fresh again, now and then).
			release := make(chan struct{})
			s.setHook(func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != stream.StreamPath {
					return false
				}
				select {
				case <-release:
					return false
				case <-r.Context().Done():
					return true
				}
			})
			v, logs := s.newVerifier(func(o *verifier.Options) { o.MaxStaleness = time.Minute; o.WhenStale = c.policy })
			if cl, err := v.Verify(ctx, tok); err != nil || cl.Stale {
				t.Fatalf("fresh: Verify = %+v, %v", cl, err)
			}
			// Nothing proves the state current for longer than MaxStaleness.
			s.clock.Advance(time.Minute + time.Second)
			cl, err := v.Verify(ctx, tok)
			if !errors.Is(err, c.want) || (err == nil) != cl.Stale {
				t.Errorf("stale: Verify = %+v, %v; want %v", cl, err, c.want)
			}
			if !v.Status().Stale {
				t.Error("Status().Stale = false")
			}
			if c.policy == verifier.AcceptWhenStale && !strings.Contains(logs.String(), "stale") {
				t.Errorf("accepting a stale state logged no warning:\n%s", logs)
			}
			// A revoked token is rejected as revoked whatever the policy.
			if _, err := v.Verify(ctx, revokedTok); !errors.Is(err, sessiond.ErrRevoked) {
				t.Errorf("revoked token while stale: Verify = %v; want ErrRevoked", err)
			}
			// Once the stream runs, its heartbeat makes the state current
			// again, and revocations arrive over it.
			close(release)
			eventually(t, "fresh again", func() bool { return !v.Status().Stale })
			if cl, err := v.Verify(ctx, tok); err != nil || cl.Stale {
				t.Errorf("after the stream resumed: Verify = %+v, %v; want it valid and not stale", cl, err)
			}
			sid, tok2 := s.token("frank")
			s.m.Revoke(ctx, sid, sessiond.ReasonLogout)
			eventually(t, "revocation over the stream", func() bool {
				_, err := v.Verify(ctx, tok2)
				return errors.Is(err, sessiond.ErrRevoked)
			})
		})
	}
}

func TestVerifier_ClaimsChecks(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	_, tok := s.token("gina")
	v, _ := s.newVerifier(nil)
	ctx := context.Background()
	parts := strings.Split(tok, ".")
	for name, bad := range map[string]string{
		"empty":                "",
		"oversized":            strings.Repeat("a", verifier.MaxTokenBytes+1),
		"not a JWT":            "hello",
		"signature cut":        parts[0] + "." + parts[1] + ".",
		"signature of another": parts[0] + "." + parts[1] + "." + strings.Split(s.tokenOnly("gina2"), ".")[2],
		"payload swapped":      parts[0] + "." + strings.Split(s.tokenOnly("root"), ".")[1] + "." + parts[2],
		"alg none":             "eyJhbGciOiJub25lIiwidHlwIjoiYXQrand0In0." + parts[1] + ".",
	} {
		if _, err := v.Verify(ctx, bad); !errors.Is(err, sessiond.ErrInvalidToken) {
			t.Errorf("%s: Verify = %v; want ErrInvalidToken", name, err)
		}
	}
	// Wrong issuer or audience.
	for name, o := range map[string]jwttoken.Options{
		"issuer":   {Issuer: "https://evil.test", Audience: audience},
		"audience": {Issuer: issuer, Audience: "other-app"},
	} {
		codec, _ := jwttoken.New(s.ring, o)
		now := s.clock.Now()
		tok, err := codec.Sign(sessiond.KindAccess, sessiond.TokenClaims{SessionID: "sess-x", Subject: "gina", Strategy: sessiond.StrategyHybrid,
			IssuedAt: now, ExpiresAt: now.Add(time.Minute), AuthTime: now, SessionExpiresAt: now.Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, string(tok)); !errors.Is(err, sessiond.ErrInvalidToken) {
			t.Errorf("wrong %s: Verify = %v; want ErrInvalidToken", name, err)
		}
	}
	// Expired, from the cache and cold.
	s.clock.Advance(life.Access + verifier.DefaultLeeway)
	if _, err := v.Verify(ctx, tok); !errors.Is(err, sessiond.ErrExpired) {
		t.Errorf("expired (cached): Verify = %v; want ErrExpired", err)
	}
	if _, err := v.Verify(ctx, tok); !errors.Is(err, sessiond.ErrExpired) {
		t.Errorf("expired (cold): Verify = %v; want ErrExpired", err)
	}
}

func (s *server) tokenOnly(subject string) string { _, t := s.token(subject); return t }

func TestNew_Options(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	good := verifier.Options{URL: s.srv.URL, APIKey: apiKey, Issuer: issuer, Audience: audience}
	for name, edit := range map[string]func(*verifier.Options){
		"no URL":         func(o *verifier.Options) { o.URL = "" },
		"ftp URL":        func(o *verifier.Options) { o.URL = "ftp://h" },
		"URL with user":  func(o *verifier.Options) { o.URL = "http://u:p@h" },
		"no API key":     func(o *verifier.Options) { o.APIKey = "" },
		"no issuer":      func(o *verifier.Options) { o.Issuer = "" },
		"no audience":    func(o *verifier.Options) { o.Audience = "" },
		"big leeway":     func(o *verifier.Options) { o.Leeway = time.Hour },
		"bad policy":     func(o *verifier.Options) { o.WhenStale = 9 },
		"negative stale": func(o *verifier.Options) { o.MaxStaleness = -1 },
	} {
		o := good
		edit(&o)
		if _, err := verifier.New(context.Background(), o); !errors.Is(err, sessiond.ErrInvalidArgument) {
			t.Errorf("%s: New = %v; want ErrInvalidArgument", name, err)
		}
	}
	o := good
	o.APIKey = "sdk_wrong"
	if _, err := verifier.New(context.Background(), o); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong API key: New = %v; want the snapshot's 401", err)
	}
}

func TestMiddleware(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	sid, tok := s.token("henry")
	serve := func(v *verifier.Verifier) *httptest.Server {
		app := httptest.NewServer(v.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, ok := verifier.ClaimsFrom(r.Context())
			if !ok {
				t.Error("no claims in the context")
			}
			w.Write([]byte(c.Subject))
		})))
		t.Cleanup(app.Close)
		return app
	}
	get := func(app *httptest.Server, auth string) (int, string) {
		req, _ := http.NewRequest(http.MethodGet, app.URL, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := app.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	v, _ := s.newVerifier(func(o *verifier.Options) { o.MaxStaleness = time.Minute })
	app := serve(v)
	if code, body := get(app, "Bearer "+tok); code != 200 || body != "henry" {
		t.Errorf("valid token = %d %q", code, body)
	}
	if code, body := get(app, "bearer  "+tok); code != 200 || body != "henry" {
		t.Errorf("lower-case scheme = %d %q", code, body)
	}
	// Two Authorization headers, even two good ones: a proxy in front
	// could read the other.
	req, _ := http.NewRequest(http.MethodGet, app.URL, nil)
	req.Header["Authorization"] = []string{"Bearer " + tok, "Bearer " + tok}
	if resp, err := app.Client().Do(req); err != nil || resp.StatusCode != 401 {
		t.Errorf("two Authorization headers = %v, %v; want 401", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}
	for name, auth := range map[string]string{"none": "", "basic": "Basic dTpw", "garbage": "Bearer x.y.z", "two": "Bearer a b"} {
		if code, _ := get(app, auth); code != 401 {
			t.Errorf("%s: %d; want 401", name, code)
		}
	}
	s.m.Revoke(context.Background(), sid, sessiond.ReasonLogout)
	eventually(t, "middleware rejects the revoked token", func() bool { code, _ := get(app, "Bearer "+tok); return code == 401 })

	// Stale: a verifier whose stream never answers, so that no heartbeat
	// can mark its state current after the clock moves (the first
	// verifier's could, now and then).
	s.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != stream.StreamPath {
			return false
		}
		<-r.Context().Done()
		return true
	})
	held, _ := s.newVerifier(func(o *verifier.Options) { o.MaxStaleness = time.Minute })
	stale := serve(held)
	_, tok2 := s.token("henry")
	if code, _ := get(stale, "Bearer "+tok2); code != 200 {
		t.Errorf("before the clock moves: %d; want 200", code)
	}
	s.clock.Advance(2 * time.Minute)
	if code, _ := get(stale, "Bearer "+tok2); code != 503 {
		t.Errorf("stale state: %d; want 503", code)
	}
}
