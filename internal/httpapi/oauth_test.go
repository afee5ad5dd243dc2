package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
)

// wantOAuthError checks an RFC 6749 §5.2 error answer.
func wantOAuthError(t *testing.T, op string, r *response, status int, code string) {
	t.Helper()
	if !wantAnswer(t, op, r, status, "application/json") {
		return
	}
	var body map[string]any
	if err := json.Unmarshal(r.body, &body); err != nil || body["error"] != code {
		t.Errorf("%s body = %s; want error %q", op, r.body, code)
	}
}

// TestOAuth_Revoke covers RFC 7009 (checklist items 50-54).
func TestOAuth_Revoke(t *testing.T) {
	eachStrategy(t, []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid}, func(t *testing.T, e *env) {
		ctx := t.Context()

		for name, tok := range map[string]string{
			"unknown opaque token": "sdat_" + strings.Repeat("a", 58),
			"random string":        "not a token at all",
			"10 KiB":               string(make10K()),
		} {
			r := e.postForm("/oauth2/revoke", url.Values{"token": {tok}})
			if r.status != http.StatusOK || len(r.body) != 0 {
				t.Errorf("revoke %s = %d %q; want 200 with an empty body", name, r.status, r.body)
			}
		}

		tr := e.create("u")
		for i := range 2 {
			if err := e.c.RevokeToken(ctx, tr.AccessToken, ""); err != nil {
				t.Errorf("RevokeToken #%d = %v; want nil both times", i+1, err)
			}
		}
		_, err := e.c.Verify(ctx, tr.AccessToken, nil)
		wantCode(t, "Verify(revoked)", err, 401, "session_revoked", sessiond.ErrRevoked)

		// A wrong hint is only a hint.
		tr = e.create("u")
		tok, wrongHint := tr.AccessToken, "refresh_token"
		if e.strategy == sessiond.StrategyHybrid {
			tok, wrongHint = tr.RefreshToken, "access_token"
		}
		if err := e.c.RevokeToken(ctx, tok, wrongHint); err != nil {
			t.Errorf("RevokeToken(hint %s) = %v", wrongHint, err)
		}
		_, err = e.c.Verify(ctx, tr.AccessToken, nil)
		wantCode(t, "Verify after revoking with a wrong hint", err, 401, "session_revoked", sessiond.ErrRevoked)
		if in, err := e.c.Introspect(ctx, tr.AccessToken); err != nil || in.Active {
			t.Errorf("Introspect after revocation = %+v, %v; want inactive", in, err)
		}

		live := e.create("u")
		for _, c := range []struct {
			name   string
			path   string
			ct     string
			body   string
			header map[string]string
			status int
			code   string
		}{
			{"no token", "/oauth2/revoke", "application/x-www-form-urlencoded", "", nil, 400, "invalid_request"},
			{"empty token", "/oauth2/revoke", "application/x-www-form-urlencoded", "token=", nil, 400, "invalid_request"},
			{"only a hint", "/oauth2/revoke", "application/x-www-form-urlencoded", "token_type_hint=access_token", nil, 400, "invalid_request"},
			{"token twice", "/oauth2/revoke", "application/x-www-form-urlencoded", "token=a&token=b", nil, 400, "invalid_request"},
			{"token in the query only", "/oauth2/revoke?token=" + url.QueryEscape(string(live.AccessToken)), "application/x-www-form-urlencoded", "", nil, 400, "invalid_request"},
			{"JSON body", "/oauth2/revoke", "application/json", `{"token":"x"}`, nil, 400, "invalid_request"},
			{"bad form encoding", "/oauth2/revoke", "application/x-www-form-urlencoded", "token=%zz", nil, 400, "invalid_request"},
			{"over 64 KiB", "/oauth2/revoke", "application/x-www-form-urlencoded", "token=" + strings.Repeat("a", 65<<10), nil, 413, "invalid_request"},
			{"no API key", "/oauth2/revoke", "application/x-www-form-urlencoded", "token=x", map[string]string{"Authorization": ""}, 401, "invalid_client"},
			{"wrong API key", "/oauth2/revoke", "application/x-www-form-urlencoded", "token=x", map[string]string{"Authorization": "Bearer nope"}, 401, "invalid_client"},
			{"basic auth", "/oauth2/revoke", "application/x-www-form-urlencoded", "token=x", map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}, 401, "invalid_client"},
			{"introspect: no token", "/oauth2/introspect", "application/x-www-form-urlencoded", "", nil, 400, "invalid_request"},
			{"introspect: no API key", "/oauth2/introspect", "application/x-www-form-urlencoded", "token=x", map[string]string{"Authorization": ""}, 401, "invalid_client"},
			{"introspect: wrong API key", "/oauth2/introspect", "application/x-www-form-urlencoded", "token=x", map[string]string{"Authorization": "Bearer " + apiKey + "x"}, 401, "invalid_client"},
			{"introspect: API key store down", "/oauth2/introspect", "application/x-www-form-urlencoded", "token=x", map[string]string{"Authorization": "Bearer " + outageKey}, 503, "temporarily_unavailable"},
		} {
			r := e.do(http.MethodPost, c.path, c.ct, []byte(c.body), c.header)
			wantOAuthError(t, c.name, r, c.status, c.code)
			if c.status == 401 && r.header.Get("WWW-Authenticate") == "" {
				t.Errorf("%s: no WWW-Authenticate header", c.name)
			}
		}
		if _, err := e.c.Verify(ctx, live.AccessToken, nil); err != nil {
			t.Errorf("Verify after refused revocations = %v; want the session live", err)
		}

		// A store that does not answer: 503 and Retry-After, and the
		// caller must treat the token as still valid.
		e.store.Close()
		tok = live.AccessToken
		if e.strategy == sessiond.StrategyHybrid {
			tok = live.RefreshToken
		}
		r := e.postForm("/oauth2/revoke", url.Values{"token": {string(tok)}})
		wantOAuthError(t, "revoke with the store down", r, 503, "temporarily_unavailable")
		if r.header.Get("Retry-After") == "" {
			t.Error("503 without Retry-After")
		}
		err = e.c.RevokeToken(ctx, live.AccessToken, "")
		wantCode(t, "RevokeToken with the store down", err, 503, "temporarily_unavailable", sessiond.ErrStoreUnavailable)
	})

	t.Run("jwt", func(t *testing.T) {
		t.Parallel()
		e := newEnv(t, sessiond.StrategyJWT, nil)
		tr := e.create("u")
		for _, tok := range []sessiond.Secret{tr.AccessToken, tr.RefreshToken, "garbage"} {
			err := e.c.RevokeToken(t.Context(), tok, "")
			wantCode(t, "jwt RevokeToken", err, 400, "unsupported_token_type", sessiond.ErrUnsupported)
		}
	})
}

// TestOAuth_RevokeRetiredIsReuse: a retired refresh token sent to
// /oauth2/revoke is theft evidence, as it is at refresh: the session and
// the rotation's successor end with reason reuse and the reuse event is
// recorded, and the answer is still RFC 7009's 200 with an empty body.
func TestOAuth_RevokeRetiredIsReuse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	ctx := t.Context()
	login := e.create("stolen")
	next, err := e.c.Refresh(ctx, login.RefreshToken, nil)
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Advance(time.Minute) // past the reuse interval
	r := e.postForm("/oauth2/revoke", url.Values{"token": {string(login.RefreshToken)}})
	if r.status != http.StatusOK || len(r.body) != 0 {
		t.Fatalf("revoke of a retired refresh token = %d %q; want 200 with an empty body", r.status, r.body)
	}
	s, err := e.store.Get(ctx, login.Session.ID)
	if err != nil || s.RevokeReason != sessiond.ReasonReuse {
		t.Fatalf("session after revoking its retired refresh token = %+v, %v; want revoked with reason reuse", s, err)
	}
	_, err = e.c.Refresh(ctx, next.RefreshToken, nil)
	wantCode(t, "Refresh(successor) after the retired token was revoked", err, 401, "session_revoked", sessiond.ErrRevoked)
	reused := 0
	for _, l := range e.logLines() {
		if l["type"] == string(sessiond.EventRefreshReused) && l["session_id"] == string(login.Session.ID) {
			reused++
		}
	}
	if reused != 1 {
		t.Errorf("%d %s events; want 1", reused, sessiond.EventRefreshReused)
	}
}

// TestOAuth_Introspect covers RFC 7662 (checklist items 55-58).
func TestOAuth_Introspect(t *testing.T) {
	eachStrategy(t, strategies, func(t *testing.T, e *env) {
		ctx := t.Context()
		expired := e.create("u")
		e.clock.Advance(life.Idle + life.Access + time.Second) // expired has timed out
		tr := e.create("u")
		inactive := map[string]sessiond.Secret{
			"unknown":      "sdat_" + sessiond.Secret(strings.Repeat("a", 58)),
			"garbage":      "garbage",
			"10 KiB":       sessiond.Secret(make10K()),
			"expired":      expired.AccessToken,
			"tampered JWT": tr.AccessToken[:len(tr.AccessToken)-2] + "xx",
		}
		if tr.RefreshToken != "" {
			inactive["refresh token"] = tr.RefreshToken
		}
		if e.strategy != sessiond.StrategyJWT {
			revoked := e.create("u")
			if err := e.c.RevokeSession(ctx, revoked.Session.ID); err != nil {
				t.Fatal(err)
			}
			inactive["revoked"] = revoked.AccessToken
		}
		for name, tok := range inactive {
			r := e.postForm("/oauth2/introspect", url.Values{"token": {string(tok)}})
			if r.status != http.StatusOK || string(r.body) != "{\"active\":false}\n" {
				t.Errorf("introspect %s = %d %s; want 200 exactly {\"active\":false}", name, r.status, r.body)
			}
		}
		in, err := e.c.Introspect(ctx, tr.AccessToken)
		if err != nil || !in.Active || in.SessionID != tr.Session.ID {
			t.Errorf("Introspect(live) = %+v, %v", in, err)
		}
		in, err = e.c.Introspect(ctx, "garbage")
		if err != nil || *in != (client.Introspection{}) {
			t.Errorf("Introspect(garbage) = %+v, %v; want the zero Introspection", in, err)
		}
		if e.strategy == sessiond.StrategyDatabase {
			e.store.Close()
			_, err := e.c.Introspect(ctx, tr.AccessToken)
			wantCode(t, "Introspect with the store down", err, 503, "temporarily_unavailable", sessiond.ErrStoreUnavailable)
		}
	})
}

// A device-bound (DBSC) session's cookie alone does not authenticate: to
// introspection, which sees the token alone, it is inactive, or a cookie
// copied by an infostealer would work as a bearer token at every resource
// server that introspects.
func TestIntrospect_DeviceBoundTokenInactive(t *testing.T) {
	eachStrategy(t, []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid}, func(t *testing.T, e *env) {
		tr := e.create("sam")
		iss, err := e.bindDevice(t, tr.Session.ID)
		if err != nil {
			t.Fatalf("BindDevice: %v", err)
		}
		if !iss.Session.DeviceBound() {
			t.Fatal("the new session is not device bound")
		}
		r := e.postForm("/oauth2/introspect", url.Values{"token": {string(iss.AccessToken)}})
		var got map[string]any
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatalf("introspect = %d %s", r.status, r.body)
		}
		if r.status != 200 || got["active"] != false || len(got) != 1 {
			t.Errorf("introspection of a device-bound session's token = %d %s; want {\"active\":false}", r.status, r.body)
		}
		// The same session's token before binding was active.
		r = e.postForm("/oauth2/introspect", url.Values{"token": {string(tr.AccessToken)}})
		if err := json.Unmarshal(r.body, &got); err != nil || got["active"] != false {
			t.Errorf("the pre-binding token (its session rotated away) = %s; want inactive", r.body)
		}
	})
}

// A device-bound session's token is refused by introspection without
// keeping the owner's idle session alive (docs/bound-sessions.md): in the
// database strategy a verify records activity, so the binding is checked
// first, or every introspection of a stolen cookie would extend it.
func TestIntrospect_DeviceBoundKeepsNothingAlive(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyDatabase, nil)
	iss := e.createDeviceBound(t, "sam")
	before, err := e.m.Get(t.Context(), iss.Session.ID)
	if err != nil {
		t.Fatal(err)
	}
	// Past the touch interval (1 min), before the idle timeout.
	e.clock.Advance(life.Idle - time.Minute)
	r := e.postForm("/oauth2/introspect", url.Values{"token": {string(iss.AccessToken)}})
	if r.status != http.StatusOK || string(r.body) != "{\"active\":false}\n" {
		t.Fatalf("introspect of a device-bound token = %d %s; want 200 {\"active\":false}", r.status, r.body)
	}
	after, err := e.m.Get(t.Context(), iss.Session.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !after.IdleExpiresAt.Equal(before.IdleExpiresAt) || !after.LastActiveAt.Equal(before.LastActiveAt) {
		t.Errorf("an introspection answered inactive moved the session's idle expiry %v → %v (last active %v → %v): a copied DBSC cookie keeps the owner's session alive",
			before.IdleExpiresAt, after.IdleExpiresAt, before.LastActiveAt, after.LastActiveAt)
	}
	// The consequence: past the original idle timeout the session lives on.
	e.clock.Advance(2 * time.Minute)
	if _, err := e.m.Get(t.Context(), iss.Session.ID); err == nil {
		t.Errorf("the session outlived its idle timeout on introspections of its copied cookie alone")
	}
}

// token_type_hint given twice is refused like any parameter (RFC 6749
// §3.1, openapi.json's OAuthBadRequest), and the revoke does not happen.
func TestOAuth_TokenTypeHintTwiceRefused(t *testing.T) {
	eachStrategy(t, []sessiond.Strategy{sessiond.StrategyDatabase, sessiond.StrategyHybrid}, func(t *testing.T, e *env) {
		for _, path := range []string{"/oauth2/introspect", "/oauth2/revoke"} {
			live := e.create("dup")
			body := "token=" + url.QueryEscape(string(live.AccessToken)) + "&token_type_hint=access_token&token_type_hint=refresh_token"
			r := e.do(http.MethodPost, path, "application/x-www-form-urlencoded", []byte(body), nil)
			wantOAuthError(t, path+" with token_type_hint twice", r, http.StatusBadRequest, "invalid_request")
			if _, err := e.m.Get(t.Context(), live.Session.ID); err != nil {
				t.Errorf("%s refused, yet the session is gone: %v", path, err)
			}
		}
	})
}

// createDeviceBound creates subject's session and binds it to a device key
// (DBSC), as the gateway's registration does; it returns the bound session.
func (e *env) createDeviceBound(t *testing.T, subject string) *sessiond.Issued {
	t.Helper()
	iss, err := e.bindDevice(t, e.create(subject).Session.ID)
	if err != nil {
		t.Fatalf("BindDevice: %v", err)
	}
	return iss
}

// bindDevice binds session id to a fixed device key (DBSC).
func (e *env) bindDevice(t *testing.T, id sessiond.SessionID) (*sessiond.Issued, error) {
	return e.m.BindDevice(t.Context(), id, sessiond.DeviceBinding{
		ID:  "device-1",
		JKT: strings.Repeat("A", 43),
		JWK: json.RawMessage(`{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`),
	})
}
