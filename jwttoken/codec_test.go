package jwttoken_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
)

func TestCodec_RoundTrip(t *testing.T) {
	for _, alg := range []jwttoken.Algorithm{jwttoken.EdDSA, jwttoken.ES256, jwttoken.HS256} {
		for _, kind := range []sessiond.TokenKind{sessiond.KindAccess, sessiond.KindRefresh} {
			t.Run(string(alg)+"/"+kind.String(), func(t *testing.T) {
				ring := newRing(t, alg)
				c := newCodec(t, ring, 0)
				in := tokenClaims(t0)
				// Sub-second times are cut to whole seconds.
				in.IssuedAt = in.IssuedAt.Add(300 * time.Millisecond)
				in.ExpiresAt = in.ExpiresAt.Add(700 * time.Millisecond).In(time.FixedZone("X", 3600))
				in.Persistent = true
				in.StepUp = true
				in.Claims = json.RawMessage(`{"role":"admin","n":1}`)
				tok := sign(t, c, kind, in)
				got, err := c.Verify(kind, tok, t0)
				if err != nil {
					t.Fatalf("Verify = %v", err)
				}
				want := in
				want.IssuedAt = in.IssuedAt.Truncate(time.Second).UTC()
				want.ExpiresAt = in.ExpiresAt.Truncate(time.Second).UTC()
				if !reflect.DeepEqual(got, want) {
					t.Errorf("Verify(Sign(x)) = %+v; want %+v", got, want)
				}
				for _, tm := range []time.Time{got.IssuedAt, got.ExpiresAt, got.AuthTime, got.SessionExpiresAt} {
					if tm.Location() != time.UTC {
						t.Errorf("time %v is not UTC", tm)
					}
				}

				h, _, _ := segments(t, string(tok))
				typ := map[sessiond.TokenKind]string{sessiond.KindAccess: "at+jwt", sessiond.KindRefresh: "rt+jwt"}[kind]
				wantHeader := map[string]any{"alg": string(alg), "kid": currentKid(t, ring), "typ": typ}
				if got := decodeJSON(t, h); !reflect.DeepEqual(got, wantHeader) {
					t.Errorf("header = %v; want %v", got, wantHeader)
				}
			})
		}
	}
}

// TestCodec_Format pins the claims set: RFC 9068's required claims, the
// single-string aud, client_id, and nothing about the client's network.
func TestCodec_Format(t *testing.T) {
	c := newCodec(t, newRing(t, jwttoken.EdDSA), 0)
	tests := []struct {
		name string
		edit func(tc *sessiond.TokenClaims)
		want map[string]any
	}{
		{
			name: "plain",
			want: map[string]any{
				"iss": testIssuer, "sub": "user-1", "aud": testAudience, "client_id": testAudience,
				"exp": float64(at(14 * time.Minute).Unix()), "iat": float64(at(-time.Minute).Unix()),
				"jti": "jti-1", "sid": "sid-1", "sst": "jwt",
				"auth_time": float64(at(-time.Hour).Unix()), "sess_exp": float64(at(7 * time.Hour).Unix()),
			},
		},
		{
			name: "persistent with claims",
			edit: func(tc *sessiond.TokenClaims) {
				tc.Persistent = true
				tc.Claims = json.RawMessage(" {\"role\": \"admin\"} ")
				tc.AuthTime, tc.SessionExpiresAt = time.Time{}, time.Time{}
			},
			want: map[string]any{
				"iss": testIssuer, "sub": "user-1", "aud": testAudience, "client_id": testAudience,
				"exp": float64(at(14 * time.Minute).Unix()), "iat": float64(at(-time.Minute).Unix()),
				"jti": "jti-1", "sid": "sid-1", "sst": "jwt",
				"persistent": true, "ext": map[string]any{"role": "admin"},
			},
		},
		{
			name: "empty claims object omitted",
			edit: func(tc *sessiond.TokenClaims) { tc.Claims = json.RawMessage("{}") },
			want: map[string]any{
				"iss": testIssuer, "sub": "user-1", "aud": testAudience, "client_id": testAudience,
				"exp": float64(at(14 * time.Minute).Unix()), "iat": float64(at(-time.Minute).Unix()),
				"jti": "jti-1", "sid": "sid-1", "sst": "jwt",
				"auth_time": float64(at(-time.Hour).Unix()), "sess_exp": float64(at(7 * time.Hour).Unix()),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := tokenClaims(t0)
			if tt.edit != nil {
				tt.edit(&tc)
			}
			_, p, _ := segments(t, string(sign(t, c, sessiond.KindAccess, tc)))
			if got := decodeJSON(t, p); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("claims = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestCodec_SignID(t *testing.T) {
	c := newCodec(t, newRing(t, jwttoken.EdDSA), 0)
	tc := tokenClaims(t0)
	tc.ID = ""
	seen := map[string]bool{}
	for range 100 {
		got, err := c.Verify(sessiond.KindAccess, sign(t, c, sessiond.KindAccess, tc), t0)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := base64.RawURLEncoding.DecodeString(got.ID)
		if err != nil || len(raw) < 16 {
			t.Fatalf("generated jti %q: want base64url of at least 16 random bytes", got.ID)
		}
		if seen[got.ID] {
			t.Fatalf("jti %q generated twice", got.ID)
		}
		seen[got.ID] = true
	}
	tc.ID = "given"
	if got, _ := c.Verify(sessiond.KindAccess, sign(t, c, sessiond.KindAccess, tc), t0); got.ID != "given" {
		t.Errorf("jti = %q; want the caller's %q", got.ID, "given")
	}
}

func TestCodec_SignErrors(t *testing.T) {
	c := newCodec(t, newRing(t, jwttoken.EdDSA), 0)
	tests := []struct {
		name  string
		kind  sessiond.TokenKind
		edit  func(tc *sessiond.TokenClaims)
		field string
	}{
		{"unknown kind", 9, nil, "kind"},
		{"no subject", sessiond.KindAccess, func(tc *sessiond.TokenClaims) { tc.Subject = "" }, "claims.subject"},
		{"no session", sessiond.KindAccess, func(tc *sessiond.TokenClaims) { tc.SessionID = "" }, "claims.session_id"},
		{"no strategy", sessiond.KindAccess, func(tc *sessiond.TokenClaims) { tc.Strategy = "" }, "claims.strategy"},
		{"database strategy", sessiond.KindAccess, func(tc *sessiond.TokenClaims) { tc.Strategy = sessiond.StrategyDatabase }, "claims.strategy"},
		{"hybrid refresh", sessiond.KindRefresh, func(tc *sessiond.TokenClaims) { tc.Strategy = sessiond.StrategyHybrid }, "claims.strategy"},
		{"no issued_at", sessiond.KindAccess, func(tc *sessiond.TokenClaims) { tc.IssuedAt = time.Time{} }, "claims.issued_at"},
		{"no expires_at", sessiond.KindAccess, func(tc *sessiond.TokenClaims) { tc.ExpiresAt = time.Time{} }, "claims.expires_at"},
		{"expires at issue", sessiond.KindAccess, func(tc *sessiond.TokenClaims) { tc.ExpiresAt = tc.IssuedAt }, "claims.expires_at"},
		{"longer than the ring allows", sessiond.KindRefresh, func(tc *sessiond.TokenClaims) { tc.ExpiresAt = tc.IssuedAt.Add(maxLifetime + time.Second) }, "claims.expires_at"},
		{"far future", sessiond.KindRefresh, func(tc *sessiond.TokenClaims) { tc.ExpiresAt = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC) }, "claims.expires_at"},
		{"claims array", sessiond.KindAccess, func(tc *sessiond.TokenClaims) { tc.Claims = json.RawMessage(`[1]`) }, "claims.claims"},
		{"claims not json", sessiond.KindAccess, func(tc *sessiond.TokenClaims) { tc.Claims = json.RawMessage(`{"a":`) }, "claims.claims"},
		{"too large", sessiond.KindAccess, func(tc *sessiond.TokenClaims) {
			tc.Claims = json.RawMessage(`{"pad":"` + strings.Repeat("x", jwttoken.MaxTokenSize) + `"}`)
		}, "claims"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tc := tokenClaims(t0)
			if tt.edit != nil {
				tt.edit(&tc)
			}
			tok, err := c.Sign(tt.kind, tc)
			var ae *sessiond.ArgumentError
			if !errors.As(err, &ae) || !errors.Is(err, sessiond.ErrInvalidArgument) || ae.Field != tt.field {
				t.Fatalf("Sign = %q, %v; want an ArgumentError on %s", tok, err, tt.field)
			}
		})
	}
	tc := tokenClaims(t0)
	tc.ExpiresAt = tc.IssuedAt.Add(maxLifetime)
	if _, err := c.Sign(sessiond.KindRefresh, tc); err != nil {
		t.Errorf("Sign(lifetime = MaxTokenLifetime) = %v; want nil", err)
	}
}

func TestNew_Options(t *testing.T) {
	ring := newRing(t, jwttoken.EdDSA)
	tests := []struct {
		name  string
		ring  *jwttoken.KeyRing
		opts  jwttoken.Options
		field string // "" = valid
	}{
		{"valid", ring, jwttoken.Options{Issuer: "i", Audience: "a"}, ""},
		{"max leeway", ring, jwttoken.Options{Issuer: "i", Audience: "a", Leeway: jwttoken.MaxLeeway}, ""},
		{"no ring", nil, jwttoken.Options{Issuer: "i", Audience: "a"}, "ring"},
		{"no issuer", ring, jwttoken.Options{Audience: "a"}, "issuer"},
		{"no audience", ring, jwttoken.Options{Issuer: "i"}, "audience"},
		{"negative leeway", ring, jwttoken.Options{Issuer: "i", Audience: "a", Leeway: -time.Second}, "leeway"},
		{"leeway over 60s", ring, jwttoken.Options{Issuer: "i", Audience: "a", Leeway: 61 * time.Second}, "leeway"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := jwttoken.New(tt.ring, tt.opts)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("New = %v; want nil", err)
				}
				return
			}
			var ae *sessiond.ArgumentError
			if !errors.As(err, &ae) || ae.Field != tt.field {
				t.Fatalf("New = %v; want an ArgumentError on %s", err, tt.field)
			}
		})
	}
}

// TestCodec_Concurrent verifies and signs from many goroutines while the
// ring rotates, prunes and is exported. Run with -race.
func TestCodec_Concurrent(t *testing.T) {
	ring := newRing(t, jwttoken.EdDSA)
	c := newCodec(t, ring, 0)
	first := sign(t, c, sessiond.KindAccess, tokenClaims(t0))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				tok, err := c.Sign(sessiond.KindAccess, tokenClaims(t0))
				if err != nil {
					errs <- err
					return
				}
				for _, tk := range []sessiond.Secret{first, tok} {
					if _, err := c.Verify(sessiond.KindAccess, tk, t0); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	for i := range 20 {
		if err := ring.Rotate(at(time.Duration(i) * time.Second)); err != nil {
			t.Fatal(err)
		}
		ring.Prune(t0) // drops nothing: every retired key is young
		if _, err := ring.JWKS(); err != nil {
			t.Fatal(err)
		}
		if _, err := ring.MarshalPrivate(); err != nil {
			t.Fatal(err)
		}
		_ = ring.Generation()
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("during rotation: %v", err)
	}
	if got := len(ring.Keys()); got != 21 {
		t.Errorf("ring has %d keys; want 21", got)
	}
	if !slices.ContainsFunc(ring.Keys(), func(k jwttoken.KeyInfo) bool { return k.Current }) {
		t.Error("no current key")
	}
}
