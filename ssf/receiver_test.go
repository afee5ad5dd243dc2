package ssf_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/ssf"

	"github.com/sessiond/sessiond/internal/testenv"
)

const (
	testIss = "https://idp.example.com/"
	testAud = "https://sessiond.example.com/"
)

// transmitter is a Shared Signals transmitter written for the tests: its
// own key, its JWKS served over HTTP, SETs signed with go-jose.
type transmitter struct {
	key     *ecdsa.PrivateKey
	jwks    *httptest.Server
	fetches atomic.Int32
}

func newTransmitter(t *testing.T) *transmitter {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tr := &transmitter{key: k}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: "tx-1", Algorithm: "ES256", Use: "sig"}}}
	tr.jwks = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		tr.fetches.Add(1)
		_ = json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(tr.jwks.Close)
	return tr
}

// sign returns a compact JWS of claims signed by key with header typ.
func sign(t *testing.T, key any, alg jose.SignatureAlgorithm, kid, typ string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithHeader("kid", kid)
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	return testenv.SignJWS(t, key, alg, opts, claims)
}

type fixture struct {
	rc    *ssf.Receiver
	mgr   *sessiond.Manager
	store *memstore.Store
	srv   *httptest.Server
	tr    *transmitter
	now   time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st := memstore.New()
	mgr, err := sessiond.New(ctx, sessiond.Options{Store: st, Strategy: sessiond.StrategyDatabase, Events: eventLog{st}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mgr.Close() })
	tr := newTransmitter(t)
	rc, err := ssf.New(ssf.Options{Name: "idp", Issuer: testIss, Audience: testAud, JWKSURL: tr.jwks.URL,
		Subject: ssf.SubjectRule{Format: ssf.FormatEmail, Template: "user:{value}"}, Revoker: mgr,
		Replay: st, Events: eventLog{st}, MaxBodyBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rc)
	t.Cleanup(srv.Close)
	return &fixture{rc: rc, mgr: mgr, store: st, srv: srv, tr: tr, now: time.Now()}
}

type eventLog struct{ st *memstore.Store }

func (l eventLog) Record(ctx context.Context, e sessiond.Event) error {
	return l.st.AppendEvents(ctx, e)
}

func (f *fixture) push(t *testing.T, body string) (int, string) {
	t.Helper()
	code, err, _ := f.pushDescribed(t, body)
	return code, err
}

// pushDescribed is push that also returns the refusal's description.
func (f *fixture) pushDescribed(t *testing.T, body string) (code int, err, description string) {
	t.Helper()
	resp, postErr := http.Post(f.srv.URL, "application/secevent+jwt", strings.NewReader(body))
	if postErr != nil {
		t.Fatal(postErr)
	}
	defer resp.Body.Close()
	var e struct {
		Err         string `json:"err"`
		Description string `json:"description"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Err, e.Description
}

func (f *fixture) live(t *testing.T, subject string) int {
	t.Helper()
	ss, err := f.mgr.List(context.Background(), subject)
	if err != nil {
		t.Fatal(err)
	}
	return len(ss)
}

func (f *fixture) setEvents(t *testing.T) []sessiond.Event {
	t.Helper()
	evs, _, err := f.store.QueryEvents(context.Background(), sessiond.EventQuery{Type: ssf.EventSETReceived})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

func emailSubject(email string) map[string]any {
	return map[string]any{"format": "email", "email": email}
}

// pushRevokeAll pushes to rc a RISC sessions-revoked SET for
// a@example.com, signed by key under kid, and returns the status.
func pushRevokeAll(t *testing.T, rc http.Handler, key *ecdsa.PrivateKey, kid, jti string, iat time.Time) int {
	t.Helper()
	c := claims(jti, iat, ssf.RISCSessionsRevoked, map[string]any{"subject": emailSubject("a@example.com")})
	req := httptest.NewRequest(http.MethodPost, "/ssf/push", strings.NewReader(sign(t, key, jose.ES256, kid, "secevent+jwt", c)))
	req.Header.Set("Content-Type", "application/secevent+jwt")
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, req)
	return w.Code
}

func claims(jti string, iat time.Time, event string, payload map[string]any) map[string]any {
	return map[string]any{"iss": testIss, "aud": []string{testAud}, "iat": iat.Unix(), "jti": jti,
		"events": map[string]any{event: payload}}
}

func TestPushRevokes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	a1, _ := f.mgr.Create(ctx, "user:alice@example.com", sessiond.CreateOptions{})
	a2, _ := f.mgr.Create(ctx, "user:alice@example.com", sessiond.CreateOptions{})
	_, _ = f.mgr.Create(ctx, "user:bob@example.com", sessiond.CreateOptions{})

	// session-revoked naming one session ends only that one.
	one := claims("jti-1", f.now, ssf.CAEPSessionRevoked, map[string]any{"subject": map[string]any{"format": "complex",
		"user": emailSubject("alice@example.com"), "session": map[string]any{"format": "opaque", "id": string(a1.Session.ID)}}})
	if code, e := f.push(t, sign(t, f.tr.key, jose.ES256, "tx-1", "secevent+jwt", one)); code != http.StatusAccepted {
		t.Fatalf("session-revoked = %d %s; want 202", code, e)
	}
	if _, err := f.mgr.Get(ctx, a1.Session.ID); err == nil {
		t.Error("named session still live")
	}
	if _, err := f.mgr.Get(ctx, a2.Session.ID); err != nil {
		t.Errorf("other session of the subject ended: %v", err)
	}
	// account-disabled (subject in sub_id, SSF 1.0 style) ends all of alice's.
	all := claims("jti-2", f.now, ssf.RISCAccountDisabled, map[string]any{})
	all["sub_id"] = emailSubject("alice@example.com")
	if code, e := f.push(t, sign(t, f.tr.key, jose.ES256, "tx-1", "secevent+jwt", all)); code != http.StatusAccepted {
		t.Fatalf("account-disabled = %d %s; want 202", code, e)
	}
	if n := f.live(t, "user:alice@example.com"); n != 0 {
		t.Errorf("alice has %d live sessions; want 0", n)
	}
	if n := f.live(t, "user:bob@example.com"); n != 1 {
		t.Errorf("bob has %d live sessions; want 1", n)
	}
	evs := f.setEvents(t)
	if len(evs) != 2 || evs[0].Details["outcome"] != "accepted" || evs[1].Subject != "user:alice@example.com" {
		t.Errorf("events = %+v; want two accepted SETs", evs)
	}
	revoked, _, _ := f.store.QueryEvents(ctx, sessiond.EventQuery{Type: sessiond.EventSessionRevoked})
	for _, e := range revoked {
		if e.Details["reason"] != string(ssf.ReasonSSF) {
			t.Errorf("revoke reason %v; want ssf", e.Details["reason"])
		}
	}
}

func TestPushRefused(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good := func(jti string) map[string]any {
		return claims(jti, f.now, ssf.RISCAccountDisabled, map[string]any{"subject": emailSubject("alice@example.com")})
	}
	with := func(jti, k string, v any) map[string]any { c := good(jti); c[k] = v; return c }
	es := func(c map[string]any) string { return sign(t, f.tr.key, jose.ES256, "tx-1", "secevent+jwt", c) }
	replayed := es(good("replayed"))
	// The replayed SET is first accepted once (no sessions yet), then refused.
	if code, e := f.push(t, replayed); code != http.StatusAccepted {
		t.Fatalf("first push = %d %s", code, e)
	}
	// alg none, built by hand since go-jose will not sign it.
	hdr := `{"alg":"none","typ":"secevent+jwt","kid":"tx-1"}`
	payload, _ := json.Marshal(good("none"))
	none := b64(hdr) + "." + b64(string(payload)) + "."

	tests := []struct {
		name, body, want string
	}{
		{"bad signature", sign(t, other, jose.ES256, "tx-1", "secevent+jwt", good("badsig")), ssf.CodeAuthenticationFailed},
		{"tampered payload", tamper(es(good("tamper"))), ssf.CodeAuthenticationFailed},
		{"wrong audience", es(with("aud", "aud", "https://other.example/")), ssf.CodeInvalidAudience},
		{"wrong issuer", es(with("iss", "iss", "https://evil.example/")), ssf.CodeInvalidIssuer},
		{"stale iat", es(with("stale", "iat", f.now.Add(-time.Hour).Unix())), ssf.CodeInvalidRequest},
		{"future iat", es(with("future", "iat", f.now.Add(time.Hour).Unix())), ssf.CodeInvalidRequest},
		{"missing jti", es(with("", "jti", "")), ssf.CodeInvalidRequest},
		{"replayed jti", replayed, ssf.CodeInvalidRequest},
		{"unknown event type", es(claims("unk", f.now, "https://schemas.openid.net/secevent/caep/event-type/token-claims-change",
			map[string]any{"subject": emailSubject("alice@example.com")})), ssf.CodeInvalidRequest},
		{"two events", es(with("two", "events", map[string]any{ssf.RISCAccountDisabled: map[string]any{}, ssf.RISCAccountPurged: map[string]any{}})), ssf.CodeInvalidRequest},
		{"malformed subject", es(claims("subj", f.now, ssf.RISCAccountDisabled, map[string]any{"subject": map[string]any{"format": "email", "email": "no-at-sign"}})), ssf.CodeInvalidRequest},
		{"wrong subject format", es(claims("fmt", f.now, ssf.RISCAccountDisabled, map[string]any{"subject": map[string]any{"format": "opaque", "id": "x"}})), ssf.CodeInvalidRequest},
		{"no subject", es(claims("nosub", f.now, ssf.RISCAccountDisabled, map[string]any{})), ssf.CodeInvalidRequest},
		{"sub_id and event subject differ", es(with("conflict", "sub_id", emailSubject("bob@example.com"))), ssf.CodeInvalidRequest},
		{"wrong typ", sign(t, f.tr.key, jose.ES256, "tx-1", "JWT", good("typ")), ssf.CodeInvalidRequest},
		{"no typ", sign(t, f.tr.key, jose.ES256, "tx-1", "", good("notyp")), ssf.CodeInvalidRequest},
		{"alg none", none, ssf.CodeInvalidRequest},
		{"alg HS256", sign(t, []byte("0123456789abcdef0123456789abcdef"), jose.HS256, "tx-1", "secevent+jwt", good("hs")), ssf.CodeInvalidRequest},
		{"oversized body", es(with("big", "pad", strings.Repeat("a", 5000))), ssf.CodeInvalidRequest},
		{"not a JWS", "hello", ssf.CodeInvalidRequest},
	}
	a, _ := f.mgr.Create(ctx, "user:alice@example.com", sessiond.CreateOptions{})
	before := len(f.setEvents(t))
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, e := f.push(t, tc.body)
			if code != http.StatusBadRequest || e != tc.want {
				t.Errorf("push = %d %q; want 400 %q", code, e, tc.want)
			}
		})
	}
	if _, err := f.mgr.Get(ctx, a.Session.ID); err != nil {
		t.Errorf("a refused SET ended the session: %v", err)
	}
	evs := f.setEvents(t)
	if got := len(evs) - before; got != len(tests) {
		t.Errorf("%d events recorded for %d refused SETs", got, len(tests))
	}
	for _, e := range evs[before:] {
		if e.Details["outcome"] != "refused" || e.Details["err"] == "" {
			t.Errorf("event %+v; want refused with its error", e.Details)
		}
		if b, _ := json.Marshal(e); strings.Contains(string(b), "eyJ") {
			t.Errorf("event holds token text: %s", b)
		}
	}
	// The unknown kid refetched the JWKS at most once (rate limited).
	if n := f.tr.fetches.Load(); n > 2 {
		t.Errorf("JWKS fetched %d times; want at most 2", n)
	}
}

// TestPushClaimTypeNamed: a SET whose claim has the wrong JSON type is
// refused as invalid_request with a description naming the claim, not as
// claims that are not an object.
func TestPushClaimTypeNamed(t *testing.T) {
	f := newFixture(t)
	for name, iat := range map[string]any{"string": fmt.Sprint(f.now.Unix()), "fraction": float64(f.now.Unix()) + 0.5} {
		c := claims("type-"+name, f.now, ssf.RISCAccountDisabled, map[string]any{"subject": emailSubject("alice@example.com")})
		c["iat"] = iat
		code, e, desc := f.pushDescribed(t, sign(t, f.tr.key, jose.ES256, "tx-1", "secevent+jwt", c))
		if code != http.StatusBadRequest || e != ssf.CodeInvalidRequest || desc != "claim iat is not of its type" {
			t.Errorf("iat as a %s: %d %q %q; want 400 invalid_request naming iat", name, code, e, desc)
		}
	}
}

func TestForeignSessionRefused(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	bob, _ := f.mgr.Create(ctx, "user:bob@example.com", sessiond.CreateOptions{})
	c := claims("foreign", f.now, ssf.CAEPSessionRevoked, map[string]any{"subject": map[string]any{"format": "complex",
		"user": emailSubject("alice@example.com"), "session": map[string]any{"format": "opaque", "id": string(bob.Session.ID)}}})
	if code, e := f.push(t, sign(t, f.tr.key, jose.ES256, "tx-1", "secevent+jwt", c)); code != http.StatusBadRequest || e != ssf.CodeAccessDenied {
		t.Fatalf("push = %d %q; want 400 access_denied", code, e)
	}
	if _, err := f.mgr.Get(ctx, bob.Session.ID); err != nil {
		t.Errorf("bob's session ended: %v", err)
	}
}

func TestBearerAndContentType(t *testing.T) {
	st := memstore.New()
	mgr, err := sessiond.New(context.Background(), sessiond.Options{Store: st, Strategy: sessiond.StrategyDatabase})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	tr := newTransmitter(t)
	rc, err := ssf.New(ssf.Options{Name: "idp", Issuer: testIss, Audience: testAud, JWKSURL: tr.jwks.URL,
		Subject: ssf.SubjectRule{Format: ssf.FormatEmail}, Revoker: mgr, BearerToken: "s3cret-push-token-0123456789abcdef"})
	if err != nil {
		t.Fatal(err)
	}
	const good = "Bearer s3cret-push-token-0123456789abcdef"
	for i, tc := range []struct {
		name  string
		auth  []string
		ctype string
		want  int
	}{
		{"no token", nil, "application/secevent+jwt", http.StatusUnauthorized},
		{"wrong token", []string{"Bearer nope"}, "application/secevent+jwt", http.StatusUnauthorized},
		{"another scheme", []string{"Basic s3cret-push-token-0123456789abcdef"}, "application/secevent+jwt", http.StatusUnauthorized},
		{"no scheme", []string{"s3cret-push-token-0123456789abcdef"}, "application/secevent+jwt", http.StatusUnauthorized},
		{"good, then a wrong one", []string{good, "Bearer nope"}, "application/secevent+jwt", http.StatusUnauthorized},
		{"good twice", []string{good, good}, "application/secevent+jwt", http.StatusUnauthorized},
		{"wrong content type", []string{good}, "application/json", http.StatusBadRequest},
		{"good", []string{good}, "application/secevent+jwt", http.StatusAccepted},
		// Auth schemes are case-insensitive (RFC 9110 §11.1).
		{"lower-case scheme", []string{"bearer s3cret-push-token-0123456789abcdef"}, "application/secevent+jwt", http.StatusAccepted},
		{"upper-case scheme", []string{"BEARER s3cret-push-token-0123456789abcdef"}, "application/secevent+jwt", http.StatusAccepted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A SET of its own: one accepted is a replay for the next.
			body := sign(t, tr.key, jose.ES256, "tx-1", "secevent+jwt", claims(fmt.Sprintf("b-%d", i), time.Now(), ssf.RISCAccountPurged, map[string]any{"subject": emailSubject("a@example.com")}))
			req := httptest.NewRequest(http.MethodPost, "/ssf/push", strings.NewReader(body))
			req.Header.Set("Content-Type", tc.ctype)
			for _, a := range tc.auth {
				req.Header.Add("Authorization", a)
			}
			w := httptest.NewRecorder()
			rc.ServeHTTP(w, req)
			if w.Code != tc.want {
				t.Errorf("status %d; want %d (%s)", w.Code, tc.want, w.Body)
			}
		})
	}
}

// TestKeyRotation: a SET signed by a key the cached JWKS lacks refetches
// the set, but at most once per JWKSInterval, so forged kids cannot make
// the receiver hammer the transmitter. Within the interval such a SET is
// answered 503, not 400 invalid_key: anyone can spend the interval with a
// forged kid (looked up before the signature), and a final 400 would make
// the provider drop the SETs of its newly rotated key (RFC 8935 §2.3).
func TestKeyRotation(t *testing.T) {
	ctx := context.Background()
	clock := sessiondtest.NewClock(time.Now().Truncate(time.Second))
	st := memstore.New()
	mgr, err := sessiond.New(ctx, sessiond.Options{Store: st, Strategy: sessiond.StrategyDatabase, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer mgr.Close()
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var current atomic.Pointer[jose.JSONWebKeySet]
	current.Store(&jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k1.PublicKey, KeyID: "k1", Algorithm: "ES256"}}})
	var fetches atomic.Int32
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fetches.Add(1)
		_ = json.NewEncoder(w).Encode(current.Load())
	}))
	defer jwks.Close()
	rc, err := ssf.New(ssf.Options{Name: "idp", Issuer: testIss, Audience: testAud, JWKSURL: jwks.URL,
		Subject: ssf.SubjectRule{Format: ssf.FormatEmail}, Revoker: mgr, Clock: clock, JWKSInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	push := func(key *ecdsa.PrivateKey, kid, jti string) int {
		return pushRevokeAll(t, rc, key, kid, jti, clock.Now())
	}
	if code := push(k1, "k1", "1"); code != http.StatusAccepted {
		t.Fatalf("k1 = %d; want 202", code)
	}
	current.Store(&jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k2.PublicKey, KeyID: "k2", Algorithm: "ES256"}}})
	for i := range 5 {
		// Not final: the transmitter sends it again, and after the
		// interval the new key is fetched.
		if code := push(k2, "k2", fmt.Sprint("early", i)); code != http.StatusServiceUnavailable {
			t.Fatalf("k2 within the interval = %d; want 503", code)
		}
	}
	if n := fetches.Load(); n != 1 {
		t.Errorf("JWKS fetched %d times within the interval; want 1", n)
	}
	clock.Advance(2 * time.Minute)
	if code := push(k2, "k2", "2"); code != http.StatusAccepted {
		t.Errorf("k2 after the interval = %d; want 202", code)
	}
	if n := fetches.Load(); n != 2 {
		t.Errorf("JWKS fetched %d times; want 2", n)
	}
	// A kid that a fetch made for it does not find is final: 400
	// invalid_key (TestPushRefused's other refusals).
	clock.Advance(2 * time.Minute)
	if code := push(k2, "k9", "3"); code != http.StatusBadRequest {
		t.Errorf("a kid not in a fresh fetch = %d; want 400", code)
	}
}

// TestRedirectsNotFollowed: a provider endpoint that answers with a
// redirect (to plain http, or anywhere else) is not followed, neither for
// the JWKS (where it would let a key served elsewhere verify SETs) nor for
// a poll (where the poll's Authorization would go along).
func TestRedirectsNotFollowed(t *testing.T) {
	ctx := context.Background()
	attacker := newTransmitter(t) // its JWKS: the attacker's key, as "tx-1"
	var followed atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		followed.Add(1)
		http.Redirect(w, r, attacker.jwks.URL, http.StatusFound)
	}))
	t.Cleanup(elsewhere.Close)
	redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL+"/poll", http.StatusTemporaryRedirect)
	}))
	t.Cleanup(redirecting.Close)

	st := memstore.New()
	mgr, err := sessiond.New(ctx, sessiond.Options{Store: st, Strategy: sessiond.StrategyDatabase})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mgr.Close() })
	rc, err := ssf.New(ssf.Options{Name: "idp", Issuer: testIss, Audience: testAud, JWKSURL: redirecting.URL,
		Subject: ssf.SubjectRule{Format: ssf.FormatEmail}, Revoker: mgr, Replay: st})
	if err != nil {
		t.Fatal(err)
	}
	alice, err := mgr.Create(ctx, "a@example.com", sessiond.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	set := sign(t, attacker.key, jose.ES256, "tx-1", "secevent+jwt",
		claims("redirected", time.Now(), ssf.RISCAccountDisabled, map[string]any{"subject": emailSubject("a@example.com")}))
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(set))
	req.Header.Set("Content-Type", "application/secevent+jwt")
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, req)
	if w.Code == http.StatusAccepted || followed.Load() != 0 || attacker.fetches.Load() != 0 {
		t.Errorf("push verified against a redirected JWKS: %d, redirects followed %d, attacker's JWKS fetched %d; want refused, 0, 0",
			w.Code, followed.Load(), attacker.fetches.Load())
	}
	if _, err := mgr.Get(ctx, alice.Session.ID); err != nil {
		t.Errorf("alice's session after the push = %v; want it live", err)
	}

	p, err := rc.NewPoller(ssf.PollOptions{URL: redirecting.URL, Authorization: "Bearer poll-secret"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Poll(ctx); err == nil || followed.Load() != 0 {
		t.Errorf("poll of a redirecting endpoint = %v, redirects followed %d; want an error and none", err, followed.Load())
	}
}

// TestJWKSFailureRetryable: while the transmitter's JWKS cannot be fetched,
// a SET is answered 503 (the transmitter retries it), not a final 400 that
// would drop it, also within the minute between fetches; and a request
// that gives up while the fetch runs does not fail the fetch for the
// others (an unauthenticated push could otherwise keep a node's keys
// empty).
func TestJWKSFailureRetryable(t *testing.T) {
	ctx := context.Background()
	clock := sessiondtest.NewClock(time.Now().Truncate(time.Second))
	st := memstore.New()
	mgr, err := sessiond.New(ctx, sessiond.Options{Store: st, Strategy: sessiond.StrategyDatabase, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = mgr.Close() })
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var down atomic.Bool
	var slow atomic.Int64 // ms each fetch takes
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(time.Duration(slow.Load()) * time.Millisecond)
		if down.Load() {
			http.Error(w, "down", http.StatusBadGateway)
			return
		}
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &k.PublicKey, KeyID: "k1", Algorithm: "ES256"}}})
	}))
	t.Cleanup(jwks.Close)
	rc, err := ssf.New(ssf.Options{Name: "idp", Issuer: testIss, Audience: testAud, JWKSURL: jwks.URL,
		Subject: ssf.SubjectRule{Format: ssf.FormatEmail}, Revoker: mgr, Clock: clock, JWKSInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	push := func(ctx context.Context, jti string) int {
		c := claims(jti, clock.Now(), ssf.RISCSessionsRevoked, map[string]any{"subject": emailSubject("a@example.com")})
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/", strings.NewReader(sign(t, k, jose.ES256, "k1", "secevent+jwt", c)))
		req.Header.Set("Content-Type", "application/secevent+jwt")
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, req)
		return w.Code
	}

	down.Store(true)
	for i := range 3 { // the first fetches and fails; the others fall within its minute
		if code := push(ctx, fmt.Sprint("down", i)); code != http.StatusServiceUnavailable {
			t.Fatalf("push %d while the JWKS is down = %d; want 503", i, code)
		}
	}
	down.Store(false)
	clock.Advance(2 * time.Minute)
	if code := push(ctx, "up"); code != http.StatusAccepted {
		t.Fatalf("push once the JWKS is back = %d; want 202", code)
	}

	// A fresh receiver; the first request hangs up while the fetch runs.
	rc, err = ssf.New(ssf.Options{Name: "idp", Issuer: testIss, Audience: testAud, JWKSURL: jwks.URL,
		Subject: ssf.SubjectRule{Format: ssf.FormatEmail}, Revoker: mgr, Clock: clock, JWKSInterval: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	slow.Store(200)
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	push(short, "gave-up")
	cancel()
	slow.Store(0)
	if code := push(ctx, "after"); code != http.StatusAccepted {
		t.Errorf("push after another request gave up during the fetch = %d; want 202", code)
	}
}

// TestReplayAcrossReceivers: one SET acts once, also when two receivers
// take the same issuer's SETs (a push and a poll one, say): its replay to
// the other one is refused.
func TestReplayAcrossReceivers(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	second, err := ssf.New(ssf.Options{Name: "idp-poll", Issuer: testIss, Audience: testAud, JWKSURL: f.tr.jwks.URL,
		Subject: ssf.SubjectRule{Format: ssf.FormatEmail, Template: "user:{value}"}, Revoker: f.mgr,
		Replay: f.store, Events: eventLog{f.store}, MaxBodyBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	set := sign(t, f.tr.key, jose.ES256, "tx-1", "secevent+jwt",
		claims("once", time.Now(), ssf.RISCAccountDisabled, map[string]any{"subject": emailSubject("alice@example.com")}))
	if code, e := f.push(t, set); code != http.StatusAccepted {
		t.Fatalf("push to the first receiver = %d %s; want 202", code, e)
	}
	// alice logs in again after the SET; its replay must not end that session.
	if _, err := f.mgr.Create(ctx, "user:alice@example.com", sessiond.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(set))
	req.Header.Set("Content-Type", "application/secevent+jwt")
	w := httptest.NewRecorder()
	second.ServeHTTP(w, req)
	if w.Code != http.StatusBadRequest {
		t.Errorf("the same SET to a second receiver of its issuer = %d; want 400 (a replay)", w.Code)
	}
	if n := f.live(t, "user:alice@example.com"); n != 1 {
		t.Errorf("alice's live sessions after the replay: %d; want her new one", n)
	}
}

// TestPushSubjectForms: a SET naming a user in another Unicode form than
// the one its sessions are stored under (NFC, as POST /v1/sessions stores
// them) ends those sessions, and a subject the API would refuse is refused
// as one that does not map (400 invalid_request), acting on nothing.
func TestPushSubjectForms(t *testing.T) {
	const nfc = "zo\u00eb@example.com"
	const nfd = "zo\u0065\u0308@example.com"
	tests := []struct {
		name    string
		event   string
		user    string
		session bool // name the user's session in a complex identifier
		want    int  // status
		wantErr string
		revoked bool
	}{
		{"account-disabled in NFD", ssf.RISCAccountDisabled, nfd, false, http.StatusAccepted, "", true},
		{"account-disabled in NFC", ssf.RISCAccountDisabled, nfc, false, http.StatusAccepted, "", true},
		{"session-revoked in NFD", ssf.CAEPSessionRevoked, nfd, true, http.StatusAccepted, "", true},
		{"left-to-right mark", ssf.RISCAccountDisabled, "zo\u00eb\u200e@example.com", false, http.StatusBadRequest, ssf.CodeInvalidRequest, false},
		{"session-revoked with a control character", ssf.CAEPSessionRevoked, "zo\u00eb\x7f@example.com", true, http.StatusBadRequest, ssf.CodeInvalidRequest, false},
		{"too long", ssf.RISCAccountDisabled, strings.Repeat("z", sessiond.MaxSubjectBytes) + "@example.com", false, http.StatusBadRequest, ssf.CodeInvalidRequest, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			f := newFixture(t)
			zoe, err := f.mgr.Create(ctx, "user:"+nfc, sessiond.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			var sub any = emailSubject(tc.user)
			if tc.session {
				sub = map[string]any{"format": "complex", "user": sub,
					"session": map[string]any{"format": "opaque", "id": string(zoe.Session.ID)}}
			}
			c := claims("jti-"+tc.name, f.now, tc.event, map[string]any{})
			c["sub_id"] = sub
			code, e := f.push(t, sign(t, f.tr.key, jose.ES256, "tx-1", "secevent+jwt", c))
			if code != tc.want || e != tc.wantErr {
				t.Errorf("push = %d %q; want %d %q", code, e, tc.want, tc.wantErr)
			}
			if _, err := f.mgr.Get(ctx, zoe.Session.ID); (err != nil) != tc.revoked {
				t.Errorf("Get(zoë's session) = %v; want revoked %v", err, tc.revoked)
			}
			evs := f.setEvents(t)
			switch {
			case len(evs) != 1:
				t.Errorf("%d ssf.set_received events; want 1", len(evs))
			case tc.revoked && (evs[0].Subject != "user:"+nfc || evs[0].Details["revoked"] != 1.0): // details kept as JSON
				t.Errorf("event subject %q, details %v; want the NFC subject and 1 revoked", evs[0].Subject, evs[0].Details)
			case !tc.revoked && evs[0].Details["outcome"] != "refused":
				t.Errorf("event details %v; want refused", evs[0].Details)
			}
		})
	}
}
