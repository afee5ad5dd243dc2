package console_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/console"
)

// confirmForm reads the confirmation page's form: its action and its
// fields, as a browser would send them (typed, if set, in the visible
// confirm field).
func confirmForm(t *testing.T, body, typed string) (string, url.Values) {
	t.Helper()
	m := regexp.MustCompile(`(?s)<section class="card confirm".*?<form method="post" action="([^"]+)"(.*?)</form>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no confirmation form in:\n%s", body)
	}
	v := url.Values{}
	for _, in := range regexp.MustCompile(`<input (?:type="hidden" )?(?:id="confirm" )?name="([^"]+)"(?: value="([^"]*)")?`).FindAllStringSubmatch(m[2], -1) {
		val := html.UnescapeString(in[2])
		if in[1] == "confirm" && !strings.Contains(in[0], `type="hidden"`) {
			val = typed
		}
		v.Set(html.UnescapeString(in[1]), val)
	}
	return html.UnescapeString(m[1]), v
}

// TestConsole_RevokeSubjectNeedsConfirmation: revoking a subject's
// sessions (all of them, or all others) from the sessions page's button
// shows a confirmation page that says how many it will end and revokes
// nothing; the page's form, sent, revokes them and returns to the page
// with its filters. A POST without the confirmation, or with another
// value, revokes nothing.
func TestConsole_RevokeSubjectNeedsConfirmation(t *testing.T) {
	for _, tc := range []struct {
		name, path string
		keep       bool   // revoke others: keep the laptop
		want       string // on the confirmation page
		button     string
	}{
		{name: "revoke all", path: "/console/sessions/revoke-all",
			want: "This ends all 3 live session(s) of alice.", button: "Revoke 3 session(s)"},
		{name: "revoke others", path: "/console/sessions/revoke-others", keep: true,
			want: "This ends 2 live session(s) of alice, every one but session ", button: "Revoke 2 other session(s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			laptop := f.create("alice", "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0")
			all := []*sessiond.Issued{laptop, f.create("alice", "curl/8.0"), f.create("alice", hostileUA)}
			bob := f.create("bob", "curl/8.0")
			c := f.signedIn()
			form := url.Values{"subject": {"alice"}, "device": {"curl"}}
			if tc.keep {
				form.Set("id", string(laptop.Session.ID))
			}
			alive := func() int {
				n := 0
				for _, iss := range all {
					if f.live(iss) {
						n++
					}
				}
				return n
			}
			for _, confirm := range []string{"", "no", "YES", console.Confirmation} {
				sent := url.Values{}
				for k, v := range form {
					sent[k] = v
				}
				if confirm != "" {
					sent.Set("confirm", confirm)
				}
				resp, body := f.do(c, "POST", tc.path, sent, "same-origin")
				if resp.StatusCode != http.StatusOK || !strings.Contains(body, tc.want) || !strings.Contains(body, ">"+tc.button+"</button>") {
					t.Errorf("POST %s confirm=%q: %d; want 200 and the confirmation page saying %q, button %q:\n%s", tc.path, confirm, resp.StatusCode, tc.want, tc.button, body)
				}
				if n := alive(); n != 3 || !f.live(bob) {
					t.Fatalf("POST %s confirm=%q revoked: %d of alice's 3 sessions live, bob's %v", tc.path, confirm, n, f.live(bob))
				}
				if got := resp.Header.Get("HX-Push-Url"); got != "false" {
					t.Errorf("confirmation page: HX-Push-Url %q; want false (the page's own URL kept)", got)
				}
			}
			// A confirmation in the URL is not the form's: a link or a
			// crafted action cannot carry it.
			if resp, _ := f.do(c, "POST", tc.path+"?confirm=yes", form, "same-origin"); resp.StatusCode != http.StatusOK || alive() != 3 {
				t.Fatalf("POST %s?confirm=yes: %d, %d of alice's 3 sessions live; want 200, the confirmation page, none revoked", tc.path, resp.StatusCode, alive())
			}
			// The confirmation page's form, as a browser sends it.
			_, body := f.do(c, "POST", tc.path, form, "same-origin")
			action, sent := confirmForm(t, body, "")
			if action != tc.path {
				t.Errorf("confirmation form posts to %q; want %q", action, tc.path)
			}
			resp, _ := f.do(c, "POST", action, sent, "same-origin")
			wantLive, revoked := 0, "3"
			if tc.keep {
				wantLive, revoked = 1, "2"
			}
			loc, _ := url.Parse(resp.Header.Get("Location"))
			if resp.StatusCode != http.StatusSeeOther || loc.Query().Get("revoked") != revoked || loc.Query().Get("device") != "curl" {
				t.Errorf("confirmed: %d to %q; want 303 back to the page with its filter, revoked=%s", resp.StatusCode, loc, revoked)
			}
			if n := alive(); n != wantLive || !f.live(bob) || (tc.keep && !f.live(laptop)) {
				t.Errorf("confirmed: %d of alice's sessions live (laptop %v), bob's %v; want %d, bob's live", n, f.live(laptop), f.live(bob), wantLive)
			}
			// Cross-site, the confirmed form is refused like any other.
			f.create("alice", "curl/8.0")
			if resp, _ := f.do(c, "POST", action, sent, "cross-site"); resp.StatusCode != http.StatusForbidden {
				t.Errorf("cross-site confirmed revoke: %d; want 403", resp.StatusCode)
			}
		})
	}
}

// TestConsole_RevokeSubjectConfirmationCounts: what the confirmation
// says in the cases that are not a plain count.
func TestConsole_RevokeSubjectConfirmationCounts(t *testing.T) {
	f := newFixture(t)
	gone := f.create("carol", "curl/8.0")
	f.create("carol", "curl/8.0")
	if err := f.mgr.Revoke(t.Context(), gone.Session.ID, "test"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1001; i++ {
		f.create("many", "curl/8.0")
	}
	c := f.signedIn()
	for _, tc := range []struct {
		name, path string
		form       url.Values
		want       string
		noForm     bool
	}{
		{"nobody", "/console/sessions/revoke-all", url.Values{"subject": {"nobody"}}, "nobody has no live session", true},
		{"only the one kept", "/console/sessions/revoke-others", url.Values{"subject": {"carol"}, "id": {"nothing"}},
			"Session nothing is no longer one of carol&#39;s live sessions: this ends all 1 live session(s) of carol.", false},
		{"more than the page reads", "/console/sessions/revoke-all", url.Values{"subject": {"many"}},
			"This ends every live session of many: 1000 among its newest 1000 sessions", false},
	} {
		resp, body := f.do(c, "POST", tc.path, tc.form, "same-origin")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, tc.want) || strings.Contains(body, `name="confirm"`) == tc.noForm {
			t.Errorf("%s: %d; want 200 saying %q, a form to confirm %v:\n%s", tc.name, resp.StatusCode, tc.want, !tc.noForm, body)
		}
	}
	if list, err := f.mgr.List(t.Context(), "many"); err != nil || len(list) != 1001 {
		t.Errorf("many: %d live, %v; want all 1001", len(list), err)
	}
}

// TestConsole_RevokeSubjectConfirmationEndedSessions: the confirmation
// reads at most the subject's newest sessionsPageBudget stored sessions,
// ended ones included (ListPage reads them live or not). When that read
// stops short of the end, what it knows is how many of them were live: a
// subject whose newest 1,000 sessions ended (signed out, or revoked)
// and which has 1 live older session is not "more than 1000" sessions to
// end, nor is 1,000 live and an older ended one. Before, both read "more
// than 1000".
func TestConsole_RevokeSubjectConfirmationEndedSessions(t *testing.T) {
	f := newFixture(t)
	old := f.create("churn", "curl/8.0")
	f.clock.Advance(time.Second)
	for i := 0; i < 1000; i++ {
		f.create("churn", "curl/8.0")
	}
	f.clock.Advance(time.Second)
	if _, err := f.mgr.RevokeSubject(t.Context(), "churn", old.Session.ID, "test"); err != nil {
		t.Fatal(err)
	}
	ended := f.create("full", "curl/8.0")
	if err := f.mgr.Revoke(t.Context(), ended.Session.ID, "test"); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Second)
	for i := 0; i < 1000; i++ {
		f.create("full", "curl/8.0")
	}
	c := f.signedIn()
	for _, tc := range []struct {
		name, path string
		form       url.Values
		want       string
	}{
		{"all, 1 live behind 1000 ended", "/console/sessions/revoke-all", url.Values{"subject": {"churn"}},
			"This ends every live session of churn: 0 among its newest 1000 sessions (ended ones included: this page reads no further), and any older ones."},
		{"others, 1 live behind 1000 ended", "/console/sessions/revoke-others", url.Values{"subject": {"churn"}, "id": {string(old.Session.ID)}},
			"This ends every live session of churn but session " + string(old.Session.ID) + ": 0 among its newest 1000 sessions"},
		{"all, 1000 live and 1 ended", "/console/sessions/revoke-all", url.Values{"subject": {"full"}},
			"This ends every live session of full: 1000 among its newest 1000 sessions (ended ones included: this page reads no further), and any older ones."},
	} {
		resp, body := f.do(c, "POST", tc.path, tc.form, "same-origin")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, tc.want) || strings.Contains(body, "more than") || !strings.Contains(body, `name="confirm"`) {
			t.Errorf("%s: %d; want 200 saying %q, never \"more than\", and a form to confirm:\n%s", tc.name, resp.StatusCode, tc.want, body)
		}
	}
	if !f.live(old) {
		t.Error("asking revoked churn's live session")
	}
}

// TestConsole_RevokeAPIKeyNeedsConfirmation: revoking an API key asks for
// Confirmation typed on a page naming the key; a POST without it, or with
// another word, revokes nothing.
func TestConsole_RevokeAPIKeyNeedsConfirmation(t *testing.T) {
	f := newFixture(t)
	_, app, err := f.keys.Create(t.Context(), "billing <b>app</b>", apikey.ScopeVerify)
	if err != nil {
		t.Fatal(err)
	}
	c := f.signedIn()
	active := func(id string) bool {
		k, err := f.keys.Get(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		return k.RevokedAt.IsZero()
	}
	for _, tc := range []struct {
		name    string
		confirm []string // nil: no field
		status  int
	}{
		{"no confirmation", nil, http.StatusOK},
		{"empty", []string{""}, http.StatusBadRequest},
		{"lower case", []string{"revoke"}, http.StatusBadRequest},
		{"the hidden yes", []string{"yes"}, http.StatusBadRequest},
		{"padded", []string{" REVOKE"}, http.StatusBadRequest},
		{"trailing newline", []string{"REVOKE\n"}, http.StatusBadRequest},
		{"in the URL only", nil, http.StatusOK},
	} {
		form := url.Values{"id": {app.ID}}
		if tc.confirm != nil {
			form["confirm"] = tc.confirm
		}
		path := "/console/keys/revoke"
		if tc.name == "in the URL only" {
			path += "?confirm=" + console.Confirmation
		}
		resp, body := f.do(c, "POST", path, form, "same-origin")
		if resp.StatusCode != tc.status || !strings.Contains(body, "Revoke API key "+app.ID+"?") ||
			!strings.Contains(body, "billing &lt;b&gt;app&lt;/b&gt;") || !strings.Contains(body, "Scopes: verify") ||
			!strings.Contains(body, `Type <code>REVOKE</code> to confirm`) {
			t.Errorf("%s: %d; want %d and the confirmation page naming the key:\n%s", tc.name, resp.StatusCode, tc.status, body)
		}
		if tc.status == http.StatusBadRequest && !strings.Contains(body, "the key was not revoked") {
			t.Errorf("%s: the page does not say the key was not revoked", tc.name)
		}
		if !active(app.ID) {
			t.Fatalf("%s: the key was revoked", tc.name)
		}
	}
	// Its own key: the page says revoking it signs the operator out.
	_, body := f.do(c, "POST", "/console/keys/revoke", url.Values{"id": {f.adminK.ID}}, "same-origin")
	if !strings.Contains(body, "It is the key you signed in with") || !active(f.adminK.ID) {
		t.Errorf("own key: no warning, or revoked:\n%s", body)
	}
	// Unknown: refused before any confirmation.
	if resp, _ := f.do(c, "POST", "/console/keys/revoke", url.Values{"id": {"key_nosuch"}}, "same-origin"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown key: %d; want 404", resp.StatusCode)
	}
	_, body = f.do(c, "POST", "/console/keys/revoke", url.Values{"id": {app.ID}}, "same-origin")
	action, sent := confirmForm(t, body, console.Confirmation)
	resp, body := f.do(c, "POST", action, sent, "same-origin")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "API key "+app.ID+" revoked.") || active(app.ID) {
		t.Errorf("confirmed: %d, active %v; want 200 and the key revoked:\n%s", resp.StatusCode, active(app.ID), body)
	}
}

// TestConsole_RevokeSubjectConfirmationIsolatesSubject: a subject in a
// right-to-left script is isolated (U+2068 … U+2069) where the
// confirmation names it in a sentence, so that the count or the session
// after it is not drawn into it: "of مستخدم: 2 among…" would otherwise
// display as "of 2 :مستخدم among…". A left-to-right subject reorders
// nothing and is shown as it is.
func TestConsole_RevokeSubjectConfirmationIsolatesSubject(t *testing.T) {
	f := newFixture(t)
	for _, s := range []string{"مستخدم 2", "משתמש", "dave"} {
		f.create(s, "curl/8.0")
		f.create(s, "curl/8.0")
	}
	c := f.signedIn()
	for _, tc := range []struct{ subject, want string }{
		{"مستخدم 2", "This ends all 2 live session(s) of \u2068مستخدم 2\u2069."},
		{"משתמש", "Revoke every session of \u2068משתמש\u2069?"},
		{"dave", "This ends all 2 live session(s) of dave."},
	} {
		resp, body := f.do(c, "POST", "/console/sessions/revoke-all", url.Values{"subject": {tc.subject}}, "same-origin")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, tc.want) {
			t.Errorf("confirm revoking %q: %d; want 200 saying %q:\n%s", tc.subject, resp.StatusCode, tc.want, body)
		}
	}
}
