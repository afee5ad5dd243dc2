package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"

	"github.com/sessiond/sessiond/internal/dbscclient"
	"github.com/sessiond/sessiond/internal/testenv"
)

// rawRequest is a request (no jar, no redirects) with hdr as header pairs.
func rawRequest(t *testing.T, method, u string, hdr ...string) *http.Response {
	t.Helper()
	c := &http.Client{CheckRedirect: testenv.NoRedirect}
	res, _ := testenv.Send(t, c, method, u, "", hdr...)
	return res
}

// TestE2E_Logout_BoundSessionThief: through the binary's gateway, a bound
// session's credential without what its binding asks (a DBSC-bound
// session's cookie without its bound cookie, a DPoP-bound token as a
// plain Bearer) is answered at logout as a browser without a session is,
// 204, and ends nothing: the owner stays signed in, where before the
// thief's logout ended the session.
func TestE2E_Logout_BoundSessionThief(t *testing.T) {
	t.Run("DBSC", func(t *testing.T) {
		n := startNode(t, nodeConfig{env: []string{"SESSIOND_API_KEY=" + testAPIKey}, args: []string{"--insecure-dev"},
			yaml: "environment: development\ncookie:\n  secure: false\ngateway:\n  enabled: true\n  login_url: /login\n  dbsc: optional\n"})
		hc, login := gatewayLogin(t, n.url, "alice")
		d, err := dbscclient.New(hc, n.url, "ES256")
		if err != nil {
			t.Fatal(err)
		}
		res, err := d.Register(login)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("DBSC registration = %d", res.StatusCode)
		}
		u, _ := url.Parse(n.url + "/")
		ck := map[string]string{}
		for _, c := range hc.Jar.Cookies(u) {
			ck[c.Name] = c.Value
		}
		if ck["sessiond"] == "" || ck["sessiond-bound"] == "" {
			t.Fatalf("cookies after registration: %v", ck)
		}
		owner := "sessiond=" + ck["sessiond"] + "; sessiond-bound=" + ck["sessiond-bound"]
		sameOrigin := []string{"Origin", n.url, "Sec-Fetch-Site", "same-origin"}
		for _, thief := range [][]string{
			{"Cookie", "sessiond=" + ck["sessiond"]},
			{"Authorization", "Bearer " + ck["sessiond"]},
		} {
			if r := rawRequest(t, "POST", n.url+"/sessiond/logout", append(sameOrigin, thief...)...); r.StatusCode != http.StatusNoContent {
				t.Errorf("thief's logout with %s = %d; want 204", thief[0], r.StatusCode)
			}
			if got := rawRequest(t, "GET", n.url+"/sessiond/check", "Cookie", owner).StatusCode; got != http.StatusOK {
				t.Fatalf("owner's check after a thief's logout with %s = %d; want 200", thief[0], got)
			}
		}
		if r := rawRequest(t, "POST", n.url+"/sessiond/logout", append(sameOrigin, "Cookie", owner)...); r.StatusCode != http.StatusNoContent {
			t.Fatalf("owner's logout = %d; want 204", r.StatusCode)
		}
		if got := rawRequest(t, "GET", n.url+"/sessiond/check", "Cookie", owner).StatusCode; got != http.StatusUnauthorized {
			t.Errorf("owner's check after the owner's logout = %d; want 401", got)
		}
	})
	t.Run("DPoP", func(t *testing.T) {
		n := startNode(t, nodeConfig{env: []string{"SESSIOND_API_KEY=" + testAPIKey}, yaml: "gateway:\n  enabled: true\n  login_url: /login\n"})
		p := testenv.Prover(t, nil)
		const tokenURL, apiURL = "https://app.example/oauth/token", "https://app.example/api/orders"
		proof, err := p.Proof("POST", tokenURL, "", "")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := json.Marshal(map[string]string{"subject": "dana", "dpop_proof": proof, "htm": "POST", "htu": tokenURL})
		var l struct {
			AccessToken string `json:"access_token"`
		}
		if got := testenv.CallAPI(t, "POST", n.url+"/v1/sessions", testAPIKey, string(body), &l); got != http.StatusCreated {
			t.Fatalf("POST /v1/sessions with a DPoP proof = %d", got)
		}
		if r := rawRequest(t, "POST", n.url+"/sessiond/logout", "Authorization", "Bearer "+l.AccessToken, "Origin", n.url, "Sec-Fetch-Site", "same-origin"); r.StatusCode != http.StatusNoContent {
			t.Errorf("thief's logout with the bound token as Bearer = %d; want 204", r.StatusCode)
		}
		vp, err := p.Proof("GET", apiURL, sessiond.Secret(l.AccessToken), "")
		if err != nil {
			t.Fatal(err)
		}
		vb, _ := json.Marshal(map[string]string{"access_token": l.AccessToken, "dpop_proof": vp, "htm": "GET", "htu": apiURL})
		if got := testenv.CallAPI(t, "POST", n.url+"/v1/sessions/verify", testAPIKey, string(vb), nil); got != http.StatusOK {
			t.Errorf("owner's verify with a valid proof after the thief's logout = %d; want 200", got)
		}
	})
}

// TestE2E_Logout_RevokedEventNamesWhoEnded: a logout through the gateway
// from another address and browser than the session's own records them
// as the session.revoked event's client (ASVS 16.2.1 "where"), and the
// session's own client in details.issued_to.
func TestE2E_Logout_RevokedEventNamesWhoEnded(t *testing.T) {
	n := startNode(t, nodeConfig{env: []string{"SESSIOND_API_KEY=" + testAPIKey},
		yaml: "gateway:\n  enabled: true\n  login_url: /login\n  client_ip_header: X-Real-IP\n"})
	body := `{"subject":"rita","client":{"ip":"203.0.113.5","user_agent":"UA-A"}}`
	var l struct {
		AccessToken string `json:"access_token"`
	}
	if got := testenv.CallAPI(t, "POST", n.url+"/v1/sessions", testAPIKey, body, &l); got != http.StatusCreated {
		t.Fatalf("POST /v1/sessions = %d", got)
	}
	r := rawRequest(t, "POST", n.url+"/sessiond/logout", "Cookie", "__Host-sessiond="+l.AccessToken,
		"Origin", n.url, "Sec-Fetch-Site", "same-origin", "X-Real-IP", "198.51.100.200", "User-Agent", "UA-THIEF")
	if r.StatusCode != http.StatusNoContent {
		t.Fatalf("logout = %d", r.StatusCode)
	}
	var page apitype.EventPage
	eventually(t, 10*time.Second, "the session.revoked event", func() bool {
		testenv.CallAPI(t, "GET", n.url+"/v1/events?subject=rita&type=session.revoked", testAPIKey, "", &page)
		return len(page.Events) > 0
	})
	ev := page.Events[0]
	if want := (sessiond.Client{IP: "198.51.100.200", UserAgent: "UA-THIEF"}); ev.Client != want {
		t.Errorf("session.revoked client = %+v; want the logout's %+v", ev.Client, want)
	}
	issued, _ := ev.Details["issued_to"].(map[string]any)
	if issued["ip"] != "203.0.113.5" || issued["user_agent"] != "UA-A" {
		t.Errorf("session.revoked details.issued_to = %#v; want the session's 203.0.113.5 / UA-A", ev.Details["issued_to"])
	}
}
