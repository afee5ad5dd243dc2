package ssf_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/subject"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/ssf"
)

// FuzzSubjectRuleMap: a refusal is an ErrSubject with nothing mapped; a
// subject mapped is one the HTTP API accepts as it is (subject.Clean
// returns it unchanged), and a session only ever comes from a complex
// identifier.
func FuzzSubjectRuleMap(f *testing.F) {
	rules := []ssf.SubjectRule{
		{Format: ssf.FormatEmail, Template: "user:{value}"},
		{Format: ssf.FormatIssSub, Template: "{iss}|{value}"},
		{Format: ssf.FormatIssSub, Issuers: []string{"https://idp.example.com/"}},
		{Format: ssf.FormatOpaque},
	}
	for _, s := range []string{
		`{"format":"email","email":"a@example.com"}`,
		`{"format":"iss_sub","iss":"https://idp.example.com/","sub":"00u1"}`,
		`{"format":"opaque","id":"zo\u0065\u0308"}`,
		`{"format":"complex","user":{"format":"opaque","id":"u"},"session":{"format":"opaque","id":"s_1"}}`,
		`{"format":"complex","user":{"format":"email","email":"a@b"}}`,
		`{"format":"opaque","id":"{iss}{value}"}`,
		`null`, `[]`, `{"format":"complex","user":null}`,
	} {
		for i := range rules {
			f.Add(uint8(i), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, raw []byte) {
		rule := rules[int(which)%len(rules)]
		got, sess, err := rule.Map(raw)
		if err != nil {
			if !errors.Is(err, ssf.ErrSubject) || got != "" || sess != "" {
				t.Fatalf("Map(%s) = %q, %q, %v; want ErrSubject and nothing mapped", raw, got, sess, err)
			}
			return
		}
		if c, err := subject.Clean("subject", got); err != nil || c != got {
			t.Fatalf("Map(%s) = %q; the API takes it as %q, %v", raw, got, c, err)
		}
		if sess != "" {
			var id struct {
				Format string `json:"format"`
			}
			if json.Unmarshal(raw, &id) != nil || id.Format != "complex" {
				t.Fatalf("Map(%s) named session %q outside a complex identifier", raw, sess)
			}
		}
	})
}

// FuzzReceive: any claim set the transmitter signs is acted upon (202,
// empty body) or refused (400 with an RFC 8935 code): never a 5xx, which
// the transmitter would retry for ever; and a refused SET ends no session.
func FuzzReceive(f *testing.F) {
	ctx := context.Background()
	now := time.Unix(1_900_000_000, 0)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "tx-1", Algorithm: "ES256", Use: "sig"}}}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _ = json.NewEncoder(w).Encode(set) }))
	f.Cleanup(jwks.Close)
	st := memstore.New()
	mgr, err := sessiond.New(ctx, sessiond.Options{Store: st, Strategy: sessiond.StrategyDatabase})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = mgr.Close() })
	rc, err := ssf.New(ssf.Options{Name: "idp", Issuer: testIss, Audience: testAud, JWKSURL: jwks.URL,
		Subject: ssf.SubjectRule{Format: ssf.FormatEmail, Template: "user:{value}"}, Revoker: mgr,
		Replay: st, MaxBodyBytes: 4096, Clock: sessiondtest.NewClock(now)})
	if err != nil {
		f.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key},
		(&jose.SignerOptions{}).WithHeader("kid", "tx-1").WithType("secevent+jwt"))
	if err != nil {
		f.Fatal(err)
	}
	const victim = "user:a@example.com"
	seed := func(event, subj string) string {
		return fmt.Sprintf(`{"iss":%q,"aud":%q,"iat":%d,"jti":"j1","events":{%q:{"subject":%s}}}`, testIss, testAud, now.Unix(), event, subj)
	}
	f.Add([]byte(seed(ssf.RISCSessionsRevoked, `{"format":"email","email":"a@example.com"}`)))
	f.Add([]byte(seed(ssf.CAEPSessionRevoked, `{"format":"complex","user":{"format":"email","email":"a@example.com"},"session":{"format":"opaque","id":"s"}}`)))
	f.Add([]byte(seed(ssf.RISCAccountDisabled, `{"format":"email","email":"b@example.com"}`)))
	f.Add([]byte(`{"iss":"` + testIss + `","aud":["x","` + testAud + `"],"iat":1900000000,"jti":"j2","sub_id":{"format":"email","email":"a@example.com"},"events":{"` + ssf.CAEPCredentialChange + `":{}}}`))
	f.Add([]byte(`{"iss":"` + testIss + `","aud":"` + testAud + `","iat":1.5e9,"jti":"j3","events":{}}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		if n := live(t, mgr, victim); n == 0 {
			if _, err := mgr.Create(ctx, victim, sessiond.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		before := live(t, mgr, victim)
		obj, err := signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		jws, err := obj.CompactSerialize()
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/ssf/push", strings.NewReader(jws))
		req.Header.Set("Content-Type", "application/secevent+jwt")
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusAccepted:
			if w.Body.Len() != 0 {
				t.Fatalf("202 with a body: %s", w.Body)
			}
		case http.StatusBadRequest:
			var e struct{ Err, Description string }
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
				t.Fatalf("400 body %q: %v", w.Body, err)
			}
			switch e.Err {
			case ssf.CodeInvalidRequest, ssf.CodeInvalidIssuer, ssf.CodeInvalidAudience, ssf.CodeAccessDenied:
			default:
				t.Fatalf("refused with err %q (%s); want an RFC 8935 code for a well-signed SET", e.Err, e.Description)
			}
			if after := live(t, mgr, victim); after != before {
				t.Fatalf("refused SET (%s: %s) changed the victim's sessions: %d → %d\npayload %s", e.Err, e.Description, before, after, payload)
			}
		default:
			t.Fatalf("status %d (%s) for a signed claim set %s", w.Code, w.Body, payload)
		}
	})
}

func live(t *testing.T, mgr *sessiond.Manager, subject string) int {
	t.Helper()
	ss, err := mgr.List(context.Background(), subject)
	if err != nil {
		t.Fatal(err)
	}
	return len(ss)
}

// FuzzStreamUpdate: a change to a stream's configuration (PATCH or PUT)
// is whole or not at all. Accepted (200), the configuration answered is
// what a read returns afterwards (stored and read back the same) and
// sending the same change again changes nothing; refused (4xx), a read
// returns the configuration as it was.
func FuzzStreamUpdate(f *testing.F) {
	st := memstore.New()
	ring, err := jwttoken.NewRing(time.Now(), jwttoken.RingOptions{MaxTokenLifetime: time.Hour})
	if err != nil {
		f.Fatal(err)
	}
	tx, err := ssf.NewTransmitter(ssf.TransmitterOptions{Issuer: "https://sessiond.example.com", Meta: st, Outbox: st,
		Signer: ring, AllowHTTP: true, AllowPrivate: true,
		Authenticate: func(context.Context, string) (string, bool, error) { return "key-a", false, nil }})
	if err != nil {
		f.Fatal(err)
	}
	call := func(t testing.TB, method, target, body string) (int, string) {
		req := httptest.NewRequest(method, target, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer key-a")
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		tx.ServeHTTP(w, req)
		return w.Code, w.Body.String()
	}
	code, body := call(f, http.MethodPost, ssf.PathStreams, `{"delivery":{"method":"urn:ietf:rfc:8936"}}`)
	var created struct {
		ID string `json:"stream_id"`
	}
	if code != http.StatusCreated || json.Unmarshal([]byte(body), &created) != nil {
		f.Fatalf("create = %d %s", code, body)
	}
	read := func(t testing.TB) string {
		code, body := call(t, http.MethodGet, ssf.PathStreams+"?stream_id="+created.ID, "")
		if code != http.StatusOK {
			t.Fatalf("read = %d %s", code, body)
		}
		return body
	}
	for _, s := range []string{
		`{"description":"x"}`,
		`{"aud":["a","b"],"events_requested":["` + ssf.CAEPSessionRevoked + `"]}`,
		`{"aud":""}`, `{"aud":[]}`, `{"aud":["a",""]}`,
		`{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"https://r.example/push","authorization_header":"Bearer x"}}`,
		`{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"https://u:p@r.example/"}}`,
		`{"delivery":{"method":"urn:ietf:rfc:8936"},"events_requested":[]}`,
		`{"description":"` + strings.Repeat("é", 300) + `"}`,
	} {
		f.Add(false, []byte(s))
		f.Add(true, []byte(s))
	}
	f.Fuzz(func(t *testing.T, put bool, in []byte) {
		var members map[string]json.RawMessage
		if json.Unmarshal(in, &members) != nil || members == nil {
			return
		}
		members["stream_id"], _ = json.Marshal(created.ID)
		req, _ := json.Marshal(members)
		method := http.MethodPatch
		if put {
			method = http.MethodPut
		}
		before := read(t)
		code, body := call(t, method, ssf.PathStreams, string(req))
		after := read(t)
		switch {
		case code == http.StatusOK:
			if body != after {
				t.Fatalf("%s %s answered\n%s\nthen read\n%s", method, req, body, after)
			}
			if code, again := call(t, method, ssf.PathStreams, string(req)); code != http.StatusOK || again != body {
				t.Fatalf("%s %s again = %d\n%s\nfirst\n%s", method, req, code, again, body)
			}
		case code >= 400 && code < 500:
			if after != before {
				t.Fatalf("%s %s refused (%d %s) but the stream changed:\n%s\nto\n%s", method, req, code, body, before, after)
			}
		default:
			t.Fatalf("%s %s = %d %s", method, req, code, body)
		}
	})
}
