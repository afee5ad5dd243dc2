package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/console"
	"github.com/sessiond/sessiond/opaquetoken"
)

// TestConsole_SessionsSubjectForms: the Sessions page and its revoke forms
// take a subject as the HTTP API does (docs/operations.md "Subjects"):
// exact (no trimming: " alice" is another user than "alice"), in NFC
// whatever form it was pasted in, and refused where the API refuses it.
func TestConsole_SessionsSubjectForms(t *testing.T) {
	const nfc, nfd = "zo\u00eb", "zo\u0065\u0308"
	tests := []struct {
		name   string
		stored []string // one session each
		typed  string
		listed int    // sessions the search lists; -1 when refused
		ended  []bool // per stored session, after revoke-all of typed
	}{
		{"pasted in NFD", []string{nfc, "zoe"}, nfd, 1, []bool{true, false}},
		{"already NFC", []string{nfc, "zoe"}, nfc, 1, []bool{true, false}},
		{"leading space is another subject", []string{"alice", "alice", " alice"}, " alice", 1, []bool{false, false, true}},
		{"surrounding spaces match nothing", []string{"alice"}, " alice ", 0, []bool{false}},
		{"left-to-right mark refused", []string{"alice"}, "ali\u200ece", -1, []bool{false}},
		{"C0 control refused", []string{"alice"}, "alice\x1b[2J", -1, []bool{false}},
		{"too long refused", []string{"alice"}, strings.Repeat("a", 257), -1, []bool{false}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			c := f.signedIn()
			sessions := make([]func() bool, len(tc.stored))
			for i, s := range tc.stored {
				iss := f.create(s, "laptop")
				sessions[i] = func() bool { return f.live(iss) }
			}

			resp, body := f.do(c, "GET", "/console/sessions?subject="+url.QueryEscape(tc.typed), nil, "same-origin")
			switch {
			case tc.listed < 0:
				if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "not a valid subject") {
					t.Errorf("search for %q: %d; want 400 and \"not a valid subject\"", tc.typed, resp.StatusCode)
				}
			case resp.StatusCode != http.StatusOK || !strings.Contains(body, fmt.Sprintf(">%d session(s)", tc.listed)):
				t.Errorf("search for %q: %d; want 200 listing %d session(s)\n%s", tc.typed, resp.StatusCode, tc.listed, body)
			}

			resp, _ = f.do(c, "POST", "/console/sessions/revoke-all", url.Values{"subject": {tc.typed}, "confirm": {"yes"}}, "same-origin")
			ended := 0
			for _, e := range tc.ended {
				if e {
					ended++
				}
			}
			switch {
			case tc.listed < 0:
				if resp.StatusCode != http.StatusBadRequest {
					t.Errorf("revoke-all %q: %d; want 400", tc.typed, resp.StatusCode)
				}
			case resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), fmt.Sprintf("revoked=%d", ended)):
				t.Errorf("revoke-all %q: %d %s; want 303 revoked=%d", tc.typed, resp.StatusCode, resp.Header.Get("Location"), ended)
			}
			for i, live := range sessions {
				if live() == tc.ended[i] {
					t.Errorf("after revoke-all %q: session of %q live %v; want %v", tc.typed, tc.stored[i], live(), !tc.ended[i])
				}
			}
		})
	}

	// One session, and every other one, by a subject pasted in NFD.
	t.Run("revoke one and others in NFD", func(t *testing.T) {
		f := newFixture(t)
		c := f.signedIn()
		phone, laptop, tablet := f.create(nfc, "phone"), f.create(nfc, "laptop"), f.create(nfc, "tablet")
		resp, _ := f.do(c, "POST", "/console/sessions/revoke", url.Values{"subject": {nfd}, "id": {string(phone.Session.ID)}}, "same-origin")
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "revoked=1") || f.live(phone) {
			t.Errorf("revoke %q's phone: %d %s, live %v; want revoked=1", nfd, resp.StatusCode, resp.Header.Get("Location"), f.live(phone))
		}
		resp, _ = f.do(c, "POST", "/console/sessions/revoke-others", url.Values{"subject": {nfd}, "id": {string(laptop.Session.ID)}, "confirm": {"yes"}}, "same-origin")
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "revoked=1") || !f.live(laptop) || f.live(tablet) {
			t.Errorf("revoke %q's others: %d %s, laptop live %v, tablet live %v; want revoked=1, laptop only",
				nfd, resp.StatusCode, resp.Header.Get("Location"), f.live(laptop), f.live(tablet))
		}
	})
}

// downGet is a session store whose reads of one session fail, as a
// PostgreSQL or Redis that stopped answering does.
type downGet struct {
	sessiond.Store
	down atomic.Bool
}

func (d *downGet) Get(ctx context.Context, id sessiond.SessionID) (*sessiond.Session, error) {
	if d.down.Load() {
		return nil, fmt.Errorf("get: %w", sessiond.ErrStoreUnavailable)
	}
	return d.Store.Get(ctx, id)
}

// newDownGetFixture is a console whose Manager reads sessions through a
// downGet over the fixture's store (the webhook outbox on it too).
func newDownGetFixture(t *testing.T) (*fixture, *downGet) {
	var store *downGet
	f := newFixtureWith(t, func(f *fixture, o *console.Options) {
		store = &downGet{Store: f.store}
		mgr, err := sessiond.New(t.Context(), sessiond.Options{Strategy: sessiond.StrategyDatabase, Store: store,
			Opaque: opaquetoken.Codec{}, Clock: f.clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mgr.Close() })
		o.Manager, o.Outbox = mgr, f.store
	})
	return f, store
}

// TestConsole_RevokeDuringOutage: revoking one session while the store
// does not answer says that revoking failed (503), as revoke-all does; it
// answered "Revoked 0 session(s)." as for a session already ended, and the
// operator took the live session for handled.
func TestConsole_RevokeDuringOutage(t *testing.T) {
	f, store := newDownGetFixture(t)
	c := f.signedIn()
	phone := f.create("alice", "phone")
	store.down.Store(true)
	resp, body := f.do(c, "POST", "/console/sessions/revoke", url.Values{"subject": {"alice"}, "id": {string(phone.Session.ID)}}, "same-origin")
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "Revoking failed") {
		t.Errorf("revoke with the store down: %d Location %q; want 503 saying revoking failed\n%s",
			resp.StatusCode, resp.Header.Get("Location"), body)
	}
	store.down.Store(false)
	if !f.live(phone) {
		t.Fatal("the session ended though the store was down")
	}
}

// TestConsole_RefusedActionsStayOnGettableURL: htmx puts a boosted form's
// answer in the history under the form's action, so an action that
// answers with a page instead of a redirect (refused, or failed during an
// outage) must name a URL that answers GET: the sessions and webhooks
// actions' own answer GET with 405, which a reload or Back after the
// outage showed (the keys page's actions were fixed before).
func TestConsole_RefusedActionsStayOnGettableURL(t *testing.T) {
	f, store := newDownGetFixture(t)
	c := f.signedIn()
	phone := f.create("alice", "phone")
	for _, tc := range []struct {
		name, path string
		form       url.Values
		down       bool
		want       string // HX-Push-Url
	}{
		{"revoke, store down", "/console/sessions/revoke", url.Values{"subject": {"alice"}, "id": {string(phone.Session.ID)}}, true, "/console/sessions?subject=alice"},
		{"revoke, no id", "/console/sessions/revoke", url.Values{"subject": {"alice"}}, false, "/console/sessions"},
		{"revoke others, no id", "/console/sessions/revoke-others", url.Values{"subject": {"alice"}}, false, "/console/sessions"},
		{"revoke all, bad subject", "/console/sessions/revoke-all", url.Values{"subject": {"al\x1bice"}}, false, "/console/sessions"},
		{"retry, not a delivery", "/console/webhooks/retry", url.Values{"id": {"nope"}}, false, "/console/webhooks"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store.down.Store(tc.down)
			resp, _ := f.do(c, "POST", tc.path, tc.form, "same-origin")
			store.down.Store(false)
			if resp.StatusCode < 400 || resp.Header.Get("HX-Push-Url") != tc.want {
				t.Errorf("POST %s: %d, HX-Push-Url %q; want a refusal under %q", tc.path, resp.StatusCode, resp.Header.Get("HX-Push-Url"), tc.want)
			}
			if resp, _ := f.do(c, "GET", tc.want, nil, "same-origin"); resp.StatusCode != http.StatusOK {
				t.Errorf("GET %s (a reload): %d; want 200", tc.want, resp.StatusCode)
			}
		})
	}
}
