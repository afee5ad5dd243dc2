package dpop_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/dpop"

	"github.com/sessiond/sessiond/internal/testenv"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

var t0 = time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)

const reqURL = "https://api.example.com/v1/things"

// sign builds a proof with go-jose; header and claims may be tweaked.
func sign(t *testing.T, key any, alg jose.SignatureAlgorithm, hdr map[jose.HeaderKey]any, cl map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("dpop+jwt")
	if _, ok := hdr["nojwk"]; !ok {
		opts.EmbedJWK = true
	}
	for k, v := range hdr {
		if k != "nojwk" {
			opts = opts.WithHeader(k, v)
		}
	}
	return testenv.SignJWS(t, key, alg, opts, cl)
}

func baseClaims() map[string]any {
	return map[string]any{"jti": rand.Text(), "htm": "GET", "htu": reqURL, "iat": t0.Unix()}
}

func with(m map[string]any, k string, v any) map[string]any {
	c := map[string]any{}
	for a, b := range m {
		c[a] = b
	}
	if v == nil {
		delete(c, k)
	} else {
		c[k] = v
	}
	return c
}

// rawProof assembles a JWS by hand for inputs go-jose refuses to produce.
func rawProof(header, payload string) string {
	e := base64.RawURLEncoding.EncodeToString
	return e([]byte(header)) + "." + e([]byte(payload)) + "." + e([]byte("sig"))
}

func TestVerifier_Verify(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	token := sessiond.Secret("access-token-value")
	get := dpop.Request{Method: "GET", URL: reqURL}
	ecJWK := jose.JSONWebKey{Key: ec.Public()}
	tp, _ := ecJWK.Thumbprint(0x5) // crypto.SHA256
	ecJKT := base64.RawURLEncoding.EncodeToString(tp)
	privJWK, _ := json.Marshal(jose.JSONWebKey{Key: ec})
	// ecWith: a proof by ec whose claims differ from baseClaims in one.
	ecWith := func(claim string, v any) func(*testing.T) string {
		return func(t *testing.T) string { return sign(t, ec, jose.ES256, nil, with(baseClaims(), claim, v)) }
	}

	tests := []struct {
		name  string
		proof func(t *testing.T) string
		req   dpop.Request
		want  error // nil: accepted
	}{
		{"ES256 accepted", func(t *testing.T) string { return sign(t, ec, jose.ES256, nil, baseClaims()) }, get, nil},
		{"RS256 accepted", func(t *testing.T) string { return sign(t, rk, jose.RS256, nil, baseClaims()) }, get, nil},
		{"EdDSA accepted", func(t *testing.T) string { return sign(t, ed, jose.EdDSA, nil, baseClaims()) }, get, nil},
		{"query and fragment ignored, host case and default port normalised", ecWith("htu", "HTTPS://API.example.com:443/v1/things#x"), dpop.Request{Method: "GET", URL: reqURL + "?a=1"}, nil},
		{"bound key and ath accepted", ecWith("ath", dpop.ATH(token)), dpop.Request{Method: "GET", URL: reqURL, AccessToken: token, JKT: ecJKT}, nil},

		{"empty", func(*testing.T) string { return "" }, get, dpop.ErrMalformed},
		{"garbage", func(*testing.T) string { return "not.a.jwt" }, get, dpop.ErrMalformed},
		{"oversized", func(*testing.T) string { return strings.Repeat("a", dpop.DefaultMaxProofSize+1) }, get, dpop.ErrMalformed},
		{"alg none", func(*testing.T) string {
			return rawProof(`{"typ":"dpop+jwt","alg":"none"}`, `{"jti":"x","htm":"GET","htu":"`+reqURL+`","iat":1}`)
		}, get, dpop.ErrMalformed},
		{"alg HS256", func(t *testing.T) string {
			return sign(t, []byte(strings.Repeat("k", 32)), jose.HS256, nil, baseClaims())
		}, get, dpop.ErrMalformed},
		{"private key in jwk", func(*testing.T) string {
			return rawProof(`{"typ":"dpop+jwt","alg":"ES256","jwk":`+string(privJWK)+`}`, `{}`)
		}, get, dpop.ErrMalformed},
		{"wrong typ", func(t *testing.T) string {
			return sign(t, ec, jose.ES256, map[jose.HeaderKey]any{"typ": "JWT"}, baseClaims())
		}, get, dpop.ErrMalformed},
		{"no jwk", func(t *testing.T) string {
			return sign(t, ec, jose.ES256, map[jose.HeaderKey]any{"nojwk": true}, baseClaims())
		}, get, dpop.ErrSignature},
		{"jwk of another key", func(t *testing.T) string {
			p := sign(t, ec, jose.ES256, nil, baseClaims())
			q := sign(t, other, jose.ES256, nil, baseClaims())
			return strings.Split(q, ".")[0] + "." + strings.Split(p, ".")[1] + "." + strings.Split(p, ".")[2]
		}, get, dpop.ErrSignature},
		{"tampered payload", func(t *testing.T) string {
			p := strings.Split(sign(t, ec, jose.ES256, nil, baseClaims()), ".")
			b, _ := json.Marshal(with(baseClaims(), "htm", "GET"))
			return p[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + p[2]
		}, get, dpop.ErrSignature},
		{"payload not an object", func(t *testing.T) string { return sign(t, ec, jose.ES256, nil, nil) }, get, dpop.ErrMalformed},
		{"no jti", ecWith("jti", nil), get, dpop.ErrMalformed},
		{"jti too long", ecWith("jti", strings.Repeat("j", 300)), get, dpop.ErrMalformed},
		{"wrong method", ecWith("htm", "POST"), get, dpop.ErrMethod},
		{"method case differs", ecWith("htm", "get"), get, dpop.ErrMethod},
		{"wrong path", ecWith("htu", "https://api.example.com/v1/other"), get, dpop.ErrURL},
		{"wrong scheme", ecWith("htu", "http://api.example.com/v1/things"), get, dpop.ErrURL},
		{"wrong host", ecWith("htu", "https://evil.example.com/v1/things"), get, dpop.ErrURL},
		{"relative htu", ecWith("htu", "/v1/things"), get, dpop.ErrURL},
		{"userinfo in htu", ecWith("htu", "https://u:p@api.example.com/v1/things"), get, dpop.ErrURL},
		{"stale iat", ecWith("iat", t0.Add(-dpop.DefaultMaxAge-time.Second).Unix()), get, dpop.ErrIssuedAt},
		{"future iat", ecWith("iat", t0.Add(time.Hour).Unix()), get, dpop.ErrIssuedAt},
		{"iat a string", ecWith("iat", "now"), get, dpop.ErrMalformed},
		{"no iat", ecWith("iat", nil), get, dpop.ErrMalformed},
		{"missing ath", func(t *testing.T) string { return sign(t, ec, jose.ES256, nil, baseClaims()) },
			dpop.Request{Method: "GET", URL: reqURL, AccessToken: token}, dpop.ErrAccessTokenHash},
		{"wrong ath", ecWith("ath", dpop.ATH("another token")), dpop.Request{Method: "GET", URL: reqURL, AccessToken: token}, dpop.ErrAccessTokenHash},
		{"another key than the bound one", func(t *testing.T) string { return sign(t, other, jose.ES256, nil, baseClaims()) },
			dpop.Request{Method: "GET", URL: reqURL, JKT: ecJKT}, dpop.ErrKeyMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := dpop.New(dpop.Options{Clock: &fakeClock{t: t0}})
			if err != nil {
				t.Fatal(err)
			}
			p, err := v.Verify(context.Background(), tc.proof(t), tc.req)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if p.JKT == "" || p.JTI == "" {
					t.Fatalf("proof %+v lacks jkt or jti", p)
				}
				return
			}
			if !errors.Is(err, dpop.ErrInvalidProof) || !errors.Is(err, tc.want) {
				t.Fatalf("Verify err = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestVerifier_Replay(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	clock := &fakeClock{t: t0}
	v, _ := dpop.New(dpop.Options{Clock: clock})
	ctx := context.Background()
	req := dpop.Request{Method: "GET", URL: reqURL}
	p := sign(t, ec, jose.ES256, nil, baseClaims())
	if _, err := v.Verify(ctx, p, req); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, p, req); !errors.Is(err, dpop.ErrReplayed) {
		t.Fatalf("replay err = %v, want ErrReplayed", err)
	}
	// An invalid proof with a fresh jti must not burn it.
	cl := baseClaims()
	if _, err := v.Verify(ctx, sign(t, ec, jose.ES256, nil, with(cl, "htm", "PUT")), req); !errors.Is(err, dpop.ErrMethod) {
		t.Fatal(err)
	}
	if _, err := v.Verify(ctx, sign(t, ec, jose.ES256, nil, cl), req); err != nil {
		t.Fatalf("valid proof after a refused one with the same jti: %v", err)
	}
	// Once the proof is too old for iat, the replay entry may go; it is still refused (as stale).
	clock.Add(dpop.DefaultMaxAge + dpop.DefaultLeeway + time.Minute)
	if _, err := v.Verify(ctx, p, req); !errors.Is(err, dpop.ErrIssuedAt) {
		t.Fatalf("old replay err = %v, want ErrIssuedAt", err)
	}
}

func TestVerifier_Nonce(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	clock := &fakeClock{t: t0}
	v, _ := dpop.New(dpop.Options{Clock: clock, Nonces: dpop.NewRotatingNonces(clock, time.Minute)})
	ctx := context.Background()
	req := dpop.Request{Method: "GET", URL: reqURL}
	if _, err := v.Verify(ctx, sign(t, ec, jose.ES256, nil, baseClaims()), req); !errors.Is(err, dpop.ErrUseNonce) {
		t.Fatalf("no nonce: err = %v, want ErrUseNonce", err)
	}
	if _, err := v.Verify(ctx, sign(t, ec, jose.ES256, nil, with(baseClaims(), "nonce", "made-up")), req); !errors.Is(err, dpop.ErrUseNonce) {
		t.Fatalf("made-up nonce: err = %v, want ErrUseNonce", err)
	}
	n, _ := v.Nonce(ctx)
	if _, err := v.Verify(ctx, sign(t, ec, jose.ES256, nil, with(baseClaims(), "nonce", n)), req); err != nil {
		t.Fatalf("current nonce: %v", err)
	}
	clock.Add(90 * time.Second) // rotated once: the old nonce is still accepted
	cl := with(baseClaims(), "nonce", n)
	cl["iat"] = clock.Now().Unix()
	if _, err := v.Verify(ctx, sign(t, ec, jose.ES256, nil, cl), req); err != nil {
		t.Fatalf("previous nonce: %v", err)
	}
	clock.Add(3 * time.Minute)
	cl = with(baseClaims(), "nonce", n)
	cl["iat"] = clock.Now().Unix()
	if _, err := v.Verify(ctx, sign(t, ec, jose.ES256, nil, cl), req); !errors.Is(err, dpop.ErrUseNonce) {
		t.Fatalf("expired nonce: err = %v, want ErrUseNonce", err)
	}
}

func TestNew_RefusesSymmetricAlgorithms(t *testing.T) {
	for _, a := range []jose.SignatureAlgorithm{jose.HS256, "none", "ES999"} {
		if _, err := dpop.New(dpop.Options{Algorithms: []jose.SignatureAlgorithm{a}}); err == nil {
			t.Errorf("New accepted %s", a)
		}
	}
}

func TestSameURL(t *testing.T) {
	tests := []struct {
		htu, req string
		want     bool
	}{
		{"https://api.example.com/v1", "https://API.example.com:443/v1?q=1", true},
		{"https://api.example.com/v1", "https://api.example.com:8443/v1", false},
		{"https://[2001:db8::1]:8443/api", "https://[2001:DB8::1]:8443/api", true},
		{"https://[2001:db8::1]/api", "https://[2001:db8::1]:443/api", true},
		// Without brackets in the normal form, these two were one URL:
		// host 2001:db8::1:8443 on 443, and host 2001:db8::1 on 8443.
		{"https://[2001:db8::1:8443]/api", "https://[2001:db8::1]:8443/api", false},
		{"https://[::1]/", "https://[::1]:80/", false},
	}
	for _, tt := range tests {
		if got := dpop.SameURL(tt.htu, tt.req); got != tt.want {
			t.Errorf("SameURL(%q, %q) = %v; want %v", tt.htu, tt.req, got, tt.want)
		}
	}
}

// TestVerifier_CheckOrder: a proof wrong in two ways is refused for the
// one checked first: the signature, then the key the token or session is
// bound to, then what the proof is for (htm, htu, ath), and its time last.
// So only the holder of the bound key learns that its iat is out of the
// window, and a proof refused for its time alone, by the bound key,
// matches sessiond.ErrClockSkew (the key holder's clock, no failed
// refresh), while one refused for its time with no bound key to check
// does not.
func TestVerifier_CheckOrder(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	token := sessiond.Secret("access-token-value")
	tp, _ := (&jose.JSONWebKey{Key: ec.Public()}).Thumbprint(0x5) // crypto.SHA256
	jkt := base64.RawURLEncoding.EncodeToString(tp)
	stale := t0.Add(-dpop.DefaultMaxAge - time.Minute).Unix()
	ahead := t0.Add(time.Hour).Unix()
	bound := dpop.Request{Method: "GET", URL: reqURL, JKT: jkt}
	boundToken := dpop.Request{Method: "GET", URL: reqURL, JKT: jkt, AccessToken: token}
	unbound := dpop.Request{Method: "GET", URL: reqURL}
	proof := func(key any, claims map[string]any) func(*testing.T) string {
		return func(t *testing.T) string { return sign(t, key, jose.ES256, nil, claims) }
	}
	tests := []struct {
		name    string
		proof   func(t *testing.T) string
		req     dpop.Request
		want    error
		notWant []error
	}{
		{"signature broken, iat stale", func(t *testing.T) string {
			p := strings.Split(sign(t, ec, jose.ES256, nil, with(baseClaims(), "iat", stale)), ".")
			b, _ := json.Marshal(with(baseClaims(), "iat", stale-1))
			return p[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + p[2]
		}, bound, dpop.ErrSignature, []error{dpop.ErrIssuedAt, sessiond.ErrClockSkew}},
		{"another key than the bound one, iat stale", proof(other, with(baseClaims(), "iat", stale)), bound,
			dpop.ErrKeyMismatch, []error{dpop.ErrIssuedAt, sessiond.ErrClockSkew}},
		{"another key than the bound one, iat ahead", proof(other, with(baseClaims(), "iat", ahead)), bound,
			dpop.ErrKeyMismatch, []error{dpop.ErrIssuedAt, sessiond.ErrClockSkew}},
		{"another key than the bound one, htm wrong", proof(other, with(baseClaims(), "htm", "POST")), bound,
			dpop.ErrKeyMismatch, []error{dpop.ErrMethod}},
		{"bound key, htm wrong, iat stale", proof(ec, with(with(baseClaims(), "htm", "POST"), "iat", stale)), bound,
			dpop.ErrMethod, []error{dpop.ErrIssuedAt, sessiond.ErrClockSkew}},
		{"bound key, htu wrong, iat stale", proof(ec, with(with(baseClaims(), "htu", "https://api.example.com/other"), "iat", stale)), bound,
			dpop.ErrURL, []error{dpop.ErrIssuedAt, sessiond.ErrClockSkew}},
		{"bound key, ath wrong, iat stale", proof(ec, with(with(baseClaims(), "ath", dpop.ATH("another token")), "iat", stale)), boundToken,
			dpop.ErrAccessTokenHash, []error{dpop.ErrIssuedAt, sessiond.ErrClockSkew}},
		{"bound key, iat stale", proof(ec, with(with(baseClaims(), "ath", dpop.ATH(token)), "iat", stale)), boundToken,
			sessiond.ErrClockSkew, []error{dpop.ErrKeyMismatch, dpop.ErrAccessTokenHash}},
		{"bound key, iat ahead", proof(ec, with(baseClaims(), "iat", ahead)), bound,
			sessiond.ErrClockSkew, nil},
		{"no bound key, iat stale", proof(other, with(baseClaims(), "iat", stale)), unbound,
			dpop.ErrIssuedAt, []error{sessiond.ErrClockSkew}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v, err := dpop.New(dpop.Options{Clock: &fakeClock{t: t0}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(context.Background(), tc.proof(t), tc.req)
			if !errors.Is(err, dpop.ErrInvalidProof) || !errors.Is(err, tc.want) {
				t.Fatalf("Verify err = %v; want %v", err, tc.want)
			}
			if errors.Is(tc.want, sessiond.ErrClockSkew) && !errors.Is(err, dpop.ErrIssuedAt) {
				t.Errorf("Verify err = %v; want it to match ErrIssuedAt too", err)
			}
			for _, no := range tc.notWant {
				if errors.Is(err, no) {
					t.Errorf("Verify err = %v; want it not to match %v", err, no)
				}
			}
		})
	}
}

// recordingReplay is a ReplayCache that keeps what it was asked to
// remember, and until when.
type recordingReplay struct {
	dpop.MemoryReplay
	mu    sync.Mutex
	until []time.Time
	fresh int // keys recorded that were not yet
}

func (r *recordingReplay) RememberOnce(ctx context.Context, key string, now, until time.Time) (bool, error) {
	fresh, err := r.MemoryReplay.RememberOnce(ctx, key, now, until)
	r.mu.Lock()
	r.until = append(r.until, until)
	if fresh {
		r.fresh++
	}
	r.mu.Unlock()
	return fresh, err
}

// TestVerifier_AheadRemembered: a proof by the bound key refused for an
// iat ahead of the clock (the device's clock runs fast) could pass later,
// once the server's clock reaches it: a request captured then (proof and
// refresh or access token) would be taken as new. Its jti is remembered
// until it could pass no more, or the token it comes with ends
// (Request.NotAfter), so it never passes. Proofs that cannot pass later
// (stale iat) or that anyone's key could have made (no Request.JKT) write
// nothing.
func TestVerifier_AheadRemembered(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tp, _ := (&jose.JSONWebKey{Key: ec.Public()}).Thumbprint(0x5) // crypto.SHA256
	jkt := base64.RawURLEncoding.EncodeToString(tp)
	ahead := t0.Add(time.Hour)
	passesUntil := ahead.Add(dpop.DefaultMaxAge + dpop.DefaultLeeway)
	tests := []struct {
		name      string
		iat       time.Time
		req       dpop.Request
		wantUntil time.Time // zero: nothing remembered
	}{
		{"bound key, iat ahead", ahead, dpop.Request{Method: "GET", URL: reqURL, JKT: jkt}, passesUntil},
		{"bound key, iat ahead, the token ends before", ahead,
			dpop.Request{Method: "GET", URL: reqURL, JKT: jkt, NotAfter: ahead.Add(time.Minute)}, ahead.Add(time.Minute)},
		{"bound key, iat ahead, the token ends after", ahead,
			dpop.Request{Method: "GET", URL: reqURL, JKT: jkt, NotAfter: ahead.Add(time.Hour)}, passesUntil},
		{"bound key, iat ahead of the token's end", ahead,
			dpop.Request{Method: "GET", URL: reqURL, JKT: jkt, NotAfter: ahead.Add(-dpop.DefaultLeeway)}, time.Time{}},
		{"bound key, iat stale", t0.Add(-dpop.DefaultMaxAge - time.Minute), dpop.Request{Method: "GET", URL: reqURL, JKT: jkt}, time.Time{}},
		{"no bound key, iat ahead", ahead, dpop.Request{Method: "GET", URL: reqURL}, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clock := &fakeClock{t: t0}
			replay := &recordingReplay{}
			v, err := dpop.New(dpop.Options{Clock: clock, Replay: replay})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			p := sign(t, ec, jose.ES256, nil, with(baseClaims(), "iat", tc.iat.Unix()))
			if _, err := v.Verify(ctx, p, tc.req); !errors.Is(err, dpop.ErrIssuedAt) {
				t.Fatalf("Verify at %s = %v; want ErrIssuedAt", clock.Now(), err)
			}
			switch {
			case tc.wantUntil.IsZero() && len(replay.until) != 0:
				t.Fatalf("remembered until %v; want nothing remembered", replay.until)
			case tc.wantUntil.IsZero():
				return
			case len(replay.until) != 1 || !replay.until[0].Equal(tc.wantUntil):
				t.Fatalf("remembered until %v; want once, until %s", replay.until, tc.wantUntil)
			}
			// The server's clock reaches the iat: the captured proof is
			// in its window now, and refused as a replay.
			clock.Add(tc.iat.Sub(t0))
			if _, err := v.Verify(ctx, p, tc.req); !errors.Is(err, dpop.ErrReplayed) {
				t.Fatalf("the same proof at %s = %v; want ErrReplayed", clock.Now(), err)
			}
			// A new proof of the key, its clock right, still passes.
			if _, err := v.Verify(ctx, sign(t, ec, jose.ES256, nil, with(baseClaims(), "iat", clock.Now().Unix())), tc.req); err != nil {
				t.Fatalf("a new proof at %s = %v; want it to pass", clock.Now(), err)
			}
		})
	}
}

// TestVerifier_AheadWritesOnlyForTheKeyHolder: a proof refused for an iat
// ahead of the clock is recorded (TestVerifier_AheadRemembered) before
// any refresh limit counts it, so who can cause such records matters.
// Only a proof whose signature verifies with the bound key gets that far:
// someone without the private key, who knows the public key (every proof
// carries it) and holds a captured proof and token, records nothing new,
// whatever jti or iat they write, and sending the captured proof again
// finds its record and adds none.
func TestVerifier_AheadWritesOnlyForTheKeyHolder(t *testing.T) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tp, _ := (&jose.JSONWebKey{Key: ec.Public()}).Thumbprint(0x5) // crypto.SHA256
	req := dpop.Request{Method: "GET", URL: reqURL, JKT: base64.RawURLEncoding.EncodeToString(tp)}
	ahead := with(baseClaims(), "iat", t0.Add(time.Hour).Unix())
	captured := sign(t, ec, jose.ES256, nil, ahead)
	// rewrite replaces the claims of the captured proof, its header
	// (the bound key) and signature kept.
	rewrite := func(cl map[string]any) string {
		b, _ := json.Marshal(cl)
		parts := strings.Split(captured, ".")
		return parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2]
	}
	boundJWK := jose.JSONWebKey{Key: ec.Public()}
	tests := []struct {
		name  string
		proof string
		want  error
	}{
		{"the captured proof, a new jti", rewrite(with(ahead, "jti", rand.Text())), dpop.ErrSignature},
		{"the captured proof, a later iat", rewrite(with(ahead, "iat", t0.Add(2*time.Hour).Unix())), dpop.ErrSignature},
		{"the bound key's jwk, signed by another key",
			sign(t, other, jose.ES256, map[jose.HeaderKey]any{"nojwk": true, "jwk": boundJWK}, with(ahead, "jti", rand.Text())), dpop.ErrSignature},
		{"another key's proof", sign(t, other, jose.ES256, nil, with(ahead, "jti", rand.Text())), dpop.ErrKeyMismatch},
		{"the captured proof again", captured, dpop.ErrIssuedAt},
	}
	clock := &fakeClock{t: t0}
	replay := &recordingReplay{}
	v, err := dpop.New(dpop.Options{Clock: clock, Replay: replay})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	// The key holder's request, its clock an hour fast: one record.
	if _, err := v.Verify(ctx, captured, req); !errors.Is(err, sessiond.ErrClockSkew) {
		t.Fatalf("the key holder's proof an hour ahead = %v; want ErrClockSkew", err)
	}
	if replay.fresh != 1 {
		t.Fatalf("the key holder's proof an hour ahead: %d records; want 1", replay.fresh)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := v.Verify(ctx, tc.proof, req); !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v; want %v", err, tc.want)
			}
			if replay.fresh != 1 {
				t.Errorf("%d records after it; want still the key holder's 1", replay.fresh)
			}
		})
	}
}
