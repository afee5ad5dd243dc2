package anomaly

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/sessiond/sessiond"
)

// Real User-Agent strings as current browsers send them (Chrome, Edge and
// Safari freeze the OS version: Windows is always "NT 10.0", macOS
// "10_15_7", Android "10; K", iOS 26 "18_6").
const (
	chromeWin142   = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36"
	chromeWin143   = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Safari/537.36"
	chromeMac      = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Safari/537.36"
	chromeLinux    = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Safari/537.36"
	chromeChromeOS = "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Safari/537.36"
	chromeAndroid  = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Mobile Safari/537.36"
	chromeIOS      = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/143.0.7499.92 Mobile/15E148 Safari/604.1"
	firefoxWin145  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:145.0) Gecko/20100101 Firefox/145.0"
	firefoxWin146  = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:146.0) Gecko/20100101 Firefox/146.0"
	firefoxMac     = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:146.0) Gecko/20100101 Firefox/146.0"
	firefoxLinux   = "Mozilla/5.0 (X11; Linux x86_64; rv:146.0) Gecko/20100101 Firefox/146.0"
	firefoxUbuntu  = "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:146.0) Gecko/20100101 Firefox/146.0"
	firefoxAndroid = "Mozilla/5.0 (Android 16; Mobile; rv:146.0) Gecko/146.0 Firefox/146.0"
	firefoxIOS     = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) FxiOS/146.0 Mobile/15E148 Safari/605.1.15"
	safariMac260   = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.0 Safari/605.1.15"
	safariMac261   = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.1 Safari/605.1.15"
	safariIPhone   = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.1 Mobile/15E148 Safari/604.1"
	safariIPad     = "Mozilla/5.0 (iPad; CPU OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/26.1 Mobile/15E148 Safari/604.1"
	edgeWin142     = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36 Edg/142.0.0.0"
	edgeWin143     = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Safari/537.36 Edg/143.0.0.0"
	edgeMac        = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Safari/537.36 Edg/143.0.0.0"
	edgeAndroid    = "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/143.0.0.0 Mobile Safari/537.36 EdgA/143.0.0.0"
	edgeIOS        = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) EdgiOS/143.3650.57 Mobile/15E148 Safari/605.1.15"
	samsungAndroid = "Mozilla/5.0 (Linux; Android 15; SAMSUNG SM-S931B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/29.0 Chrome/136.0.0.0 Mobile Safari/537.36"
	operaWin       = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/142.0.0.0 Safari/537.36 OPR/124.0.0.0"
	firefoxFreeBSD = "Mozilla/5.0 (X11; FreeBSD amd64; rv:146.0) Gecko/20100101 Firefox/146.0"
	curl85         = "curl/8.5.0"
	curl86         = "curl/8.6.0"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func newDetector(t testing.TB, o Options) *Detector {
	t.Helper()
	d, err := New(o)
	if err != nil {
		t.Fatalf("New(%+v) = %v", o, err)
	}
	return d
}

func only(r Rule) map[Rule]Action { return map[Rule]Action{r: ActionLog} }

// wantOneDetail checks, at each of stages (both when none are named), that
// Check finds at most one anomaly between issued and current, with the
// detail want ("" for none).
func wantOneDetail(t *testing.T, d *Detector, issued, current sessiond.Client, want string, stages ...Stage) {
	t.Helper()
	if len(stages) == 0 {
		stages = []Stage{Verify, Refresh}
	}
	for _, stage := range stages {
		fs := d.Check(t0, stage, "s1", issued, current)
		var got string
		if len(fs) > 0 {
			got = fs[0].Detail
		}
		if len(fs) > 1 || got != want {
			t.Errorf("%s: Check(%.40q → %.40q) = %+v; want detail %q", stage, issued, current, fs, want)
		}
	}
}

// sessionIDs returns n distinct session IDs of a real ID's length.
func sessionIDs(n int) []sessiond.SessionID {
	ids := make([]sessiond.SessionID, n)
	for i := range ids {
		ids[i] = sessiond.SessionID(fmt.Sprintf("%026d", i))
	}
	return ids
}

func rules(fs []Finding) []Rule {
	var rs []Rule
	for _, f := range fs {
		rs = append(rs, f.Rule)
	}
	return rs
}

// TestUserAgentFamilies pins what the parser reports for the strings the
// rules rely on, so a library upgrade that changes it fails here first.
func TestUserAgentFamilies(t *testing.T) {
	d := newDetector(t, Options{Actions: DefaultActions()})
	tests := []struct {
		name, ua    string
		browser, os string
	}{
		{"chrome windows", chromeWin143, "Chrome", "Windows"},
		{"chrome macos", chromeMac, "Chrome", "MacOS"},
		{"chrome linux", chromeLinux, "Chrome", "Linux"},
		{"chrome chromeos", chromeChromeOS, "Chrome", "ChromeOS"},
		{"chrome android", chromeAndroid, "Chrome", "Android"},
		{"chrome ios", chromeIOS, "Chrome", "iOS"},
		{"firefox windows", firefoxWin146, "Firefox", "Windows"},
		{"firefox macos", firefoxMac, "Firefox", "MacOS"},
		{"firefox linux", firefoxLinux, "Firefox", "Linux"},
		{"firefox ubuntu", firefoxUbuntu, "Firefox", "Linux"},
		{"firefox android", firefoxAndroid, "Firefox", "Android"},
		{"firefox ios", firefoxIOS, "Firefox", "iOS"},
		{"safari macos", safariMac261, "Safari", "MacOS"},
		{"safari iphone", safariIPhone, "Safari", "iOS"},
		{"safari ipad", safariIPad, "Safari", "iOS"},
		{"edge windows", edgeWin143, "Edge", "Windows"},
		{"edge macos", edgeMac, "Edge", "MacOS"},
		{"edge android", edgeAndroid, "Edge", "Android"},
		{"edge ios", edgeIOS, "Edge", "iOS"},
		{"samsung internet", samsungAndroid, "Samsung Browser", "Android"},
		{"opera windows", operaWin, "Opera", "Windows"},
		// Known gap of go-useragent v1.2.5: FreeBSD is matched but has no
		// name, so it reads as an unknown OS.
		{"firefox freebsd", firefoxFreeBSD, "Firefox", ""},
		{"curl", curl85, "", ""},
		{"empty", "", "", ""},
		{"garbage", "\x00\xff(((;;;", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, o := d.families(tt.ua)
			if string(b) != tt.browser || string(o) != tt.os {
				t.Errorf("families(%q) = %q, %q; want %q, %q", tt.ua, b, o, tt.browser, tt.os)
			}
		})
	}
}

func TestDetector_Check_IPChange(t *testing.T) {
	tests := []struct {
		name            string
		v4, v6          int
		issued, current string
		want            string // Detail, "" for no finding
	}{
		{name: "same address", issued: "203.0.113.5", current: "203.0.113.5"},
		{name: "ipv4 inside /24", issued: "203.0.113.5", current: "203.0.113.200"},
		{name: "ipv4 outside /24", issued: "203.0.113.5", current: "203.0.114.5",
			want: "network changed from 203.0.113.0/24 to 203.0.114.0/24"},
		{name: "ipv4 inside custom /16", v4: 16, issued: "203.0.113.5", current: "203.0.200.7"},
		{name: "ipv4 outside custom /16", v4: 16, issued: "203.0.113.5", current: "203.1.0.1",
			want: "network changed from 203.0.0.0/16 to 203.1.0.0/16"},
		{name: "ipv4 /32 any change", v4: 32, issued: "203.0.113.5", current: "203.0.113.6",
			want: "network changed from 203.0.113.5/32 to 203.0.113.6/32"},
		{name: "ipv6 inside /64", issued: "2001:db8:1:2::1", current: "2001:db8:1:2:ffff:ffff:ffff:9"},
		{name: "ipv6 outside /64", issued: "2001:db8:1:2::1", current: "2001:db8:1:3::1",
			want: "network changed from 2001:db8:1:2::/64 to 2001:db8:1:3::/64"},
		{name: "ipv6 inside custom /48", v6: 48, issued: "2001:db8:1:2::1", current: "2001:db8:1:3::1"},
		{name: "ipv6 equal in another spelling", issued: "2001:DB8:0:0:1::1", current: "2001:db8::1:0:0:1"},
		{name: "ipv4 to ipv6", issued: "203.0.113.5", current: "2001:db8::1",
			want: "network changed from 203.0.113.0/24 to 2001:db8::/64"},
		{name: "ipv6 to ipv4", issued: "2001:db8::1", current: "203.0.113.5",
			want: "network changed from 2001:db8::/64 to 203.0.113.0/24"},
		{name: "mapped ipv4 inside /24", issued: "::ffff:203.0.113.5", current: "203.0.113.9"},
		{name: "ipv4 to mapped ipv4 outside /24", issued: "203.0.113.5", current: "::ffff:198.51.100.7",
			want: "network changed from 203.0.113.0/24 to 198.51.100.0/24"},
		{name: "zones ignored", issued: "fe80::1%eth0", current: "fe80::2%wlan0"},
		{name: "current missing", issued: "203.0.113.5", current: ""},
		{name: "issued missing", issued: "", current: "203.0.113.5"},
		{name: "both missing"},
		{name: "current garbage", issued: "203.0.113.5", current: "not-an-ip"},
		{name: "issued garbage", issued: "999.1.1.1", current: "203.0.113.5"},
		{name: "host and port is not an address", issued: "203.0.113.5", current: "198.51.100.7:443"},
		{name: "cidr is not an address", issued: "203.0.113.5", current: "198.51.100.0/24"},
		{name: "huge garbage", issued: "203.0.113.5", current: strings.Repeat("1.", 10000)},
		{name: "control bytes", issued: "203.0.113.5", current: "\x00\n\xff"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDetector(t, Options{IPv4Prefix: tt.v4, IPv6Prefix: tt.v6, Actions: only(RuleIPChange)})
			wantOneDetail(t, d, sessiond.Client{IP: tt.issued}, sessiond.Client{IP: tt.current}, tt.want)
		})
	}
}

func TestDetector_Check_UserAgentChange(t *testing.T) {
	tests := []struct {
		name, issued, current string
		want                  string // Detail, "" for no finding
	}{
		{name: "identical", issued: chromeWin143, current: chromeWin143},
		{name: "chrome version bump", issued: chromeWin142, current: chromeWin143},
		{name: "chrome version downgrade", issued: chromeWin143, current: chromeWin142},
		{name: "firefox version bump", issued: firefoxWin145, current: firefoxWin146},
		{name: "safari version bump", issued: safariMac260, current: safariMac261},
		{name: "edge version bump", issued: edgeWin142, current: edgeWin143},
		{name: "linux distributions are one family", issued: firefoxLinux, current: firefoxUbuntu},
		{name: "iphone to ipad is one os", issued: safariIPhone, current: safariIPad},
		{name: "chrome to firefox", issued: chromeWin143, current: firefoxWin146,
			want: "browser changed from Chrome to Firefox"},
		{name: "chrome to edge", issued: chromeWin143, current: edgeWin143,
			want: "browser changed from Chrome to Edge"},
		{name: "edge to opera", issued: edgeWin143, current: operaWin,
			want: "browser changed from Edge to Opera"},
		{name: "safari to chrome on ios", issued: safariIPhone, current: chromeIOS,
			want: "browser changed from Safari to Chrome"},
		{name: "chrome to samsung on android", issued: chromeAndroid, current: samsungAndroid,
			want: "browser changed from Chrome to Samsung Browser"},
		{name: "windows to linux", issued: chromeWin143, current: chromeLinux,
			want: "os changed from Windows to Linux"},
		{name: "linux to chromeos", issued: chromeLinux, current: chromeChromeOS,
			want: "os changed from Linux to ChromeOS"},
		{name: "desktop to mobile", issued: chromeWin143, current: chromeAndroid,
			want: "os changed from Windows to Android"},
		{name: "macos to ios", issued: safariMac261, current: safariIPhone,
			want: "os changed from MacOS to iOS"},
		{name: "android to ios", issued: edgeAndroid, current: edgeIOS,
			want: "os changed from Android to iOS"},
		{name: "both change", issued: chromeWin143, current: firefoxMac,
			want: "browser changed from Chrome to Firefox; os changed from Windows to MacOS"},
		{name: "current empty", issued: chromeWin143, current: "",
			want: "user agent missing, was Chrome on Windows"},
		{name: "current unrecognised", issued: chromeWin143, current: curl85,
			want: "browser changed from Chrome to unknown; os changed from Windows to unknown"},
		{name: "current garbage", issued: firefoxAndroid, current: "\x00\xff(((;;;",
			want: "browser changed from Firefox to unknown; os changed from Android to unknown"},
		{name: "unrecognised to browser", issued: curl85, current: chromeLinux,
			want: "browser changed from unknown to Chrome; os changed from unknown to Linux"},
		{name: "both empty"},
		{name: "issued empty", issued: "", current: chromeWin143},
		{name: "same unrecognised", issued: curl85, current: curl85},
		{name: "unrecognised strings compared exactly", issued: curl85, current: curl86,
			want: "unrecognised user agent changed"},
		{name: "unnamed os is still compared by browser", issued: firefoxFreeBSD, current: strings.Replace(firefoxFreeBSD, "146", "147", -1)},
		{name: "bytes past 512 are not parsed", issued: chromeWin142, current: chromeWin143 + strings.Repeat(" ", 512) + "Firefox/146.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDetector(t, Options{Actions: only(RuleUserAgentChange)})
			wantOneDetail(t, d, sessiond.Client{UserAgent: tt.issued}, sessiond.Client{UserAgent: tt.current}, tt.want)
		})
	}
}

// ipStep is one Check of TestDetector_Check_DistinctIPs.
type ipStep struct {
	at      time.Duration // after t0
	session string
	ip      string
	want    bool // distinct_ips fires
}

// threeNetworks returns the steps by which session s1 is seen from three
// networks, gap apart from start; the third fires when want is true.
func threeNetworks(start, gap time.Duration, want bool) []ipStep {
	return []ipStep{
		{start, "s1", "203.0.113.5", false},
		{start + gap, "s1", "198.51.100.5", false},
		{start + 2*gap, "s1", "192.0.2.5", want},
	}
}

func TestDetector_Check_DistinctIPs(t *testing.T) {
	tests := []struct {
		name      string
		threshold int
		window    time.Duration
		steps     []ipStep
	}{
		{name: "crosses within the window", steps: threeNetworks(0, time.Minute, true)},
		{name: "fires once per crossing", steps: append(threeNetworks(0, time.Minute, true),
			ipStep{3 * time.Minute, "s1", "192.0.2.5", false},
			ipStep{4 * time.Minute, "s1", "203.0.114.5", false},
			ipStep{5 * time.Minute, "s1", "203.0.115.5", false},
		)},
		// At 20m the first three have left the window.
		{name: "fires again after falling below", steps: append(threeNetworks(0, time.Minute, true),
			threeNetworks(20*time.Minute, time.Minute, true)...)},
		{name: "spread beyond the window", steps: append(threeNetworks(0, 6*time.Minute, false),
			ipStep{18 * time.Minute, "s1", "203.0.114.5", false},
		)},
		// At 10m the first is exactly 10m old: out.
		{name: "window is half open", steps: threeNetworks(0, 5*time.Minute, false)},
		{name: "a repeat keeps a network in the window", steps: []ipStep{
			{0, "s1", "203.0.113.5", false},
			{6 * time.Minute, "s1", "198.51.100.5", false},
			{9 * time.Minute, "s1", "203.0.113.9", false}, // same /24 as the first, refreshed
			{12 * time.Minute, "s1", "192.0.2.5", true},
		}},
		{name: "addresses in one prefix are one network", steps: []ipStep{
			{0, "s1", "203.0.113.5", false},
			{time.Minute, "s1", "203.0.113.6", false},
			{2 * time.Minute, "s1", "::ffff:203.0.113.7", false},
			{3 * time.Minute, "s1", "198.51.100.5", false},
		}},
		{name: "ipv4 and ipv6 are distinct networks", steps: []ipStep{
			{0, "s1", "203.0.113.5", false},
			{time.Minute, "s1", "2001:db8:1::1", false},
			{2 * time.Minute, "s1", "2001:db8:2::1", true},
		}},
		{name: "sessions are counted apart", steps: []ipStep{
			{0, "s1", "203.0.113.5", false},
			{time.Minute, "s2", "198.51.100.5", false},
			{2 * time.Minute, "s3", "192.0.2.5", false},
			{3 * time.Minute, "s1", "198.51.100.5", false},
		}},
		{name: "unknown addresses and sessions are not counted", steps: []ipStep{
			{0, "s1", "203.0.113.5", false},
			{time.Minute, "s1", "garbage", false},
			{time.Minute, "s1", "", false},
			{time.Minute, "", "198.51.100.5", false},
			{2 * time.Minute, "s1", "192.0.2.5", false},
		}},
		{name: "threshold 2", threshold: 2, steps: []ipStep{
			{0, "s1", "203.0.113.5", false},
			{time.Minute, "s1", "198.51.100.5", true},
		}},
		{name: "custom window", window: time.Hour, steps: threeNetworks(0, 25*time.Minute, true)},
		{name: "clock going back counts as inside the window", steps: []ipStep{
			{10 * time.Minute, "s1", "203.0.113.5", false},
			{0, "s1", "198.51.100.5", false},
			{5 * time.Minute, "s1", "192.0.2.5", true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDetector(t, Options{DistinctIPThreshold: tt.threshold, DistinctIPWindow: tt.window, Actions: only(RuleDistinctIPs)})
			for i, s := range tt.steps {
				stage := Verify
				if i%2 == 1 {
					stage = Refresh // both stages count
				}
				fs := d.Check(t0.Add(s.at), stage, sessiond.SessionID(s.session), sessiond.Client{}, sessiond.Client{IP: s.ip})
				if got := len(fs) == 1 && fs[0].Rule == RuleDistinctIPs; got != s.want || len(fs) > 1 {
					t.Fatalf("step %d: Check(%s, %q, %q) = %+v; want fires %v", i, s.at, s.session, s.ip, fs, s.want)
				}
			}
		})
	}
}

func TestDetector_Check_RefreshDeviceChange(t *testing.T) {
	issued := sessiond.Client{IP: "203.0.113.5", UserAgent: chromeWin142}
	tests := []struct {
		name    string
		stage   Stage
		current sessiond.Client
		want    string // Detail, "" for no finding
	}{
		{name: "same device", stage: Refresh, current: issued},
		{name: "same device after an update in the same network", stage: Refresh,
			current: sessiond.Client{IP: "203.0.113.77", UserAgent: chromeWin143}},
		{name: "another network", stage: Refresh,
			current: sessiond.Client{IP: "198.51.100.7", UserAgent: chromeWin142},
			want:    "refresh from another device: network changed from 203.0.113.0/24 to 198.51.100.0/24"},
		{name: "another browser", stage: Refresh,
			current: sessiond.Client{IP: "203.0.113.5", UserAgent: firefoxWin146},
			want:    "refresh from another device: browser changed from Chrome to Firefox"},
		{name: "another os", stage: Refresh,
			current: sessiond.Client{IP: "203.0.113.5", UserAgent: chromeAndroid},
			want:    "refresh from another device: os changed from Windows to Android"},
		{name: "everything changed", stage: Refresh,
			current: sessiond.Client{IP: "2001:db8::1", UserAgent: safariIPhone},
			want:    "refresh from another device: network changed from 203.0.113.0/24 to 2001:db8::/64; browser changed from Chrome to Safari; os changed from Windows to iOS"},
		{name: "user agent dropped", stage: Refresh,
			current: sessiond.Client{IP: "203.0.113.5"},
			want:    "refresh from another device: user agent missing, was Chrome on Windows"},
		{name: "unknown address, same browser", stage: Refresh,
			current: sessiond.Client{UserAgent: chromeWin143}},
		{name: "not at verify", stage: Verify,
			current: sessiond.Client{IP: "2001:db8::1", UserAgent: safariIPhone}},
		{name: "unknown stage is not refresh", stage: "login",
			current: sessiond.Client{IP: "2001:db8::1", UserAgent: safariIPhone}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDetector(t, Options{Actions: only(RuleRefreshDeviceChange)})
			wantOneDetail(t, d, issued, tt.current, tt.want, tt.stage)
		})
	}
}

func TestDetector_Check_AllRules(t *testing.T) {
	issued := sessiond.Client{IP: "203.0.113.5", UserAgent: chromeWin142}
	stolen := sessiond.Client{IP: "198.51.100.7", UserAgent: firefoxLinux}
	tests := []struct {
		name            string
		stage           Stage
		issued, current sessiond.Client
		want            []Rule
		worst           Action
	}{
		{name: "verify, well-behaved client", stage: Verify, issued: issued, current: issued},
		{name: "verify, stolen session", stage: Verify, issued: issued, current: stolen,
			want: []Rule{RuleIPChange, RuleUserAgentChange}, worst: ActionStepUp},
		{name: "refresh, stolen session", stage: Refresh, issued: issued, current: stolen,
			want: []Rule{RuleIPChange, RuleUserAgentChange, RuleRefreshDeviceChange}, worst: ActionRevoke},
		{name: "refresh, mobile user moved network", stage: Refresh, issued: issued,
			current: sessiond.Client{IP: "198.51.100.7", UserAgent: chromeWin143},
			want:    []Rule{RuleIPChange, RuleRefreshDeviceChange}, worst: ActionRevoke},
		// A stateless verify (hybrid, jwt) has no issued client: only
		// distinct_ips can fire, and one request does not make it.
		{name: "stateless verify", stage: Verify, current: stolen},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDetector(t, Options{Actions: DefaultActions()})
			fs := d.Check(t0, tt.stage, "s1", tt.issued, tt.current)
			if got := rules(fs); !slices.Equal(got, tt.want) {
				t.Errorf("Check rules = %v; want %v", got, tt.want)
			}
			for _, f := range fs {
				if want, _ := d.Action(f.Rule); f.Action != want {
					t.Errorf("finding %s has action %s; want %s", f.Rule, f.Action, want)
				}
			}
			if got, _ := Worst(fs); got != tt.worst {
				t.Errorf("Worst = %q; want %q", got, tt.worst)
			}
		})
	}
}

func TestDetector_Check_Disabled(t *testing.T) {
	for _, actions := range []map[Rule]Action{nil, {}} {
		d := newDetector(t, Options{Actions: actions})
		for i := range 10 {
			fs := d.Check(t0, Refresh, "s1",
				sessiond.Client{IP: "203.0.113.5", UserAgent: chromeWin143},
				sessiond.Client{IP: fmt.Sprintf("198.51.%d.1", i), UserAgent: safariIPhone})
			if fs != nil {
				t.Fatalf("Check with rules %v = %+v; want nil", actions, fs)
			}
		}
		if n := d.Tracked(); n != 0 {
			t.Errorf("Tracked() = %d with distinct_ips disabled; want 0", n)
		}
	}
}

// TestDetector_Check_DetailHasNoCallerText: nothing the caller passes in
// (a User-Agent carrying a token, the session ID) reaches Detail.
func TestDetector_Check_DetailHasNoCallerText(t *testing.T) {
	const token = "eyJhbGciOiJFZERTQSJ9.c2VjcmV0.c2ln"
	const sid = "sess-1234-do-not-log"
	d := newDetector(t, Options{DistinctIPThreshold: 2, Actions: DefaultActions()})
	issued := sessiond.Client{IP: "203.0.113.5", UserAgent: chromeWin143}
	var all []Finding
	for i, ua := range []string{
		"MyApp/1.0 Authorization: Bearer " + token,
		token + "\nlevel=ERROR msg=forged",
		"Mozilla/5.0 (Windows NT 10.0) Firefox/146.0 " + token,
	} {
		all = append(all, d.Check(t0, Refresh, sid, issued, sessiond.Client{IP: fmt.Sprintf("198.51.100.%d", i), UserAgent: ua})...)
	}
	if len(all) == 0 {
		t.Fatal("no findings; the test needs some")
	}
	for _, f := range all {
		if strings.Contains(f.Detail, token[:10]) || strings.Contains(f.Detail, sid) || strings.Contains(f.Detail, "MyApp") {
			t.Errorf("%s Detail %q carries caller text", f.Rule, f.Detail)
		}
		for _, r := range f.Detail {
			if r > unicode.MaxASCII || !unicode.IsPrint(r) {
				t.Errorf("%s Detail %q has rune %q", f.Rule, f.Detail, r)
			}
		}
	}
}

func TestDetector_MaxTracked(t *testing.T) {
	t.Run("bound holds", func(t *testing.T) {
		for _, max := range []int{1, 3, 2047, 5000} {
			d := newDetector(t, Options{MaxTracked: max, Actions: only(RuleDistinctIPs)})
			for i := range 3 * max {
				for j := range 5 { // more networks than the threshold
					d.Check(t0, Verify, sessiond.SessionID(fmt.Sprint("s", i)), sessiond.Client{}, sessiond.Client{IP: fmt.Sprintf("10.%d.%d.1", i%200, j)})
				}
			}
			if n := d.Tracked(); n != max {
				t.Errorf("MaxTracked %d: Tracked() = %d after %d sessions; want %d", max, n, 3*max, max)
			}
			slots := 0
			for i := range d.ips.shards {
				s := &d.ips.shards[i]
				slots += len(s.slots)
				for _, e := range s.slots {
					if len(e.nets) > d.threshold || cap(e.nets) != d.threshold {
						t.Fatalf("session keeps %d networks (cap %d); want at most %d", len(e.nets), cap(e.nets), d.threshold)
					}
				}
			}
			if slots > max {
				t.Errorf("MaxTracked %d: %d slots allocated", max, slots)
			}
		}
	})
	t.Run("evicts the least recently seen", func(t *testing.T) {
		d := newDetector(t, Options{MaxTracked: 3, Actions: only(RuleDistinctIPs)})
		see := func(at time.Duration, sid, ip string) []Finding {
			return d.Check(t0.Add(at), Verify, sessiond.SessionID(sid), sessiond.Client{}, sessiond.Client{IP: ip})
		}
		for _, sid := range []string{"s1", "s2", "s3"} {
			see(0, sid, "203.0.113.1")
			see(time.Second, sid, "198.51.100.1")
		}
		see(2*time.Second, "s1", "203.0.113.1") // s1 is now the most recent, s2 the oldest
		see(3*time.Second, "s4", "203.0.113.1") // evicts s2
		if fs := see(4*time.Second, "s1", "192.0.2.1"); len(fs) != 1 {
			t.Errorf("s1 third network: %+v; want distinct_ips (s1 must still be remembered)", fs)
		}
		if fs := see(4*time.Second, "s2", "192.0.2.1"); len(fs) != 0 {
			t.Errorf("s2 third network: %+v; want none (s2 was evicted)", fs)
		}
		if n := d.Tracked(); n != 3 {
			t.Errorf("Tracked() = %d; want 3", n)
		}
	})
	t.Run("sessions out of the window are dropped", func(t *testing.T) {
		// One shard, so every call below can drop up to two stale sessions.
		d := newDetector(t, Options{MaxTracked: 1000, Actions: only(RuleDistinctIPs)})
		for i := range 10 {
			d.Check(t0, Verify, sessiond.SessionID(fmt.Sprint("old", i)), sessiond.Client{}, sessiond.Client{IP: "203.0.113.1"})
		}
		for i := range 20 {
			d.Check(t0.Add(11*time.Minute), Verify, sessiond.SessionID(fmt.Sprint("new", i%20)), sessiond.Client{}, sessiond.Client{IP: "203.0.113.1"})
		}
		if n := d.Tracked(); n != 20 {
			t.Errorf("Tracked() = %d; want 20 (the stale sessions dropped)", n)
		}
	})
}

// TestDetector_Memory measures what docs/anomaly.md quotes:
//
//	go test -run TestDetector_Memory -v ./anomaly
func TestDetector_Memory(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a tracker of 100k sessions")
	}
	ids := sessionIDs(DefaultMaxTracked)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	d := newDetector(t, Options{Actions: only(RuleDistinctIPs)}) // defaults: threshold 3, 100k sessions
	for i, id := range ids {
		for j := range d.threshold {
			d.Check(t0, Verify, id, sessiond.Client{}, sessiond.Client{IP: fmt.Sprintf("10.%d.%d.1", j, i%250)})
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	heap := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	perSession := float64(heap) / float64(d.Tracked())
	t.Logf("%d sessions tracked, %d networks each: %.1f MB, %.0f B/session", d.Tracked(), d.threshold, float64(heap)/1e6, perSession)
	if perSession > 400 {
		t.Errorf("%.0f B per tracked session; want under 400", perSession)
	}
	runtime.KeepAlive(d)
}

func TestDetector_Concurrent(t *testing.T) {
	d := newDetector(t, Options{MaxTracked: 2500, Actions: DefaultActions()})
	uas := []string{chromeWin142, chromeWin143, firefoxLinux, safariIPhone, ""}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				sid := fmt.Sprint("s", (g*7919+i)%3000)
				stage := Verify
				if i%5 == 0 {
					stage = Refresh
				}
				d.Check(t0.Add(time.Duration(i)*time.Millisecond), stage, sessiond.SessionID(sid),
					sessiond.Client{IP: "203.0.113.5", UserAgent: chromeWin142},
					sessiond.Client{IP: fmt.Sprintf("198.51.%d.1", i%7), UserAgent: uas[i%len(uas)]})
			}
		})
	}
	wg.Wait()
	if n := d.Tracked(); n > 2500 {
		t.Errorf("Tracked() = %d; want at most 2500", n)
	}
}

func TestWorst(t *testing.T) {
	f := func(as ...Action) []Finding {
		var fs []Finding
		for _, a := range as {
			fs = append(fs, Finding{Rule: RuleIPChange, Action: a})
		}
		return fs
	}
	tests := []struct {
		name   string
		fs     []Finding
		want   Action
		wantOK bool
	}{
		{"none", nil, "", false},
		{"empty", []Finding{}, "", false},
		{"log", f(ActionLog), ActionLog, true},
		{"alert over log", f(ActionLog, ActionAlert), ActionAlert, true},
		{"step_up over alert", f(ActionAlert, ActionStepUp, ActionLog), ActionStepUp, true},
		{"revoke over all", f(ActionLog, ActionRevoke, ActionStepUp, ActionAlert), ActionRevoke, true},
		{"revoke first", f(ActionRevoke, ActionStepUp), ActionRevoke, true},
		{"unknown below log", f("block", ActionLog), ActionLog, true},
		{"only unknown", f("block"), "block", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Worst(tt.fs)
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("Worst(%v) = %q, %v; want %q, %v", tt.fs, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// argFields returns the Field of every *sessiond.ArgumentError in err's tree.
func argFields(err error) []string {
	var out []string
	var walk func(error)
	walk = func(e error) {
		if ae, ok := e.(*sessiond.ArgumentError); ok {
			out = append(out, ae.Field)
		}
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			if w := u.Unwrap(); w != nil {
				walk(w)
			}
		case interface{ Unwrap() []error }:
			for _, w := range u.Unwrap() {
				walk(w)
			}
		}
	}
	walk(err)
	return out
}

func TestNew(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		d := newDetector(t, Options{Actions: DefaultActions()})
		if d.v4 != 24 || d.v6 != 64 || d.window != 10*time.Minute || d.threshold != 3 {
			t.Errorf("defaults = /%d /%d %s %d; want /24 /64 10m 3", d.v4, d.v6, d.window, d.threshold)
		}
		total := 0
		for i := range d.ips.shards {
			total += d.ips.shards[i].max
		}
		if total != DefaultMaxTracked {
			t.Errorf("shard capacity = %d; want %d", total, DefaultMaxTracked)
		}
		for r, want := range map[Rule]Action{RuleIPChange: ActionLog, RuleUserAgentChange: ActionStepUp,
			RuleDistinctIPs: ActionAlert, RuleRefreshDeviceChange: ActionRevoke} {
			if got, ok := d.Action(r); got != want || !ok {
				t.Errorf("Action(%s) = %q, %v; want %q", r, got, ok, want)
			}
		}
		if _, ok := d.Action("geo_velocity"); ok {
			t.Error(`Action("geo_velocity") is enabled`)
		}
	})
	t.Run("copies actions", func(t *testing.T) {
		m := DefaultActions()
		d := newDetector(t, Options{Actions: m})
		m[RuleIPChange] = ActionRevoke
		delete(m, RuleDistinctIPs)
		if got, _ := d.Action(RuleIPChange); got != ActionLog {
			t.Errorf("Action(ip_change) = %q after the caller changed its map; want log", got)
		}
	})
	tests := []struct {
		name string
		opts Options
		want []string // fields reported, in order
	}{
		{"zero", Options{}, nil},
		{"bounds", Options{IPv4Prefix: 32, IPv6Prefix: 128, DistinctIPThreshold: MaxDistinctIPThreshold, MaxTracked: 1,
			DistinctIPWindow: time.Nanosecond}, nil},
		{"small bounds", Options{IPv4Prefix: 1, IPv6Prefix: 1, DistinctIPThreshold: 2}, nil},
		{"ipv4 prefix too long", Options{IPv4Prefix: 33}, []string{"ipv4_prefix"}},
		{"ipv4 prefix negative", Options{IPv4Prefix: -1}, []string{"ipv4_prefix"}},
		{"ipv6 prefix too long", Options{IPv6Prefix: 129}, []string{"ipv6_prefix"}},
		{"window negative", Options{DistinctIPWindow: -time.Second}, []string{"distinct_ip_window"}},
		{"threshold 1", Options{DistinctIPThreshold: 1}, []string{"distinct_ip_threshold"}},
		{"threshold too high", Options{DistinctIPThreshold: MaxDistinctIPThreshold + 1}, []string{"distinct_ip_threshold"}},
		{"max tracked negative", Options{MaxTracked: -1}, []string{"max_tracked"}},
		{"unknown rule", Options{Actions: map[Rule]Action{"geo_velocity": ActionLog}}, []string{"actions.geo_velocity"}},
		{"unknown action", Options{Actions: map[Rule]Action{RuleIPChange: "block"}}, []string{"actions.ip_change"}},
		{"empty action", Options{Actions: map[Rule]Action{RuleDistinctIPs: ""}}, []string{"actions.distinct_ips"}},
		{"action in the wrong case", Options{Actions: map[Rule]Action{RuleIPChange: "Revoke"}}, []string{"actions.ip_change"}},
		{"every problem at once", Options{IPv4Prefix: 40, IPv6Prefix: -3, DistinctIPWindow: -1, DistinctIPThreshold: 1, MaxTracked: -5,
			Actions: map[Rule]Action{RuleUserAgentChange: "deny", "x": ActionLog, RuleIPChange: ActionLog}},
			[]string{"ipv4_prefix", "ipv6_prefix", "distinct_ip_window", "distinct_ip_threshold", "max_tracked",
				"actions.user_agent_change", "actions.x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := New(tt.opts)
			if tt.want == nil {
				if err != nil || d == nil {
					t.Fatalf("New(%+v) = %v; want a detector", tt.opts, err)
				}
				return
			}
			if d != nil || !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Fatalf("New(%+v) = %v, %v; want nil and ErrInvalidArgument", tt.opts, d, err)
			}
			if got := argFields(err); !slices.Equal(got, tt.want) {
				t.Errorf("New(%+v) reported fields %v; want %v\n%v", tt.opts, got, tt.want, err)
			}
			if !strings.HasPrefix(err.Error(), "anomaly: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
		})
	}
}

func TestRuleAndActionValid(t *testing.T) {
	for _, r := range Rules() {
		if !ValidRule(r) {
			t.Errorf("ValidRule(%q) = false", r)
		}
		if _, ok := DefaultActions()[r]; !ok {
			t.Errorf("DefaultActions lacks %s", r)
		}
	}
	for _, a := range []Action{ActionLog, ActionAlert, ActionStepUp, ActionRevoke} {
		if !a.Valid() {
			t.Errorf("Action(%q).Valid() = false", a)
		}
	}
	if ValidRule("") || ValidRule("ip_changes") || Action("").Valid() || Action("deny").Valid() {
		t.Error("an unknown rule or action is valid")
	}
}

func FuzzCheck(f *testing.F) {
	f.Add("203.0.113.5", chromeWin143, "::ffff:198.51.100.7", firefoxLinux)
	f.Add("2001:db8::1%eth0", safariIPhone, "fe80::1", "")
	f.Add("", "", "garbage", "\x00\xff(((")
	d := newDetector(f, Options{DistinctIPThreshold: 2, MaxTracked: 64, Actions: DefaultActions()})
	f.Fuzz(func(t *testing.T, ip1, ua1, ip2, ua2 string) {
		issued := sessiond.Client{IP: ip1, UserAgent: ua1}
		current := sessiond.Client{IP: ip2, UserAgent: ua2}
		for _, stage := range []Stage{Verify, Refresh} {
			for _, fd := range d.Check(t0, stage, sessiond.SessionID(ua2), issued, current) {
				if !ValidRule(fd.Rule) || !fd.Action.Valid() || fd.Detail == "" {
					t.Fatalf("finding %+v", fd)
				}
				for _, r := range fd.Detail {
					if r > unicode.MaxASCII || !unicode.IsPrint(r) {
						t.Fatalf("%s Detail %q has rune %q", fd.Rule, fd.Detail, r)
					}
				}
			}
		}
		// The same client is never an anomaly (distinct_ips aside).
		for _, f := range d.Check(t0, Refresh, "", issued, issued) {
			t.Fatalf("Check(issued, issued) = %+v", f)
		}
	})
}

// Once older networks leave the window and the count falls below the
// threshold, the next crossing fires again (docs/anomaly.md), also when
// the request that crosses it is the first after they left: a thief using
// a stolen token while the owner is idle.
func TestDistinctIPs_RefiresAfterPartialExpiry(t *testing.T) {
	for _, tc := range []struct {
		name      string
		threshold int
		steps     []ipStep
	}{
		{name: "threshold 2", threshold: 2, steps: []ipStep{
			{0, "s1", "203.0.113.5", false},
			{time.Minute, "s1", "198.51.100.5", true},
			// At 10m30s the first network has left the window (count 1);
			// a new network brings it back to 2: a new crossing.
			{10*time.Minute + 30*time.Second, "s1", "192.0.2.5", true},
		}},
		{name: "threshold 3 (default)", threshold: 3, steps: []ipStep{
			{0, "s1", "203.0.113.5", false},
			{time.Minute, "s1", "198.51.100.5", false},
			{2 * time.Minute, "s1", "192.0.2.5", true},
			// 203.0.113.0/24 left the window at 10m: count 2, then a
			// fourth network makes it 3 again.
			{10*time.Minute + 30*time.Second, "s1", "100.64.7.5", true},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDetector(t, Options{DistinctIPThreshold: tc.threshold, Actions: only(RuleDistinctIPs)})
			for i, s := range tc.steps {
				fs := d.Check(t0.Add(s.at), Verify, sessiond.SessionID(s.session), sessiond.Client{}, sessiond.Client{IP: s.ip})
				got := len(fs) == 1 && fs[0].Rule == RuleDistinctIPs
				if got != s.want {
					t.Fatalf("step %d at %s from %s: fired=%v (%+v); want %v", i, s.at, s.ip, got, fs, s.want)
				}
			}
		})
	}
}
