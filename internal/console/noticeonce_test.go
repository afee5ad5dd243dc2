package console_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/console"
)

// TestConsole_ResultNoticeShownOnce: the notice after an action ("Revoked
// 2 session(s).", "Delivery … is queued") is carried by the redirect's
// query, and stayed in the URL: a reload said it again, hours later,
// misleading at 3 a.m. The page that shows it names its URL without that
// parameter, for htmx (HX-Replace-Url) and for console.js on a full page
// load (data-replace-url, history.replaceState), so the browser keeps that
// one; the page without the parameter says nothing.
func TestConsole_ResultNoticeShownOnce(t *testing.T) {
	f := newFixtureWith(t, func(f *fixture, o *console.Options) { o.Outbox = f.store })
	delivery := "msg_" + strings.Repeat("d", 32)
	f.enqueue(delivery)
	c := f.signedIn()
	f.create("alice&b", "phone")
	f.create("alice&b", "laptop")
	resp, _ := f.do(c, "POST", "/console/sessions/revoke-all", url.Values{"subject": {"alice&b"}, "confirm": {"yes"}}, "same-origin")
	revoked := resp.Header.Get("Location")
	for _, tc := range []struct {
		name, path, notice, clean string
	}{
		{"revoked", revoked, "Revoked 2 session(s).", "/console/sessions?subject=alice%26b"},
		{"revoked, nothing", "/console/sessions?revoked=0", "Revoked 0 session(s).", "/console/sessions"},
		{"retried", "/console/webhooks?retried=" + delivery, "Delivery " + delivery + " is queued", "/console/webhooks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.do(c, "GET", tc.path, nil, "same-origin")
			if resp.StatusCode != http.StatusOK || !strings.Contains(body, tc.notice) {
				t.Fatalf("GET %s: %d; want the notice %q", tc.path, resp.StatusCode, tc.notice)
			}
			_, attr, _ := strings.Cut(body, `data-replace-url="`)
			attr, _, _ = strings.Cut(attr, `"`)
			if got := resp.Header.Get("HX-Replace-Url"); got != tc.clean || html.UnescapeString(attr) != tc.clean {
				t.Errorf("GET %s: HX-Replace-Url %q, data-replace-url %q; want both %q", tc.path, got, html.UnescapeString(attr), tc.clean)
			}
			resp, body = f.do(c, "GET", tc.clean, nil, "same-origin")
			if resp.StatusCode != http.StatusOK || strings.Contains(body, `class="notice"`) || strings.Contains(body, "data-replace-url") ||
				resp.Header.Get("HX-Replace-Url") != "" {
				t.Errorf("GET %s (the reload): %d %q; want the page without the notice", tc.clean, resp.StatusCode, between(body, `class="notice"`, "</p>"))
			}
		})
	}
}
