package console_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
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

			resp, _ = f.do(c, "POST", "/console/sessions/revoke-all", url.Values{"subject": {tc.typed}}, "same-origin")
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
		resp, _ = f.do(c, "POST", "/console/sessions/revoke-others", url.Values{"subject": {nfd}, "id": {string(laptop.Session.ID)}}, "same-origin")
		if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Location"), "revoked=1") || !f.live(laptop) || f.live(tablet) {
			t.Errorf("revoke %q's others: %d %s, laptop live %v, tablet live %v; want revoked=1, laptop only",
				nfd, resp.StatusCode, resp.Header.Get("Location"), f.live(laptop), f.live(tablet))
		}
	})
}
