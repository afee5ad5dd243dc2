package console_test

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
)

// sessionRowIDs are the session IDs of the sessions page's rows.
func sessionRowIDs(body string) []string {
	var ids []string
	for _, m := range regexp.MustCompile(`<tr data-id="([^"]*)">`).FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
	}
	slices.Sort(ids)
	return ids
}

// TestConsole_SessionsFilterByIPAndDevice: an operator investigating an
// incident has an IP address, or a device. The sessions page narrows a
// subject's sessions to those from an address or a network (CIDR), or
// whose device (as shown, or the raw User-Agent) holds a word, and says
// so: "2 of the 4 sessions". It is no search over every subject (the
// store keeps no index of sessions by address, and reading every session
// per request would not do on a large deployment), and the page says that
// too, and asks for the subject when none is given. Revoke all still
// names every session of the subject.
func TestConsole_SessionsFilterByIPAndDevice(t *testing.T) {
	f := newFixture(t)
	c := f.signedIn()
	create := func(ip, ua string) string {
		t.Helper()
		iss, err := f.mgr.Create(t.Context(), "alice", sessiond.CreateOptions{Client: sessiond.Client{IP: ip, UserAgent: ua}})
		if err != nil {
			t.Fatal(err)
		}
		return string(iss.Session.ID)
	}
	phone := create("198.51.100.7", "Mozilla/5.0 (Android 14; Mobile; rv:133.0) Gecko/133.0 Firefox/133.0")
	desktop := create("198.51.100.8", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
	script := create("2001:db8::1", "curl/8.5.0")
	mac := create("203.0.113.9", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36")
	// Another subject's session from the same address: not listed.
	if _, err := f.mgr.Create(t.Context(), "bob", sessiond.CreateOptions{Client: sessiond.Client{IP: "198.51.100.7"}}); err != nil {
		t.Fatal(err)
	}
	all := 4
	for _, tc := range []struct {
		name, ip, device string
		want             []string
	}{
		{"address", "198.51.100.7", "", []string{phone}},
		{"address with spaces", " 198.51.100.8 ", "", []string{desktop}},
		{"network", "198.51.100.0/24", "", []string{phone, desktop}},
		{"IPv6 as typed otherwise", "2001:DB8:0::1", "", []string{script}},
		{"IPv6 network", "2001:db8::/32", "", []string{script}},
		{"IPv4-mapped", "::ffff:198.51.100.8", "", []string{desktop}},
		{"IPv4-mapped network", "::ffff:198.51.100.0/120", "", []string{phone, desktop}},
		// From /80 to /95, an IPv6 network holding the IPv4-mapped range
		// holds nothing else to match: every IPv4 address. A wider one is
		// about IPv6 addresses, as gateway.trusted_proxies takes it: ::/0
		// narrows to the IPv6 sessions.
		{"IPv6 network over the IPv4-mapped range", "::ffff:0:0/95", "", []string{phone, desktop, mac}},
		{"IPv4-mapped network shorter than /96", "::ffff:198.51.100.0/90", "", []string{phone, desktop, mac}},
		{"IPv6 /80 over the IPv4-mapped range", "::/80", "", []string{phone, desktop, mac}},
		{"every IPv6 address", "::/0", "", []string{script}},
		{"half of IPv6", "::/1", "", []string{script}},
		{"IPv6 network beside the IPv4-mapped range", "::fffe:0:0/96", "", nil},
		{"no match", "192.0.2.1", "", nil},
		{"device as shown, any case", "", "chrome", []string{desktop, mac}},
		{"OS", "", "Android", []string{phone}},
		{"raw User-Agent", "", "curl/8", []string{script}},
		{"both", "198.51.100.0/24", "windows", []string{desktop}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{"subject": {"alice"}, "ip": {tc.ip}, "device": {tc.device}}
			resp, body := f.do(c, "GET", "/console/sessions?"+q.Encode(), nil, "same-origin")
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("sessions?%s: %d\n%s", q.Encode(), resp.StatusCode, body)
			}
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if got := sessionRowIDs(body); !slices.Equal(got, want) {
				t.Errorf("sessions?%s listed %v; want %v", q.Encode(), got, want)
			}
			heading := between(body, `<h2 id="found">`, "</h2>")
			if !strings.Contains(heading, strings.Join([]string{strconv.Itoa(len(want)), "of the", strconv.Itoa(all), "session(s)"}, " ")) {
				t.Errorf("sessions?%s heading %q; want it to say %d of the %d", q.Encode(), heading, len(want), all)
			}
			if !strings.Contains(body, "no index of sessions by IP address") {
				t.Errorf("sessions?%s does not say the filter narrows this subject's sessions only", q.Encode())
			}
			if !strings.Contains(body, "Revoke all of this subject's sessions ("+strconv.Itoa(all)+", not only the "+strconv.Itoa(len(want))+" shown)") {
				t.Errorf("sessions?%s: the revoke-all button does not say it revokes all %d: %q", q.Encode(), all, between(body, `class="danger"`, "</button>"))
			}
			// Revoke others ends the sessions the filters hide too: its
			// text says so, not only its accessible name.
			others := fmt.Sprintf("Revoke all others (%d, including %d not shown)", all-1, all-len(want))
			if len(want) == all {
				others = "Revoke others" // a filter that hides none
			}
			if n := strings.Count(body, ">"+others+"</button>"); n != len(want) {
				t.Errorf("sessions?%s: %d revoke-others buttons say %q; want %d (one a row), got %q", q.Encode(), n, others, len(want),
					between(body, `action="/console/sessions/revoke-others"`, "</form>"))
			}
		})
	}
	t.Run("unfiltered", func(t *testing.T) {
		resp, body := f.do(c, "GET", "/console/sessions?subject=alice&ip=&device=", nil, "same-origin")
		if resp.StatusCode != http.StatusOK || !strings.Contains(body, ">4 session(s) of <code>alice</code>") || len(sessionRowIDs(body)) != all {
			t.Errorf("sessions of alice with empty filters: %d %q", resp.StatusCode, between(body, `<h2 id="found">`, "</h2>"))
		}
		if n := strings.Count(body, ">Revoke others</button>"); n != all {
			t.Errorf("sessions of alice with empty filters: %d buttons say Revoke others; want %d", n, all)
		}
	})
	t.Run("revoking keeps the filters", func(t *testing.T) {
		resp, _ := f.do(c, "POST", "/console/sessions/revoke", url.Values{"subject": {"alice"}, "id": {mac}, "ip": {"203.0.113.0/24"}, "device": {"mac"}}, "same-origin")
		want := "/console/sessions?" + url.Values{"subject": {"alice"}, "revoked": {"1"}, "ip": {"203.0.113.0/24"}, "device": {"mac"}}.Encode()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("revoke under filters: %d to %q; want %q", resp.StatusCode, resp.Header.Get("Location"), want)
		}
	})
	for _, tc := range []struct{ name, query, err string }{
		{"not an address", "subject=alice&ip=999.1.1.1", "not an IP address or network"},
		{"bad prefix", "subject=alice&ip=198.51.100.0/33", "not an IP address or network"},
		{"host name", "subject=alice&ip=evil.example", "not an IP address or network"},
		{"zone", "subject=alice&ip=fe80::1%25eth0", "not an IP address or network"},
		{"long device", "subject=alice&device=" + strings.Repeat("a", 257), "at most 256"},
		{"control in device", "subject=alice&device=" + url.QueryEscape("a\x1b[2J"), "control"},
		{"no subject", "ip=198.51.100.7", "enter the subject"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := f.do(c, "GET", "/console/sessions?"+tc.query, nil, "same-origin")
			if msg := between(body, `class="error"`, "</p>"); resp.StatusCode != http.StatusBadRequest || !strings.Contains(msg, tc.err) {
				t.Errorf("sessions?%s: %d %q; want 400 saying %q", tc.query, resp.StatusCode, msg, tc.err)
			}
			if strings.Contains(body, "\x1b") {
				t.Errorf("sessions?%s: the page holds a raw escape", tc.query)
			}
		})
	}
}
