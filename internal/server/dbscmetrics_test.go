package server_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/dbscclient"
)

// metricLine returns the value of series (name and labels, as exposed) on
// base's /metrics, or "" when it is absent.
func metricLine(t *testing.T, base, series string) string {
	t.Helper()
	res := apiRequest(t, http.MethodGet, base+"/metrics", gatewayKey, "", nil)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, series+" "); ok {
			return v
		}
	}
	return ""
}

// TestGateway_DBSCRefusalsCounted: sessiond_dbsc_total counts every
// refused bound cookie (Prometheus users compute rates of it), while
// session.device_proof_refused events stay bounded to one a minute per
// session and stage.
func TestGateway_DBSCRefusalsCounted(t *testing.T) {
	base := runGateway(t, func(c *config.Config) { c.Gateway.DBSC = config.DBSCOptional })
	hc, login := gatewayBrowser(t, base, "erin")
	d, err := dbscclient.New(hc, base, "ES256")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := d.Register(login); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("Register = %v, %v", res, err)
	}
	// The session cookie alone, in another browser, five times.
	u, _ := url.Parse(base + "/")
	thiefJar, _ := cookiejar.New(nil)
	for _, c := range hc.Jar.Cookies(u) {
		if c.Name == "sid" {
			thiefJar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: "/"}})
		}
	}
	const refusals = 5
	for range refusals {
		if got := check(t, &http.Client{Jar: thiefJar}, base); got != http.StatusUnauthorized {
			t.Fatalf("check with the stolen session cookie = %d; want 401", got)
		}
	}
	if got := metricLine(t, base, `sessiond_dbsc_total{outcome="refused_request"}`); got != "5" {
		t.Errorf(`sessiond_dbsc_total{outcome="refused_request"} = %q after %d refusals; want "5"`, got, refusals)
	}
	var events struct {
		Events []struct {
			Type string `json:"type"`
		} `json:"events"`
	}
	apiGet(t, base+"/v1/events?subject=erin&type=session.device_proof_refused", &events)
	if len(events.Events) != 1 {
		t.Errorf("%d session.device_proof_refused events for %d refusals of one session within a minute; want 1", len(events.Events), refusals)
	}
}
