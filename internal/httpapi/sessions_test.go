package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/httpapi"
)

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("%q: %v", a, err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("%q: %v", b, err)
	}
	return reflect.DeepEqual(x, y)
}

// TestAPI_Flow runs the life of a session through the client, for each
// strategy, checking what every route answers.
func TestAPI_Flow(t *testing.T) {
	eachStrategy(t, strategies, func(t *testing.T, e *env) {
		ctx := t.Context()
		stateful := e.strategy != sessiond.StrategyJWT
		browser := sessiond.Client{IP: "203.0.113.9", UserAgent: "Mozilla/5.0"}

		// Login.
		tr, err := e.c.CreateSession(ctx, client.CreateRequest{
			Subject: "user-42", Claims: json.RawMessage(`{ "role": "admin", "tenant": "acme" }`), Client: browser,
		})
		if err != nil {
			t.Fatalf("CreateSession = %v", err)
		}
		s := tr.Session
		if !s.ID.Valid() || s.Subject != "user-42" || s.Strategy != e.strategy || s.Persistent || s.Client != browser {
			t.Errorf("CreateSession session = %+v", s)
		}
		if string(s.Claims) != `{"role":"admin","tenant":"acme"}` {
			t.Errorf("CreateSession claims = %s; want them compacted", s.Claims)
		}
		if !s.CreatedAt.Equal(t0) || !s.LastActiveAt.Equal(t0) || !s.ExpiresAt.Equal(t0.Add(life.Absolute)) {
			t.Errorf("CreateSession times: created %v, last active %v, expires %v; want %v, %v, %v",
				s.CreatedAt, s.LastActiveAt, s.ExpiresAt, t0, t0, t0.Add(life.Absolute))
		}
		if s.CreatedAt.Location() != time.UTC {
			t.Errorf("CreatedAt location = %v; want UTC", s.CreatedAt.Location())
		}
		if tr.TokenType != "Bearer" || tr.AccessToken == "" {
			t.Errorf("CreateSession token type %q, access token empty %v", tr.TokenType, tr.AccessToken == "")
		}
		accessExp := t0.Add(life.Access)
		if e.strategy == sessiond.StrategyDatabase {
			accessExp = s.ExpiresAt
			if tr.RefreshToken != "" || !tr.RefreshTokenExpiresAt.IsZero() {
				t.Errorf("database CreateSession refresh token set (expires %v); want none", tr.RefreshTokenExpiresAt)
			}
			if !s.IdleExpiresAt.Equal(t0.Add(life.Idle)) {
				t.Errorf("IdleExpiresAt = %v; want %v", s.IdleExpiresAt, t0.Add(life.Idle))
			}
		} else {
			if tr.RefreshToken == "" || !tr.RefreshTokenExpiresAt.Equal(s.IdleExpiresAt) {
				t.Errorf("CreateSession refresh token empty %v, expires %v; want one expiring at %v",
					tr.RefreshToken == "", tr.RefreshTokenExpiresAt, s.IdleExpiresAt)
			}
			if !s.IdleExpiresAt.Equal(accessExp.Add(life.Idle)) {
				t.Errorf("IdleExpiresAt = %v; want %v", s.IdleExpiresAt, accessExp.Add(life.Idle))
			}
		}
		if !tr.AccessTokenExpiresAt.Equal(accessExp) {
			t.Errorf("AccessTokenExpiresAt = %v; want %v", tr.AccessTokenExpiresAt, accessExp)
		}

		// Verify.
		got, err := e.c.Verify(ctx, tr.AccessToken, &sessiond.Client{IP: "203.0.113.9"})
		if err != nil {
			t.Fatalf("Verify = %v", err)
		}
		if got.ID != s.ID || got.Subject != s.Subject || !jsonEqual(t, got.Claims, s.Claims) {
			t.Errorf("Verify = %+v; want session %s", got, s.ID)
		}
		if _, err := e.c.Verify(ctx, tr.AccessToken, nil); err != nil {
			t.Errorf("Verify without client = %v", err)
		}

		// Introspect (RFC 7662).
		in, err := e.c.Introspect(ctx, tr.AccessToken)
		if err != nil {
			t.Fatalf("Introspect = %v", err)
		}
		wantExp := accessExp.Truncate(time.Second)
		if e.strategy == sessiond.StrategyDatabase {
			wantExp = s.IdleExpiresAt.Truncate(time.Second)
		}
		want := client.Introspection{Active: true, TokenType: "Bearer", Subject: "user-42", SessionID: s.ID,
			ExpiresAt: wantExp, IssuedAt: t0.Truncate(time.Second)}
		if *in != want {
			t.Errorf("Introspect = %+v; want %+v", *in, want)
		}

		// Refresh.
		e.clock.Advance(time.Minute)
		if e.strategy == sessiond.StrategyDatabase {
			_, err := e.c.Refresh(ctx, tr.AccessToken, nil)
			wantCode(t, "database Refresh", err, http.StatusBadRequest, "invalid_request", sessiond.ErrInvalidArgument)
			if ce, ok := err.(*client.Error); ok && ce.Detail != "the database strategy cannot do this" {
				t.Errorf("database Refresh detail = %q", ce.Detail)
			}
		} else {
			next, err := e.c.Refresh(ctx, tr.RefreshToken, &browser)
			if err != nil {
				t.Fatalf("Refresh = %v", err)
			}
			if next.Session.ID != s.ID || next.AccessToken == tr.AccessToken || next.RefreshToken == "" || next.RefreshToken == tr.RefreshToken {
				t.Errorf("Refresh: same session %v, new access token %v, new refresh token %v",
					next.Session.ID == s.ID, next.AccessToken != tr.AccessToken, next.RefreshToken != tr.RefreshToken)
			}
			if !next.Session.LastActiveAt.Equal(t0.Add(time.Minute)) {
				t.Errorf("Refresh LastActiveAt = %v; want %v", next.Session.LastActiveAt, t0.Add(time.Minute))
			}
			if _, err := e.c.Verify(ctx, next.AccessToken, nil); err != nil {
				t.Errorf("Verify(refreshed) = %v", err)
			}
		}

		// The stateful routes: in jwt, each is 400 invalid_request.
		second := e.create("user-42")
		if !stateful {
			_, err := e.c.GetSession(ctx, s.ID)
			wantCode(t, "jwt GetSession", err, http.StatusBadRequest, "invalid_request", sessiond.ErrInvalidArgument)
			_, err = e.c.ListSessions(ctx, "user-42")
			wantCode(t, "jwt ListSessions", err, http.StatusBadRequest, "invalid_request", sessiond.ErrInvalidArgument)
			_, err = e.c.Rotate(ctx, s.ID)
			wantCode(t, "jwt Rotate", err, http.StatusBadRequest, "invalid_request", sessiond.ErrInvalidArgument)
			err = e.c.RevokeSession(ctx, s.ID)
			wantCode(t, "jwt RevokeSession", err, http.StatusBadRequest, "invalid_request", sessiond.ErrInvalidArgument)
			_, err = e.c.RevokeSubject(ctx, "user-42", "")
			wantCode(t, "jwt RevokeSubject", err, http.StatusBadRequest, "invalid_request", sessiond.ErrInvalidArgument)
			err = e.c.RevokeToken(ctx, tr.AccessToken, "")
			wantCode(t, "jwt RevokeToken", err, http.StatusBadRequest, "unsupported_token_type", sessiond.ErrUnsupported)
			if _, err := e.c.Verify(ctx, tr.AccessToken, nil); err != nil {
				t.Errorf("jwt Verify after refused revocations = %v", err)
			}
		} else {
			g, err := e.c.GetSession(ctx, s.ID)
			if err != nil || g.ID != s.ID || !jsonEqual(t, g.Claims, s.Claims) {
				t.Errorf("GetSession = %+v, %v", g, err)
			} else if g.Client != browser {
				t.Errorf("GetSession client = %+v; want %+v", g.Client, browser)
			}
			list, err := e.c.ListSessions(ctx, "user-42")
			if err != nil || len(list) != 2 || list[0].ID != s.ID || list[1].ID != second.Session.ID {
				t.Errorf("ListSessions = %v, %v; want [%s %s]", list, err, s.ID, second.Session.ID)
			}
			if string(list[1].Claims) != "{}" {
				t.Errorf("session without claims has claims %s; want {}", list[1].Claims)
			}

			rot, err := e.c.Rotate(ctx, s.ID)
			if err != nil {
				t.Fatalf("Rotate = %v", err)
			}
			if rot.Session.ID == s.ID || !rot.Session.ExpiresAt.Equal(s.ExpiresAt) || rot.Session.Subject != s.Subject {
				t.Errorf("Rotate = %+v; want a new ID, the same subject and expiry", rot.Session)
			}
			_, err = e.c.Verify(ctx, tr.AccessToken, nil)
			wantCode(t, "Verify(rotated away)", err, http.StatusUnauthorized, "session_revoked", sessiond.ErrRevoked)
			if _, err := e.c.Verify(ctx, rot.AccessToken, nil); err != nil {
				t.Errorf("Verify(rotated) = %v", err)
			}

			n, err := e.c.RevokeSubject(ctx, "user-42", rot.Session.ID)
			if err != nil || n != 1 {
				t.Errorf("RevokeSubject(except rotated) = %d, %v; want 1", n, err)
			}
			list, err = e.c.ListSessions(ctx, "user-42")
			if err != nil || len(list) != 1 || list[0].ID != rot.Session.ID {
				t.Errorf("ListSessions after RevokeSubject = %v, %v; want [%s]", list, err, rot.Session.ID)
			}

			if err := e.c.RevokeSession(ctx, rot.Session.ID); err != nil {
				t.Errorf("RevokeSession = %v", err)
			}
			if err := e.c.RevokeSession(ctx, rot.Session.ID); err != nil {
				t.Errorf("RevokeSession again = %v; want nil", err)
			}
			_, err = e.c.Verify(ctx, rot.AccessToken, nil)
			wantCode(t, "Verify(revoked)", err, http.StatusUnauthorized, "session_revoked", sessiond.ErrRevoked)
			_, err = e.c.GetSession(ctx, rot.Session.ID)
			wantCode(t, "GetSession(revoked)", err, http.StatusNotFound, "not_found", sessiond.ErrNotFound)
			list, err = e.c.ListSessions(ctx, "user-42")
			if err != nil || len(list) != 0 || list == nil {
				t.Errorf("ListSessions of a subject without sessions = %#v, %v; want []", list, err)
			}
			n, err = e.c.RevokeSubject(ctx, "user-42", "")
			if err != nil || n != 0 {
				t.Errorf("RevokeSubject(nothing left) = %d, %v; want 0", n, err)
			}

			// RFC 7009 revocation of an access token.
			third := e.create("user-7")
			if err := e.c.RevokeToken(ctx, third.AccessToken, "access_token"); err != nil {
				t.Errorf("RevokeToken = %v", err)
			}
			_, err = e.c.Verify(ctx, third.AccessToken, nil)
			wantCode(t, "Verify after RevokeToken", err, http.StatusUnauthorized, "session_revoked", sessiond.ErrRevoked)
		}

		// Public routes.
		jwks, err := e.c.JWKS(ctx)
		if e.strategy == sessiond.StrategyDatabase {
			wantCode(t, "database JWKS", err, http.StatusNotFound, "not_found", sessiond.ErrNotFound)
		} else {
			var set struct {
				Keys []map[string]any `json:"keys"`
			}
			if err != nil || json.Unmarshal(jwks, &set) != nil || len(set.Keys) == 0 {
				t.Errorf("JWKS = %s, %v; want a key set", jwks, err)
			}
		}
		if err := e.c.Health(ctx); err != nil {
			t.Errorf("Health = %v", err)
		}
		if err := e.c.Ready(ctx); err != nil {
			t.Errorf("Ready = %v", err)
		}
	})
}

// TestAPI_ErrorCodes reaches every problem code through the client and
// checks it matches the library's sentinel.
func TestAPI_ErrorCodes(t *testing.T) {
	type tc struct {
		name     string
		strategy sessiond.Strategy
		run      func(e *env) error
		status   int
		code     string
		target   error
	}
	tamper := func(tok sessiond.Secret) sessiond.Secret {
		b := []byte(tok)
		i := len(b) - 5
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return sessiond.Secret(b)
	}
	verify := func(e *env, tr *client.TokenResponse) error {
		_, err := e.c.Verify(e.t.Context(), tr.AccessToken, nil)
		return err
	}
	refresh := func(e *env, tr *client.TokenResponse) error {
		_, err := e.c.Refresh(e.t.Context(), tr.RefreshToken, nil)
		return err
	}
	// after creates a session, lets d pass, then uses it.
	after := func(d time.Duration, use func(*env, *client.TokenResponse) error) func(e *env) error {
		return func(e *env) error {
			tr := e.create("u")
			e.clock.Advance(d)
			return use(e, tr)
		}
	}
	var cases []tc
	for _, st := range strategies {
		cases = append(cases,
			tc{"token_invalid/tampered/" + string(st), st, func(e *env) error {
				_, err := e.c.Verify(e.t.Context(), tamper(e.create("u").AccessToken), nil)
				return err
			}, 401, "token_invalid", sessiond.ErrInvalidToken},
			tc{"token_invalid/garbage/" + string(st), st, func(e *env) error {
				_, err := e.c.Verify(e.t.Context(), "' OR 1=1 --\x00ünïcode", nil)
				return err
			}, 401, "token_invalid", sessiond.ErrInvalidToken},
			tc{"token_invalid/10KiB/" + string(st), st, func(e *env) error {
				_, err := e.c.Verify(e.t.Context(), sessiond.Secret(make10K()), nil)
				return err
			}, 401, "token_invalid", sessiond.ErrInvalidToken},
			tc{"not_found/unknown/" + string(st), st, func(e *env) error {
				if st == sessiond.StrategyJWT {
					_, err := e.c.GetSession(e.t.Context(), "not-a-session-id")
					return err
				}
				_, err := e.c.GetSession(e.t.Context(), sessiond.NewSessionID())
				return err
			}, 404, "not_found", sessiond.ErrNotFound},
			tc{"unauthorized/" + string(st), st, func(e *env) error {
				_, err := e.client("wrong-key").CreateSession(e.t.Context(), client.CreateRequest{Subject: "u"})
				return err
			}, 401, "unauthorized", client.ErrUnauthorized},
		)
	}
	cases = append(cases,
		tc{"token_invalid/access token as refresh token", sessiond.StrategyHybrid, func(e *env) error {
			_, err := e.c.Refresh(e.t.Context(), e.create("u").AccessToken, nil)
			return err
		}, 401, "token_invalid", sessiond.ErrInvalidToken},
		tc{"token_invalid/refresh token as access token", sessiond.StrategyJWT, func(e *env) error {
			_, err := e.c.Verify(e.t.Context(), e.create("u").RefreshToken, nil)
			return err
		}, 401, "token_invalid", sessiond.ErrInvalidToken},
		tc{"token_expired/hybrid access token", sessiond.StrategyHybrid, after(life.Access+time.Second, verify), 401, "token_expired", sessiond.ErrExpired},
		tc{"idle_timeout/jwt refresh token", sessiond.StrategyJWT, after(life.Access+life.Idle+time.Second, refresh), 401, "idle_timeout", sessiond.ErrIdleTimeout},
		tc{"idle_timeout/database verify", sessiond.StrategyDatabase, after(life.Idle+time.Second, verify), 401, "idle_timeout", sessiond.ErrIdleTimeout},
		tc{"idle_timeout/hybrid refresh", sessiond.StrategyHybrid, after(life.Access+life.Idle+time.Second, refresh), 401, "idle_timeout", sessiond.ErrIdleTimeout},
		tc{"absolute_timeout/database persistent", sessiond.StrategyDatabase, func(e *env) error {
			tr, err := e.c.CreateSession(e.t.Context(), client.CreateRequest{Subject: "u", Persistent: true})
			if err != nil {
				return err
			}
			e.clock.Advance(life.Refresh + time.Second)
			_, err = e.c.Verify(e.t.Context(), tr.AccessToken, nil)
			return err
		}, 401, "absolute_timeout", sessiond.ErrAbsoluteTimeout},
		tc{"absolute_timeout/database active", sessiond.StrategyDatabase, func(e *env) error {
			tr := e.create("u")
			for range int(life.Absolute/(20*time.Minute)) - 1 {
				e.clock.Advance(20 * time.Minute)
				if _, err := e.c.Verify(e.t.Context(), tr.AccessToken, nil); err != nil {
					e.t.Fatalf("Verify while active = %v", err)
				}
			}
			e.clock.Advance(20 * time.Minute)
			_, err := e.c.Verify(e.t.Context(), tr.AccessToken, nil)
			return err
		}, 401, "absolute_timeout", sessiond.ErrAbsoluteTimeout},
		tc{"session_revoked/hybrid", sessiond.StrategyHybrid, func(e *env) error {
			tr := e.create("u")
			if err := e.c.RevokeSession(e.t.Context(), tr.Session.ID); err != nil {
				return err
			}
			_, err := e.c.Refresh(e.t.Context(), tr.RefreshToken, nil)
			return err
		}, 401, "session_revoked", sessiond.ErrRevoked},
		tc{"refresh_token_reused", sessiond.StrategyHybrid, func(e *env) error {
			tr := e.create("u")
			next, err := e.c.Refresh(e.t.Context(), tr.RefreshToken, nil)
			if err != nil {
				return err
			}
			e.clock.Advance(6 * time.Second) // past the reuse interval
			_, err = e.c.Refresh(e.t.Context(), tr.RefreshToken, nil)
			wantCode(e.t, "Refresh(retired)", err, 401, "refresh_token_reused", sessiond.ErrRefreshReused)
			// The whole family is dead.
			_, err = e.c.Refresh(e.t.Context(), next.RefreshToken, nil)
			return err
		}, 401, "session_revoked", sessiond.ErrRevoked},
		tc{"not_found/invalid id", sessiond.StrategyDatabase, func(e *env) error {
			return e.c.RevokeSession(e.t.Context(), "..")
		}, 404, "not_found", sessiond.ErrNotFound},
		tc{"not_found/rotate unknown", sessiond.StrategyHybrid, func(e *env) error {
			_, err := e.c.Rotate(e.t.Context(), sessiond.NewSessionID())
			return err
		}, 404, "not_found", sessiond.ErrNotFound},
		tc{"invalid_request/subject too long", sessiond.StrategyHybrid, func(e *env) error {
			_, err := e.c.ListSessions(e.t.Context(), string(make([]byte, 257)))
			return err
		}, 400, "invalid_request", sessiond.ErrInvalidArgument},
		tc{"invalid_request/except not an ID", sessiond.StrategyHybrid, func(e *env) error {
			_, err := e.c.RevokeSubject(e.t.Context(), "u", "nope")
			return err
		}, 400, "invalid_request", sessiond.ErrInvalidArgument},
		tc{"store_unavailable/create", sessiond.StrategyHybrid, func(e *env) error {
			e.store.Close()
			_, err := e.c.CreateSession(e.t.Context(), client.CreateRequest{Subject: "u"})
			return err
		}, 503, "store_unavailable", sessiond.ErrStoreUnavailable},
		tc{"store_unavailable/database verify", sessiond.StrategyDatabase, func(e *env) error {
			tr := e.create("u")
			e.store.Close()
			_, err := e.c.Verify(e.t.Context(), tr.AccessToken, nil)
			return err
		}, 503, "store_unavailable", sessiond.ErrStoreUnavailable},
		tc{"store_unavailable/API key store", sessiond.StrategyHybrid, func(e *env) error {
			_, err := e.client(outageKey).ListSessions(e.t.Context(), "u")
			return err
		}, 503, "store_unavailable", sessiond.ErrStoreUnavailable},
		tc{"internal/panic", sessiond.StrategyHybrid, func(e *env) error {
			_, err := e.client(panicKey).CreateSession(e.t.Context(), client.CreateRequest{Subject: "u"})
			return err
		}, 500, "internal", nil},
	)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, c.strategy, nil)
			wantCode(t, c.name, c.run(e), c.status, c.code, c.target)
		})
	}
}

func make10K() []byte {
	b := make([]byte, 10<<10)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

// TestAPI_ReadyShuttingDown: a server draining before its stop is not
// ready, with the same status and code (balancers and the Go client see
// the store_unavailable they know) and a detail saying why.
func TestAPI_ReadyShuttingDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
		o.Ready = func(context.Context) error { return httpapi.ErrShuttingDown }
	})
	wantCode(t, "Ready", e.c.Ready(t.Context()), 503, "store_unavailable", sessiond.ErrStoreUnavailable)
	r := e.do(http.MethodGet, "/readyz", "", nil, map[string]string{"Authorization": ""})
	wantProblem(t, "GET /readyz", r, 503, "store_unavailable", "the server is shutting down")
}

// TestAPI_ReadyShuttingDownNotAnError: the 503s /readyz answers during a
// stop's shutdown delay are logged INFO, as a stop is planned: an ERROR
// line per probe at every rolling restart would page whoever alerts on
// ERROR lines (operations.md: an ERROR request line is a 5xx to look at).
// A store that fails readiness stays ERROR.
func TestAPI_ReadyShuttingDownNotAnError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		err       error
		wantLevel string
	}{
		{"shutting down", httpapi.ErrShuttingDown, "INFO"},
		{"shutting down wrapped", fmt.Errorf("drain: %w", httpapi.ErrShuttingDown), "INFO"},
		{"store down", errors.New("store hangs"), "ERROR"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
				o.Ready = func(context.Context) error { return tc.err }
			})
			r := e.do(http.MethodGet, "/readyz", "", nil, map[string]string{"Authorization": ""})
			if r.status != http.StatusServiceUnavailable {
				t.Fatalf("GET /readyz = %d, want 503", r.status)
			}
			var line map[string]any
			for _, l := range requestLines(e.logLines()) {
				if l["pattern"] == "GET /readyz" {
					line = l
				}
			}
			if line == nil {
				t.Fatalf("no request line for /readyz in %s", e.logs.String())
			}
			if line["level"] != tc.wantLevel || line["status"] != float64(503) || line["code"] != "store_unavailable" {
				t.Errorf("/readyz logged as level %v status %v code %v; want %s 503 store_unavailable",
					line["level"], line["status"], line["code"], tc.wantLevel)
			}
		})
	}
}

// TestAPI_Ready covers /readyz when the store does not answer.
func TestAPI_Ready(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
		o.Ready = func(context.Context) error { return fmt.Errorf("ping: %w", sessiond.ErrStoreUnavailable) }
	})
	wantCode(t, "Ready", e.c.Ready(t.Context()), 503, "store_unavailable", sessiond.ErrStoreUnavailable)
	r := e.do(http.MethodGet, "/readyz", "", nil, map[string]string{"Authorization": ""})
	wantProblem(t, "GET /readyz", r, 503, "store_unavailable", "")
	if r.header.Get("Retry-After") != "1" {
		t.Errorf("Retry-After = %q; want 1", r.header.Get("Retry-After"))
	}
	if strings.Contains(string(r.body), "ping") {
		t.Errorf("503 body %s echoes the cause", r.body)
	}
	if err := e.c.Health(t.Context()); err != nil {
		t.Errorf("Health while not ready = %v; want nil", err)
	}

	other := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
		o.Ready = func(context.Context) error { return errors.New("migrations pending") }
	})
	wantCode(t, "Ready(any error)", other.c.Ready(t.Context()), 503, "store_unavailable", sessiond.ErrStoreUnavailable)
}

// TestAPI_Recovery: a panic answers 500 internal, is logged with its
// stack, and the server goes on serving.
func TestAPI_Recovery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	r := e.do(http.MethodGet, "/v1/subjects/u/sessions", "", nil, map[string]string{"Authorization": "Bearer " + panicKey})
	wantProblem(t, "panicking request", r, 500, "internal", "")
	if strings.Contains(string(r.body), "exploded") {
		t.Errorf("500 body %s echoes the panic", r.body)
	}
	if _, err := e.c.ListSessions(t.Context(), "u"); err != nil {
		t.Errorf("request after the panic = %v", err)
	}
	r = e.do(http.MethodPost, "/oauth2/introspect", "application/x-www-form-urlencoded", []byte("token=x"),
		map[string]string{"Authorization": "Bearer " + panicKey})
	wantOAuthError(t, "panicking /oauth2 request", r, 500, "server_error")
	var sawPanic bool
	for _, l := range e.logLines() {
		if l["msg"] == "panic recovered" {
			sawPanic = true
			if s, _ := l["stack"].(string); !strings.Contains(s, "authenticate") || l["request_id"] == "" {
				t.Errorf("panic log line = %v; want the stack and request ID", l)
			}
		}
	}
	if !sawPanic {
		t.Error("no panic log line")
	}
}

// TestRevoke_UnknownQueryParameter: the routes that revoke refuse a query
// parameter they do not take, before revoking anything: a mistyped except
// (?exept=ID) was ignored, and the session the caller meant to keep was
// revoked with the rest; a mistyped reason recorded an admin's revocation
// as the user's logout.
func TestRevoke_UnknownQueryParameter(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	keep, other := e.create("alice"), e.create("alice")
	for _, target := range []string{
		"/v1/subjects/alice/sessions?exept=" + string(keep.Session.ID),
		"/v1/subjects/alice/sessions?except=" + string(keep.Session.ID) + "&all=1",
		"/v1/sessions/" + string(other.Session.ID) + "?reasn=admin",
	} {
		r := e.do(http.MethodDelete, target, "", nil, nil)
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.body), "unknown query parameter") {
			t.Errorf("DELETE %s = %d %s; want 400 naming the unknown parameter", target, r.status, r.body)
		}
	}
	ss, err := e.c.ListSessions(t.Context(), "alice")
	if err != nil || len(ss) != 2 {
		t.Errorf("alice's live sessions after the refused requests: %d, %v; want 2", len(ss), err)
	}
	// The parameters they take still work.
	if r := e.do(http.MethodDelete, "/v1/subjects/alice/sessions?except="+string(keep.Session.ID), "", nil, nil); r.status != http.StatusOK {
		t.Errorf("DELETE with except = %d %s; want 200", r.status, r.body)
	}
	if r := e.do(http.MethodDelete, "/v1/sessions/"+string(keep.Session.ID)+"?reason=admin", "", nil, nil); r.status != http.StatusNoContent {
		t.Errorf("DELETE with reason = %d %s; want 204", r.status, r.body)
	}
}

// TestAPI_VerifyStrictBodyAnswersAsFlat: a verify body the flat parser
// leaves to encoding/json (an escape, spacing, a client) decodes into its
// own request and is answered byte for byte as the flat one.
func TestAPI_VerifyStrictBodyAnswersAsFlat(t *testing.T) {
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	at := string(e.create("alice").AccessToken)
	want := e.postJSON("/v1/sessions/verify", `{"access_token":"`+at+`"}`)
	if want.status != http.StatusOK {
		t.Fatalf("verify = %d %s; want 200", want.status, want.body)
	}
	for _, body := range []string{
		`{"access_token":"\u00` + fmt.Sprintf("%02x", at[0]) + at[1:] + `"}`,
		` { "client" : { "ip" : "192.0.2.1" } , "access_token" : "` + at + `" } `,
		`{"access_token":"` + strings.Replace(at, ".", `\u002e`, 1) + `"}`,
	} {
		got := e.postJSON("/v1/sessions/verify", body)
		if got.status != want.status || string(got.body) != string(want.body) {
			t.Errorf("verify %s = %d %s; want %d %s", body, got.status, got.body, want.status, want.body)
		}
	}
}

// TestAPI_VerifyStrictBodyKeepsEveryField: what encoding/json decodes for
// a body the flat parser leaves (here, an escape in a value) reaches the
// handler whole, not the token alone: the client (a bad IP is refused)
// and the DPoP proof of a key-bound session (the owner gets in).
func TestAPI_VerifyStrictBodyKeepsEveryField(t *testing.T) {
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	at := string(e.create("alice").AccessToken)
	wantProblem(t, "verify with a bad client.ip", e.postJSON("/v1/sessions/verify",
		`{"access_token":"`+at+`","client":{"ip":"n\u006ft an ip"}}`), http.StatusBadRequest, "invalid_request", "client.ip")

	k := newProofKey(t)
	r := e.postJSON("/v1/sessions", jsonBody(t, map[string]any{"subject": "ann",
		"dpop_proof": k.proof("POST", appTokenURL, "", ""), "htm": "POST", "htu": appTokenURL}))
	if r.status != http.StatusCreated {
		t.Fatalf("create bound = %d %s; want 201", r.status, r.body)
	}
	var tr struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.Unmarshal(r.body, &tr); err != nil {
		t.Fatal(err)
	}
	body := jsonBody(t, map[string]any{"access_token": tr.AccessToken,
		"dpop_proof": k.proof("GET", appAPIURL, tr.AccessToken, ""), "htm": "GET", "htu": appAPIURL})
	body = strings.Replace(body, `"htm":"GET"`, `"htm":"G\u0045T"`, 1)
	if r := e.postJSON("/v1/sessions/verify", body); r.status != http.StatusOK {
		t.Errorf("verify bound with its proof (strict body) = %d %s; want 200", r.status, r.body)
	}
}
