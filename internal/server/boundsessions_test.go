package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/jwttoken/signing"
)

// TestGateway_DPoPBoundToken: served end to end, the access token of a
// session bound to a DPoP key is refused by the gateway's check (as Bearer
// and as the cookie), which takes no proof; the API's verify, which does,
// still accepts it with a proof; introspection names the key.
func TestGateway_DPoPBoundToken(t *testing.T) {
	base := runGateway(t, nil)
	p := testenv.Prover(t, nil)
	const tokenURL, apiURL = "https://app.example/oauth/token", "https://app.example/api/orders"
	proof, _ := p.Proof("POST", tokenURL, "", "")
	body, _ := json.Marshal(map[string]string{"subject": "dana", "dpop_proof": proof, "htm": "POST", "htu": tokenURL})
	bound := createWith(t, base, string(body))
	tok, _ := bound["access_token"].(string)
	plain := createWith(t, base, `{"subject":"erin"}`)
	plainTok, _ := plain["access_token"].(string)
	if tok == "" || plainTok == "" {
		t.Fatalf("create answers %v %v", bound, plain)
	}
	get := func(hdr, value string) int {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+"/sessiond/check", nil)
		req.Header.Set(hdr, value)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode == http.StatusOK && res.Header.Get("X-Sessiond-Subject") == "" {
			t.Error("check 200 without the subject")
		}
		return res.StatusCode
	}
	for _, c := range []struct {
		name, hdr, value string
		want             int
	}{
		{"bound Bearer", "Authorization", "Bearer " + tok, http.StatusUnauthorized},
		{"bound cookie", "Cookie", "sid=" + tok, http.StatusUnauthorized},
		{"unbound Bearer", "Authorization", "Bearer " + plainTok, http.StatusOK},
		{"unbound cookie", "Cookie", "sid=" + plainTok, http.StatusOK},
	} {
		if got := get(c.hdr, c.value); got != c.want {
			t.Errorf("check with %s = %d; want %d", c.name, got, c.want)
		}
	}

	// The API's verify checks the proof, so it still takes the token.
	vp, _ := p.Proof("GET", apiURL, sessiond.Secret(tok), "")
	vb, _ := json.Marshal(map[string]string{"access_token": tok, "dpop_proof": vp, "htm": "GET", "htu": apiURL})
	res := apiRequest(t, http.MethodPost, base+"/v1/sessions/verify", gatewayKey, "application/json", bytes.NewReader(vb))
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("verify with a proof = %d; want 200", res.StatusCode)
	}

	form := url.Values{"token": {tok}}
	res = apiRequest(t, http.MethodPost, base+"/oauth2/introspect", gatewayKey, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()))
	defer res.Body.Close()
	var in struct {
		Active bool `json:"active"`
		Cnf    struct {
			JKT string `json:"jkt"`
		} `json:"cnf"`
	}
	if err := json.NewDecoder(res.Body).Decode(&in); err != nil || !in.Active || in.Cnf.JKT != p.JKT() {
		t.Fatalf("introspect = %+v, %v; want active with cnf.jkt %s", in, err, p.JKT())
	}
}

// TestGateway_DBSCKeySealed: the DBSC key is stored sealed with the
// signing KEK; a key an earlier release stored as bare bytes is kept (the
// same key) and sealed.
func TestGateway_DBSCKeySealed(t *testing.T) {
	cfg := devConfig(t)
	cfg.Gateway.Enabled, cfg.Gateway.LoginURL, cfg.Gateway.DBSC = true, "/login", config.DBSCOptional
	cfg.Cookie.Secure = false
	legacy := bytes.Repeat([]byte{0xc3}, 32)
	s := openSQLite(t, cfg)
	if _, err := s.PutMeta(context.Background(), server.DBSCKeyDoc, legacy, 0); err != nil {
		t.Fatal(err)
	}
	s.Close()
	env := func(name string) string {
		if name == config.EnvKEK {
			return kekText(9)
		}
		return ""
	}
	n := start(t, server.Options{Config: cfg, Getenv: env, InsecureDev: true})
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	doc := storedDoc(t, cfg, server.DBSCKeyDoc)
	if !bytes.Contains(doc, []byte(`"sealed"`)) || bytes.Contains(doc, []byte(`"secret"`)) || bytes.Contains(doc, legacy) {
		t.Fatalf("the DBSC key is not sealed: %.200q", doc)
	}
	var d struct{ Sealed json.RawMessage }
	kek, _ := signing.ParseKEK([]byte(kekText(9)))
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	if key, _, err := signing.OpenDocument(server.DBSCKeyDoc, d.Sealed, kek); err != nil || !bytes.Equal(key, legacy) {
		t.Fatalf("sealed DBSC key = %x, %v; want the earlier key %x", key, err, legacy)
	}
}

// TestGateway_DBSCRateLimit: served, the DBSC routes are limited per
// browser address (gateway.client_ip_header) at rate_limit.per_client_ip.
func TestGateway_DBSCRateLimit(t *testing.T) {
	base := runGateway(t, func(c *config.Config) {
		c.Gateway.DBSC = config.DBSCOptional
		c.Gateway.ClientIPHeader = "X-Real-IP"
		c.RateLimit.PerClientIP = config.RateRule{Requests: 1, Per: config.Duration(time.Hour), Burst: 2}
	})
	post := func(path, ip string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, base+path, nil)
		req.Header.Set("X-Real-IP", ip)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	for i := range 2 {
		if res := post("/sessiond/dbsc/register", "203.0.113.5"); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("registration %d without a session = %d; want 401", i+1, res.StatusCode)
		}
	}
	for _, path := range []string{"/sessiond/dbsc/register", "/sessiond/dbsc/refresh"} {
		if res := post(path, "203.0.113.5"); res.StatusCode != http.StatusTooManyRequests || res.Header.Get("Retry-After") == "" {
			t.Errorf("POST %s over the limit = %d, Retry-After %q; want 429 with Retry-After", path, res.StatusCode, res.Header.Get("Retry-After"))
		}
	}
	if res := post("/sessiond/dbsc/refresh", "203.0.113.6"); res.StatusCode == http.StatusTooManyRequests {
		t.Error("another browser address is limited too")
	}
}
