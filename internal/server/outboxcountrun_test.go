package server_test

import (
	"crypto/rand"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/webhook"
)

// TestRun_OutboxCountShared: the console's overview and webhooks page and
// /metrics are served one count of the webhook outbox (pending and dead),
// reused for 30 s of the server's clock, and the pages say how old it is
// when it was not counted for that view. Before, each view of either page
// counted the outbox again (a scan of its index per state on the SQL
// stores: 0.3-1.1 s at 2 million deliveries on SQLite).
func TestRun_OutboxCountShared(t *testing.T) {
	clock := sessiondtest.NewClock(time.Now().UTC().Truncate(time.Second))
	cfg := devConfig(t)
	// A receiver that refuses: each login's delivery is pending, then dead
	// after its one attempt; pending and dead together are the logins.
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer receiver.Close()
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	secretFile := testenv.WriteFile(t, t.TempDir(), "whsec", webhook.FormatSecret(key))
	cfg.Webhooks = []config.Webhook{{Name: "down", URL: receiver.URL, SecretFile: secretFile, MaxAttempts: 1,
		Events: []string{"session.created"}}}
	n := start(t, server.Options{Config: cfg, Clock: clock})
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
	atoi := func(s string) int {
		v, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("not a count: %q", s)
		}
		return v
	}
	// page returns the deliveries the page shows, pending and dead, and
	// how old it says their count is.
	page := func(path string, re *regexp.Regexp) (pending, dead int, age string) {
		t.Helper()
		resp, err := c.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		m := re.FindStringSubmatch(string(b))
		if resp.StatusCode != http.StatusOK || m == nil {
			t.Fatalf("%s: %d, no outbox counts\n%s", path, resp.StatusCode, b)
		}
		if a := regexp.MustCompile(`id="outbox-age"[^>]*>[^<]*?: counted (\S+) earlier`).FindStringSubmatch(string(b)); a != nil {
			age = a[1]
		}
		return atoi(m[re.SubexpIndex("pending")]), atoi(m[re.SubexpIndex("dead")]), age
	}
	overviewRE := regexp.MustCompile(`(?s)<dd id="backlog">(?P<pending>\d+)</dd>.*?<dd id="dead"><a href="/console/webhooks">(?P<dead>\d+)</a>`)
	webhooksRE := regexp.MustCompile(`(?s)id="dead-count">(?P<dead>\d+)<.*?id="backlog-count">(?P<pending>\d+)<`)
	var shown [2]int // the latest page's pending and dead
	sum := func(pending, dead int, age string) (int, string) {
		shown = [2]int{pending, dead}
		return pending + dead, age
	}
	overview := func() (int, string) { t.Helper(); return sum(page("/console/overview", overviewRE)) }
	webhooks := func() (int, string) { t.Helper(); return sum(page("/console/webhooks", webhooksRE)) }
	var scraped [2]float64 // the latest scrape's pending and dead
	scrape := func() (deliveries, age float64) {
		t.Helper()
		code, body := get(t, "GET", base+"/metrics")
		if code != http.StatusOK {
			t.Fatalf("/metrics: %d", code)
		}
		found := false
		for _, m := range regexp.MustCompile(`(?m)^sessiond_webhook_outbox_depth(\{state="\w+"\}|_age_seconds) (\S+)$`).FindAllStringSubmatch(body, -1) {
			v, _ := strconv.ParseFloat(m[2], 64)
			switch m[1] {
			case "_age_seconds":
				age, found = v, true
			case `{state="pending"}`:
				scraped[0] = v
			case `{state="dead"}`:
				scraped[1] = v
			}
			if m[1] != "_age_seconds" {
				deliveries += v
			}
		}
		if !found {
			t.Fatalf("/metrics has no sessiond_webhook_outbox_depth_age_seconds")
		}
		return deliveries, age
	}

	login()
	if got, age := overview(); got != 1 || age != "" {
		t.Fatalf("overview = %d deliveries, counted %q earlier; want 1, counted for the view", got, age)
	}
	login()
	clock.Advance(10 * time.Second)
	if got, age := overview(); got != 1 || age != "10s" {
		t.Errorf("overview 10 s on = %d deliveries, counted %q earlier; want 1, 10s", got, age)
	}
	if got, age := webhooks(); got != 1 || age != "10s" {
		t.Errorf("webhooks page 10 s on = %d deliveries, counted %q earlier; want the overview's count: 1, 10s", got, age)
	}
	if got, age := scrape(); got != 1 || age != 10 {
		t.Errorf("scrape 10 s on = %v deliveries, age %v; want the pages' count: 1, 10", got, age)
	}
	// One count, so the same in each state (the one delivery is pending
	// or dead by now, whichever: a state read from the other's count
	// differs).
	if float64(shown[0]) != scraped[0] || float64(shown[1]) != scraped[1] {
		t.Errorf("webhooks page: %d pending, %d dead; /metrics' shared count: %v pending, %v dead", shown[0], shown[1], scraped[0], scraped[1])
	}
	clock.Advance(20 * time.Second)
	if got, age := webhooks(); got != 2 || age != "" {
		t.Errorf("webhooks page 30 s on = %d deliveries, counted %q earlier; want a new count: 2, counted for the view", got, age)
	}
	if got, age := overview(); got != 2 || age != "" {
		t.Errorf("overview 30 s on = %d deliveries, counted %q earlier; want 2, counted for the view", got, age)
	}
}
