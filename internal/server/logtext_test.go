package server_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/servertest"
	"github.com/sessiond/sessiond/internal/testenv"
)

// textLogServer runs the server with the gateway and the log as
// `log.format: text` and `log.level: debug` build it, and returns its base
// URL and a function that returns the log once it holds each of wants
// (the writer flushes on a timer, which a loaded machine can run late).
func textLogServer(t *testing.T) (string, func(wants ...string) string) {
	t.Helper()
	buf := &testenv.SyncBuffer{}
	logger, flush := server.NewLogger(buf, config.Log{Level: "debug", Format: "text", Requests: "all"})
	t.Cleanup(func() { _ = flush() })
	base := servertest.Run(t, server.Options{Config: servertest.GatewayConfig(t), APIKey: testKey, InsecureDev: true, Logger: logger})
	return base, func(wants ...string) string {
		for _, want := range wants {
			eventually(t, 10*time.Second, "a log line with "+want, func() bool { return strings.Contains(buf.String(), want) })
		}
		return buf.String()
	}
}

// crossSiteLogout sends a cross-site POST /sessiond/logout with origin,
// which the CSRF check refuses (and logs, and records as an event).
func crossSiteLogout(t *testing.T, base, origin string) {
	t.Helper()
	req := testenv.NewRequest(t, http.MethodPost, base+"/sessiond/logout", nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST /sessiond/logout = %d; want 403", res.StatusCode)
	}
}

// TestTextLog_EventDetailsAreQuotedFields: in the text format each detail
// of an event is its own attribute, quoted by the handler, so a value a
// client chose cannot pass for other fields (ASVS 16.4.1). As one map the
// line read details="map[… origin:https://evil.example path:/fine
// sec_fetch_site:same-origin path:/sessiond/logout …]".
func TestTextLog_EventDetailsAreQuotedFields(t *testing.T) {
	base, logText := textLogServer(t)
	crossSiteLogout(t, base, "https://evil.example path:/sessiond/fine sec_fetch_site:same-origin")
	var line string
	for _, l := range strings.Split(logText("type=request.csrf_rejected"), "\n") {
		if strings.Contains(l, "type=request.csrf_rejected") {
			line = l
		}
	}
	for _, want := range []string{
		`details.origin="https://evil.example path:/sessiond/fine sec_fetch_site:same-origin"`,
		`details.path=/sessiond/logout`,
		`details.sec_fetch_site=cross-site`,
	} {
		if !strings.Contains(line, want) {
			t.Errorf("the request.csrf_rejected line lacks %s: %q", want, line)
		}
	}
}

// TestTextLog_CrossOriginLineIsBounded: the log line of a refused
// cross-origin request cuts the client's headers as its event does; it is
// written for every request, so a 30 KB Origin header must not make a
// 30 KB line (log flooding).
func TestTextLog_CrossOriginLineIsBounded(t *testing.T) {
	base, logText := textLogServer(t)
	crossSiteLogout(t, base, "https://"+strings.Repeat("a", 30000)+".example")
	// The refusal's line and its event's: both carry the Origin header.
	log := logText("cross-origin request refused", "type=request.csrf_rejected")
	for _, l := range strings.Split(log, "\n") {
		if len(l) > 4096 {
			t.Errorf("a log line of %d bytes: %.160s…", len(l), l)
		}
	}
}
