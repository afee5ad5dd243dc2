package server_test

import (
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/sessiondtest"
)

// TestRun_LiveCountShared: the console's overview and /metrics are served
// one count of the live sessions, reused for 30 s of the server's clock;
// the scrape says how old it is (sessiond_sessions_active_age_seconds)
// and so does the overview when it was not counted for that view.
func TestRun_LiveCountShared(t *testing.T) {
	clock := sessiondtest.NewClock(time.Now().UTC().Truncate(time.Second))
	n := start(t, server.Options{Config: devConfig(t), Clock: clock})
	base := "http://" + n.addr
	login := func() {
		t.Helper()
		if code := testenv.CallAPI(t, http.MethodPost, base+"/v1/sessions", string(testKey), `{"subject":"alice"}`, nil); code != http.StatusCreated {
			t.Fatalf("create: %d", code)
		}
	}
	c, _ := testenv.CookieClient(nil)
	if code := postForm(t, c, base+"/console/signin", url.Values{"api_key": {string(testKey)}}, "same-origin"); code != http.StatusSeeOther {
		t.Fatalf("console sign-in: %d", code)
	}
	overview := func() (live, age string) {
		t.Helper()
		resp, err := c.Get(base + "/console/overview")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		m := regexp.MustCompile(`<dd id="live">([^<]*)</dd>(?:<dd id="live-age"[^>]*>counted (\S+) earlier)?`).FindStringSubmatch(string(b))
		if resp.StatusCode != http.StatusOK || m == nil {
			t.Fatalf("overview: %d, no live sessions tile\n%s", resp.StatusCode, b)
		}
		return m[1], m[2]
	}
	scrape := func() (live, age float64) {
		t.Helper()
		code, body := get(t, "GET", base+"/metrics")
		if code != http.StatusOK {
			t.Fatalf("/metrics: %d", code)
		}
		for _, m := range regexp.MustCompile(`(?m)^sessiond_sessions_active(\{strategy="\w+"\}|_age_seconds) (\S+)$`).FindAllStringSubmatch(body, -1) {
			v, _ := strconv.ParseFloat(m[2], 64)
			if m[1] == "_age_seconds" {
				age = v
			} else {
				live += v
			}
		}
		if age < 0 || !regexp.MustCompile(`(?m)^sessiond_sessions_active_age_seconds `).MatchString(body) {
			t.Fatalf("/metrics has no sessiond_sessions_active_age_seconds")
		}
		return live, age
	}

	login()
	if live, age := overview(); live != "1" || age != "" {
		t.Fatalf("overview = %s live, counted %q earlier; want 1, counted for the view", live, age)
	}
	login()
	clock.Advance(10 * time.Second)
	if live, age := scrape(); live != 1 || age != 10 {
		t.Errorf("scrape 10 s on = %v live, age %v; want the overview's count: 1, 10", live, age)
	}
	if live, age := overview(); live != "1" || age != "10s" {
		t.Errorf("overview 10 s on = %s live, counted %q earlier; want 1, 10s", live, age)
	}
	clock.Advance(20 * time.Second)
	if live, age := scrape(); live != 2 || age != 0 {
		t.Errorf("scrape 30 s on = %v live, age %v; want a new count: 2, 0", live, age)
	}
	if live, age := overview(); live != "2" || age != "" {
		t.Errorf("overview 30 s on = %s live, counted %q earlier; want 2, counted for the view", live, age)
	}
}
