package server_test

import (
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/dbscclient"
	"github.com/sessiond/sessiond/internal/testenv"
)

// gatewayBrowser logs subject in through the served gateway's login code
// and returns its client and the login response (which offers DBSC).
func gatewayBrowser(t *testing.T, base, subject string) (*http.Client, *http.Response) {
	t.Helper()
	out := createWith(t, base, `{"subject":"`+subject+`","login_code":true}`)
	hc, _ := testenv.CookieClient(nil)
	res, err := hc.Get(base + out["login_url"].(string))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("login = %d; want 303", res.StatusCode)
	}
	return hc, res
}

func check(t *testing.T, hc *http.Client, base string) int {
	t.Helper()
	res, err := hc.Get(base + "/sessiond/check")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestGateway_DBSC: sessiond serve with gateway.dbsc, driven by a DBSC
// browser written from the specification (internal/dbscclient).
func TestGateway_DBSC(t *testing.T) {
	t.Run("Optional", func(t *testing.T) {
		base := runGateway(t, func(c *config.Config) { c.Gateway.DBSC = config.DBSCOptional })
		hc, login := gatewayBrowser(t, base, "alice")
		regs, err := dbscclient.ParseRegistration(login.Header)
		if err != nil || len(regs) != 1 || regs[0].Path != "/sessiond/dbsc/register" {
			t.Fatalf("registration offered at login = %+v, %v", regs, err)
		}
		d, err := dbscclient.New(hc, base, "ES256")
		if err != nil {
			t.Fatal(err)
		}
		res, err := d.Register(login)
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("Register = %v, %v", res, err)
		}
		res.Body.Close()
		if d.Instructions.RefreshURL != "/sessiond/dbsc/refresh" || d.Instructions.Credentials[0].Name != "sessiond-bound" {
			t.Errorf("instructions = %+v", d.Instructions)
		}
		if got := check(t, hc, base); got != http.StatusOK {
			t.Fatalf("check of the bound session = %d; want 200", got)
		}
		var list struct {
			Sessions []struct {
				DeviceBound bool `json:"device_bound"`
			} `json:"sessions"`
		}
		apiGet(t, base+"/v1/subjects/alice/sessions", &list)
		if len(list.Sessions) != 1 || !list.Sessions[0].DeviceBound {
			t.Errorf("sessions = %+v; want one device-bound", list.Sessions)
		}

		// The session cookie alone, in another browser, is refused.
		u, _ := url.Parse(base + "/")
		thiefJar, _ := cookiejar.New(nil)
		for _, c := range hc.Jar.Cookies(u) {
			if c.Name == "sid" {
				thiefJar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: "/"}})
			}
		}
		if got := check(t, &http.Client{Jar: thiefJar}, base); got != http.StatusUnauthorized {
			t.Errorf("check with the stolen session cookie = %d; want 401", got)
		}
		// Refresh through the served route, then a replayed proof is refused.
		res, challenge, err := d.Refresh()
		if err != nil || res.StatusCode != http.StatusOK || challenge == "" {
			t.Fatalf("Refresh = %v, %q, %v", res, challenge, err)
		}
		res.Body.Close()
		proof, _ := d.Proof(challenge, false, nil)
		if res, err := d.RefreshRequest(proof); err != nil || res.StatusCode != http.StatusForbidden {
			t.Errorf("replayed refresh proof = %v, %v; want 403", res, err)
		}
		var events struct {
			Events []struct {
				Type string `json:"type"`
			} `json:"events"`
		}
		apiGet(t, base+"/v1/events?subject=alice", &events)
		seen := map[string]bool{}
		for _, e := range events.Events {
			seen[e.Type] = true
		}
		for _, want := range []string{"session.device_bound", "session.device_refreshed", "session.device_proof_refused"} {
			if !seen[want] {
				t.Errorf("event log lacks %s: %v", want, seen)
			}
		}

		// A browser without DBSC keeps working under optional.
		plain, _ := gatewayBrowser(t, base, "bob")
		if got := check(t, plain, base); got != http.StatusOK {
			t.Errorf("check of a browser without DBSC under optional = %d; want 200", got)
		}
	})
	t.Run("Required", func(t *testing.T) {
		base := runGateway(t, func(c *config.Config) { c.Gateway.DBSC = config.DBSCRequired })
		plain, _ := gatewayBrowser(t, base, "bob")
		if got := check(t, plain, base); got != http.StatusUnauthorized {
			t.Errorf("check of an unbound session under required = %d; want 401", got)
		}
		hc, login := gatewayBrowser(t, base, "carol")
		d, _ := dbscclient.New(hc, base, "RS256")
		if res, err := d.Register(login); err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("Register under required = %v, %v", res, err)
		}
		if got := check(t, hc, base); got != http.StatusOK {
			t.Errorf("check of a bound session under required = %d; want 200", got)
		}
	})
	t.Run("Off", func(t *testing.T) {
		base := runGateway(t, nil)
		_, login := gatewayBrowser(t, base, "dan")
		if h := login.Header.Get("Secure-Session-Registration"); h != "" || strings.Contains(login.Header.Get("Set-Cookie"), "bound") {
			t.Errorf("DBSC offered with gateway.dbsc off: %q", h)
		}
	})
}
