package console_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestConsole_Incident(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn()
	alice1, alice2, bob, carol := f.create("alice", "a"), f.create("alice", "b"), f.create("bob", "c"), f.create("carol", "d")
	form := func(kv ...string) url.Values {
		v := url.Values{"scope": {"subjects"}, "subjects": {"alice\nbob"}, "reason": {"stolen laptop"}, "confirm": {"REVOKE"}, "notify": {"on"}}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	if resp, body := f.do(c, "GET", "/console/incident", nil, "same-origin"); resp.StatusCode != http.StatusOK || !strings.Contains(body, "Type <code>REVOKE</code>") {
		t.Errorf("incident page: %d", resp.StatusCode)
	}
	for _, tc := range []struct {
		name string
		form url.Values
	}{
		{"no confirmation", form("confirm", "")},
		{"wrong confirmation", form("confirm", "revoke")},
		{"no reason", form("reason", " ")},
		{"reason with a terminal escape", form("reason", "x\x1b[2J")},
		{"oversized reason", form("reason", strings.Repeat("r", 300))},
		{"no scope", form("scope", "")},
		{"unknown scope", form("scope", "everyone")},
		{"no subjects", form("subjects", "\n \n")},
		{"oversized subject", form("subjects", strings.Repeat("s", 300))},
		{"bad time", form("scope", "issued_before", "issued_before", "soon")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.do(c, "POST", "/console/incident", tc.form, "same-origin")
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Nothing was revoked") {
				t.Errorf("status %d", resp.StatusCode)
			}
			if strings.ContainsAny(body, "\x1b") {
				t.Error("the page echoes a terminal escape")
			}
		})
	}
	if len(f.incidents) != 0 || !f.live(alice1) || !f.live(bob) {
		t.Fatalf("a refused form ran the kill switch: %v", f.incidents)
	}
	if resp, _ := f.do(c, "POST", "/console/incident", form(), "cross-site"); resp.StatusCode != http.StatusForbidden || len(f.incidents) != 0 {
		t.Fatalf("cross-site kill switch: %d", resp.StatusCode)
	}

	resp, body := f.do(c, "POST", "/console/incident", form(), "same-origin")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Revoked 3 session(s).") {
		t.Errorf("kill switch: %d\n%s", resp.StatusCode, body)
	}
	if f.live(alice1) || f.live(alice2) || f.live(bob) || !f.live(carol) {
		t.Errorf("after the kill switch on alice and bob: %v %v %v %v", f.live(alice1), f.live(alice2), f.live(bob), f.live(carol))
	}
	if len(f.incidents) != 1 || !strings.Contains(f.incidents[0].Reason, "stolen laptop") || !strings.Contains(f.incidents[0].Reason, f.adminK.ID) || !f.incidents[0].Notify {
		t.Errorf("incident request: %+v", f.incidents)
	}
	// A kill switch runs to its end even if the operator's browser goes
	// away: its context is not the request's.
	if len(f.incidentsCancelable) != 1 || f.incidentsCancelable[0] {
		t.Errorf("kill switch contexts cancelable with the request: %v; want [false]", f.incidentsCancelable)
	}
	resp, body = f.do(c, "POST", "/console/incident", form("scope", "all"), "same-origin")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, "Revoked 1 session(s).") || f.live(carol) {
		t.Errorf("kill switch on all: %d", resp.StatusCode)
	}
}

// The HTTP API stores every subject in NFC; the console's kill switch puts
// a subject pasted in another form ("jose" + U+0301, as macOS and some IdPs
// give it) in NFC too, or it would revoke nothing.
func TestIncident_SubjectNormalized(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn()
	victim := f.create("jos\u00e9", "a") // as stored through the API (NFC)
	form := url.Values{"scope": {"subjects"}, "subjects": {"jose\u0301"}, "reason": {"account takeover"}, "confirm": {"REVOKE"}}
	resp, body := f.do(c, "POST", "/console/incident", form, "same-origin")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("kill switch: %d\n%s", resp.StatusCode, body)
	}
	if f.live(victim) {
		t.Errorf("kill switch on subject %q (NFD) from the console left the session of %q (NFC, as the API stores it) live; the page says %q",
			"jose\u0301", "jos\u00e9", between(body, "Revoked", "."))
	}
}

// An issued_before more than a minute ahead would quietly end every
// session (the server bounds it by its clock): refused, as by the CLI and
// the API.
func TestIncident_IssuedBeforeInTheFuture(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn()
	alice := f.create("alice", "a")
	form := url.Values{"scope": {"issued_before"}, "issued_before": {"2099-12-03T12:00"}, "reason": {"bad deploy"}, "confirm": {"REVOKE"}}
	resp, body := f.do(c, "POST", "/console/incident", form, "same-origin")
	if resp.StatusCode != http.StatusBadRequest || !f.live(alice) {
		t.Errorf("console kill switch with issued_before in 2099: status %d, alice live %v (%q); want 400 and nothing revoked, as the CLI does",
			resp.StatusCode, f.live(alice), between(body, "Revoked", "."))
	}
}

func between(s, from, to string) string {
	i := strings.Index(s, from)
	if i < 0 {
		return ""
	}
	j := strings.Index(s[i:], to)
	if j < 0 {
		return s[i:]
	}
	return s[i : i+j]
}
