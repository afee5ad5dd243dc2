package ssf

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"testing"
)

// TestAddressClass: every non-public range is refused, in IPv4, IPv6 and
// the IPv6 forms that embed an IPv4 address; public addresses pass.
func TestAddressClass(t *testing.T) {
	tests := []struct {
		addr string
		want string // "": allowed
	}{
		// Public.
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"93.184.215.14", ""},
		{"100.63.255.255", ""}, // just below CGNAT
		{"100.128.0.0", ""},    // just above
		{"172.15.255.255", ""}, // just below 172.16/12
		{"172.32.0.0", ""},
		{"169.253.255.255", ""},
		{"2606:4700:4700::1111", ""},
		{"2001:4860:4860::8888", ""},
		{"2001:200::1", ""},      // the first Internet allocation after 2001::/23
		{"::ffff:8.8.8.8", ""},   // IPv4-mapped public
		{"64:ff9b::808:808", ""}, // NAT64 of 8.8.8.8
		{"2002:808:808::1", ""},  // 6to4 of 8.8.8.8
		{"2a00:1450:4001::200e", ""},

		// IPv4.
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "this-network"},
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"10.0.0.1", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"169.254.169.254", "link-local"}, // cloud metadata
		{"169.254.0.1", "link-local"},
		{"100.64.0.1", "shared (CGNAT)"},
		{"100.127.255.255", "shared (CGNAT)"},
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"240.0.0.1", "reserved"},
		{"192.0.0.8", "IETF protocol"},
		{"192.0.2.1", "documentation"},
		{"198.51.100.1", "documentation"},
		{"203.0.113.1", "documentation"},
		{"198.18.0.1", "benchmarking"},
		{"198.19.255.255", "benchmarking"},
		{"192.88.99.1", "6to4 relay"},

		// IPv6.
		{"::", "unspecified"},
		{"::1", "loopback"},
		{"fc00::1", "private"},
		{"fd12:3456::1", "private"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"fd00:ec2::254", "private"}, // AWS metadata over IPv6
		{"ff02::1", "multicast"},
		{"ff05::2", "multicast"},
		{"fec0::1", "site-local"},
		{"2001:db8::1", "documentation"},
		{"3fff::1", "documentation"},
		{"100::1", "discard-only"},
		{"2001::1", "IETF protocol"}, // Teredo
		{"5f00::1", "SRv6 SID"},
		{"64:ff9b:1::1", "local-use NAT64"},

		// IPv4 inside IPv6.
		{"::ffff:127.0.0.1", "loopback"},
		{"::ffff:10.1.2.3", "private"},
		{"::ffff:169.254.169.254", "link-local"},
		{"::ffff:0.0.0.0", "unspecified"},
		{"::ffff:100.64.0.1", "shared (CGNAT)"},
		{"::ffff:255.255.255.255", "broadcast"},
		{"::127.0.0.1", "IPv4-compatible"},
		{"::8.8.8.8", "IPv4-compatible"},
		{"64:ff9b::7f00:1", "loopback (embedded in IPv6)"},
		{"64:ff9b::a9fe:a9fe", "link-local (embedded in IPv6)"},
		{"2002:a00:1::1", "private (embedded in IPv6)"},
		{"2002:7f00:1::1", "loopback (embedded in IPv6)"},
	}
	for _, tc := range tests {
		t.Run(tc.addr, func(t *testing.T) {
			a, err := netip.ParseAddr(tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			if got := addressClass(a); got != tc.want {
				t.Errorf("addressClass(%s) = %q; want %q", tc.addr, got, tc.want)
			}
		})
	}
}

// TestHostClass: endpoint_url hosts refused at stream creation: literal
// addresses and localhost; other names are left to the connection check.
func TestHostClass(t *testing.T) {
	tests := []struct {
		host string
		want string
	}{
		{"localhost", "loopback"},
		{"LocalHost.", "loopback"},
		{"api.localhost", "loopback"},
		{"127.0.0.1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		{"fe80::1%en0", "link-local"},
		{"169.254.169.254", "link-local"},
		{"receiver.example.com", ""},
		{"localhost.example.com", ""},
		{"8.8.8.8", ""},
		{"2130706433", ""}, // not a literal here; refused when dialled if it resolves to loopback
	}
	for _, tc := range tests {
		if got := hostClass(tc.host); got != tc.want {
			t.Errorf("hostClass(%q) = %q; want %q", tc.host, got, tc.want)
		}
	}
}

// TestRefuseNonPublic: the dialer hook refuses by the dialled address,
// and its error names the class without anything of the request.
func TestRefuseNonPublic(t *testing.T) {
	tests := []struct {
		address string
		refused bool
	}{
		{"127.0.0.1:443", true},
		{"[::1]:443", true},
		{"[::ffff:169.254.169.254]:80", true},
		{"[fe80::1%eth0]:443", true},
		{"not-an-address:443", true}, // fails closed
		{"8.8.8.8:443", false},
		{"[2606:4700:4700::1111]:443", false},
	}
	for _, tc := range tests {
		err := refuseNonPublic("tcp", tc.address, nil)
		if (err != nil) != tc.refused || tc.refused && !errors.Is(err, ErrPrivateAddress) {
			t.Errorf("refuseNonPublic(%s) = %v; want refused %v", tc.address, err, tc.refused)
		}
	}
}

// TestPushClient_Proxy: the guarded client uses no proxy (its check would
// see only the proxy's address); with AllowPrivate a clone of the default
// transport (bounded, see TestPushClient_ResponseHeaderBound), and so the
// environment's proxy, is kept.
func TestPushClient_Proxy(t *testing.T) {
	c, err := pushClient(nil, false)
	if err != nil {
		t.Fatal(err)
	}
	tr, ok := c.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("guarded transport is a %T; want an *http.Transport", c.Transport)
	}
	if tr.Proxy != nil || tr.DialContext == nil {
		t.Errorf("guarded transport: proxy set %v, dial check set %v; want no proxy and a dial check", tr.Proxy != nil, tr.DialContext != nil)
	}
	if c.CheckRedirect == nil || c.Timeout == 0 {
		t.Error("guarded client follows redirects or has no timeout")
	}
	open, err := pushClient(nil, true)
	if err != nil {
		t.Fatal(err)
	}
	if otr, ok := open.Transport.(*http.Transport); !ok || otr.Proxy == nil {
		t.Errorf("pushClient(nil, allow private) transport is a %T without a proxy; want a clone of the default transport, the environment's proxy kept", open.Transport)
	}
}

// TestPushClient_OwnDialer: a client whose transport dials its own way
// cannot be guarded, so it is refused unless AllowPrivate.
func TestPushClient_OwnDialer(t *testing.T) {
	own := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{}).DialContext}}
	custom := &http.Client{Transport: roundTripperFunc(func(*http.Request) (*http.Response, error) { return nil, nil })}
	for name, c := range map[string]*http.Client{"own DialContext": own, "custom RoundTripper": custom} {
		if _, err := pushClient(c, false); err == nil {
			t.Errorf("%s: pushClient guarded = nil error; want refused", name)
		}
		if _, err := pushClient(c, true); err != nil {
			t.Errorf("%s: pushClient with AllowPrivate = %v", name, err)
		}
	}
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
