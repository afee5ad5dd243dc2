package server_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/server"
)

// TestRun_ConsoleSignInNeedsItsEvent: while PostgreSQL does not answer (a
// proxy in front of it cut), the node still knows the bootstrap key from
// the key set it read, but a console sign-in whose console.signed_in
// event cannot be stored is refused with 503 and leaves the browser no
// console cookie (ASVS 16.3.1): no operator is signed in with no trace of
// it. Once the store is back, the sign-in works and is recorded.
func TestRun_ConsoleSignInNeedsItsEvent(t *testing.T) {
	cfg, proxy := behindProxy(t, "consoleout")
	n := start(t, server.Options{Config: cfg, WatermarkPoll: -1})
	base := "http://" + n.addr
	signIn := func() *http.Response {
		t.Helper()
		c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		req, _ := http.NewRequest("POST", base+"/console/signin", strings.NewReader(url.Values{"api_key": {string(testKey)}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	proxy.Down()
	resp := signIn()
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("console sign-in with the store away = %d (Location %q); want 503", resp.StatusCode, resp.Header.Get("Location"))
	}
	if !strings.Contains(string(body), "the store is unavailable") {
		t.Errorf("the page does not say the store is unavailable:\n%s", body)
	}
	for _, ck := range resp.Header.Values("Set-Cookie") {
		if strings.HasPrefix(ck, "__Host-sessiond-console=") && !strings.Contains(ck, "Max-Age=0") {
			t.Errorf("Set-Cookie %q with the store away; want the console cookie expired or none", ck)
		}
	}

	proxy.Up(t)
	eventually(t, 30*time.Second, "readyz recovers", func() bool {
		code, _ := get(t, "GET", base+"/readyz")
		return code == http.StatusOK
	})
	// The pool may still hand out a connection the outage broke: a sign-in
	// refused then is one more that must leave no event.
	eventually(t, 30*time.Second, "console sign-in recovers", func() bool {
		resp := signIn()
		resp.Body.Close()
		return resp.StatusCode == http.StatusSeeOther
	})
	if evs := eventsOf(t, base, "type=console.signed_in"); len(evs) != 1 {
		t.Errorf("console.signed_in events: %+v; want one, of the sign-in made once the store was back", evs)
	}
}
