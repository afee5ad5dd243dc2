package ssf

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// A push stream's endpoint_url is chosen by whoever holds an API key with
// the ssf scope, often another organisation, while sessiond connects to it
// from inside the operator's network: unguarded, a stream is a way to make
// sessiond send requests to internal services and cloud metadata (blind
// SSRF). So, unless TransmitterOptions.AllowPrivate, pushes connect only to
// public addresses. The check runs on the address each connection actually
// dials, after resolution, so a name that is public when the stream is made
// and internal later (DNS rebinding) gains nothing.

// ErrPrivateAddress: a push was refused because the address it would
// connect to is not public. The error wrapping it names the address class.
var ErrPrivateAddress = errors.New("ssf: push endpoint address is not public")

// refusedPrefixes are the special-purpose ranges (IANA's IPv4 and IPv6
// special-purpose address registries) that net/netip has no method for,
// each with why a push may not go there.
var refusedPrefixes = []struct {
	prefix netip.Prefix
	class  string
}{
	// RFC 791 "this network": Linux connects 0.x.y.z to the host itself.
	{netip.MustParsePrefix("0.0.0.0/8"), "this-network"},
	// RFC 6598 shared space: a carrier's or cloud's internal side (CGNAT).
	{netip.MustParsePrefix("100.64.0.0/10"), "shared (CGNAT)"},
	// RFC 6890 IETF protocol assignments (DS-Lite, NAT64 discovery):
	// infrastructure, never a receiver.
	{netip.MustParsePrefix("192.0.0.0/24"), "IETF protocol"},
	// RFC 5737 and RFC 3849, RFC 9637 documentation ranges: never routed on
	// the Internet, so where they answer they are someone's own network.
	{netip.MustParsePrefix("192.0.2.0/24"), "documentation"},
	{netip.MustParsePrefix("198.51.100.0/24"), "documentation"},
	{netip.MustParsePrefix("203.0.113.0/24"), "documentation"},
	{netip.MustParsePrefix("2001:db8::/32"), "documentation"},
	{netip.MustParsePrefix("3fff::/20"), "documentation"},
	// RFC 7526: the deprecated 6to4 relay anycast, routed to whichever
	// relay the local network runs.
	{netip.MustParsePrefix("192.88.99.0/24"), "6to4 relay"},
	// RFC 2544 benchmarking: lab networks, and the fake-IP range of some
	// local proxies.
	{netip.MustParsePrefix("198.18.0.0/15"), "benchmarking"},
	// RFC 1112 reserved (class E), not routed.
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved"},
	// RFC 4291 §2.5.5.1 IPv4-compatible IPv6, deprecated: it embeds an IPv4
	// address some stacks still reach (:: and ::1 are classed before).
	{netip.MustParsePrefix("::/96"), "IPv4-compatible"},
	// RFC 8215 local-use IPv4/IPv6 translation: maps to whatever IPv4
	// network the local translator serves.
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64"},
	// RFC 6666 discard-only.
	{netip.MustParsePrefix("100::/64"), "discard-only"},
	// RFC 2928 IETF protocol assignments: Teredo (embeds an IPv4 address),
	// benchmarking, ORCHID; no receiver lives there (Internet allocations
	// start at 2001:200::).
	{netip.MustParsePrefix("2001::/23"), "IETF protocol"},
	// RFC 9602 SRv6 segment identifiers, not globally reachable.
	{netip.MustParsePrefix("5f00::/16"), "SRv6 SID"},
	// RFC 3879 site-local, deprecated but still routed in some networks.
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
}

// Prefixes whose addresses embed an IPv4 address a gateway connects to:
// the embedded address is classed too.
var (
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96") // RFC 6052: the last 32 bits
	sixToFour      = netip.MustParsePrefix("2002::/16")    // RFC 3056: bits 16 to 48
)

var broadcast = netip.AddrFrom4([4]byte{255, 255, 255, 255})

// addressClass returns "" for an address a push may connect to, else the
// class of address that refuses it ("loopback", "private", "link-local"…).
func addressClass(a netip.Addr) string {
	// A zone changes nothing of where the address leads, and
	// netip.Prefix.Contains is false for a zoned address.
	a = a.WithZone("")
	// ::ffff:a.b.c.d connects to a.b.c.d.
	a = a.Unmap()
	switch {
	case !a.IsValid():
		return "invalid"
	case a.IsUnspecified():
		return "unspecified"
	case a.IsLoopback():
		return "loopback"
	case a.IsPrivate(): // 10/8, 172.16/12, 192.168/16, fc00::/7
		return "private"
	case a.IsLinkLocalUnicast(): // 169.254/16 (cloud metadata), fe80::/10
		return "link-local"
	case a.IsMulticast():
		return "multicast"
	case a == broadcast:
		return "broadcast"
	}
	for _, p := range refusedPrefixes {
		if p.prefix.Contains(a) {
			return p.class
		}
	}
	if a.Is6() {
		b := a.As16()
		var v4 netip.Addr
		switch {
		case nat64WellKnown.Contains(a):
			v4 = netip.AddrFrom4([4]byte(b[12:16]))
		case sixToFour.Contains(a):
			v4 = netip.AddrFrom4([4]byte(b[2:6]))
		}
		if v4.IsValid() {
			if c := addressClass(v4); c != "" {
				return c + " (embedded in IPv6)"
			}
		}
	}
	if !a.IsGlobalUnicast() { // whatever the cases above missed
		return "non-unicast"
	}
	return ""
}

// hostClass is addressClass for the host of an endpoint_url as written: a
// literal address, or localhost, which resolves to loopback (RFC 6761).
// Other names return "": they are checked when connecting.
func hostClass(host string) string {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return "loopback"
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return addressClass(a)
	}
	return ""
}

// refuseNonPublic is a net.Dialer Control: it runs on the resolved address
// just before each connection attempt (each of Happy Eyeballs' too).
func refuseNonPublic(_, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w (unparsable)", ErrPrivateAddress)
	}
	if c := addressClass(ap.Addr()); c != "" {
		return fmt.Errorf("%w (%s)", ErrPrivateAddress, c)
	}
	return nil
}

// maxResponseHeaderBytes bounds a receiver's response headers, as the
// webhook client does: Go's default allows 10 MB, the receiver is chosen by
// whoever holds an ssf key, and each push in flight would hold them.
const maxResponseHeaderBytes = 64 << 10

// pushClient returns the client pushes go through: c, or one with a 10s
// timeout, never following redirects, reading at most
// maxResponseHeaderBytes of response headers, and unless allowPrivate
// connecting only to public addresses and never through a proxy. With
// allowPrivate, a transport that is not an *http.Transport is used as it
// is: its bounds are its own.
//
// Why no proxy: through one, the address dialled is the proxy's, so the
// check would see the proxy and not the receiver; and an egress proxy
// usually reaches the internal network too. Trusting it would quietly move
// the guard to a component not configured for it. Where pushes must go
// through a proxy, AllowPrivate hands the decision to the proxy's own
// egress policy.
func pushClient(c *http.Client, allowPrivate bool) (*http.Client, error) {
	c = noRedirects(c, 10*time.Second)
	var tr *http.Transport
	switch rt := c.Transport.(type) {
	case nil:
		if dt, ok := http.DefaultTransport.(*http.Transport); ok {
			tr = dt.Clone()
		} else {
			tr = &http.Transport{ForceAttemptHTTP2: true, TLSHandshakeTimeout: 10 * time.Second}
		}
	case *http.Transport:
		// Any of the four dial hooks would connect without the check.
		if !allowPrivate && (rt.DialContext != nil || rt.Dial != nil || rt.DialTLSContext != nil || rt.DialTLS != nil) {
			return nil, errors.New("ssf: the push HTTPClient has its own dial function, so its connections cannot be checked; set AllowPrivate or leave it unset")
		}
		tr = rt.Clone()
	default:
		if allowPrivate {
			return c, nil
		}
		return nil, errors.New("ssf: the push HTTPClient's transport is not an *http.Transport, so its connections cannot be checked; set AllowPrivate or use one")
	}
	if tr.MaxResponseHeaderBytes <= 0 || tr.MaxResponseHeaderBytes > maxResponseHeaderBytes {
		tr.MaxResponseHeaderBytes = maxResponseHeaderBytes
	}
	c.Transport = tr
	if allowPrivate {
		return c, nil // the environment's proxy (or the transport's) kept
	}
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second, Control: refuseNonPublic}
	tr.DialContext = d.DialContext
	tr.Proxy = nil
	return c, nil
}
