package sessiond

import (
	"maps"
	"net/netip"
)

// IPPrefixes are how many leading bits of a client's address an event
// keeps: an IPv4 address is cut to V4 bits, an IPv6 address to V6, the
// other bits zeroed (198.51.100.77 at 24 is 198.51.100.0). 0 keeps the
// whole address. Events are kept for their retention, long after the
// session they describe; a network is usually enough to investigate, and
// less of a person's data (GDPR Art. 5(1)(c)).
type IPPrefixes struct{ V4, V6 int }

// validate refuses a prefix longer than the address, or negative.
func (p IPPrefixes) validate() error {
	switch {
	case p.V4 < 0 || p.V4 > 32:
		return argError("event_ip_prefixes.v4", "must be in 0–32, got %d", p.V4)
	case p.V6 < 0 || p.V6 > 128:
		return argError("event_ip_prefixes.v6", "must be in 0–128, got %d", p.V6)
	}
	return nil
}

// Mask returns ip cut to p, written as an address (without the prefix
// length). An IPv4-mapped IPv6 address counts as IPv4 and a zone is
// dropped. Text that is not an address is dropped ("") rather than kept
// whole: it could be anything a caller sent. The zero IPPrefixes returns
// ip as it is.
func (p IPPrefixes) Mask(ip string) string {
	if ip == "" || p == (IPPrefixes{}) {
		return ip
	}
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	a = a.WithZone("").Unmap()
	bits := p.V6
	if a.Is4() {
		bits = p.V4
	}
	if bits == 0 {
		bits = a.BitLen()
	}
	if a.Is6() && p.V4 != 0 {
		return maskEmbeddedV4(a, bits, p.V4).String()
	}
	return netip.PrefixFrom(a, bits).Masked().Addr().String()
}

// maskEmbeddedV4 cuts a, an IPv6 address, to bits, and an IPv4 address
// it carries to v4 bits: at 48 bits a 6to4 address would keep its
// client's IPv4 address whole, and an IPv6 prefix kept whole would keep
// any of them.
func maskEmbeddedV4(a netip.Addr, bits, v4 int) netip.Addr {
	b := a.As16()
	switch {
	case a == netip.IPv6Unspecified() || a == netip.IPv6Loopback():
		// ::/96 (IPv4-compatible) excludes them.
	case teredo.Contains(a):
		bits = min(bits, 96+v4)
		// Teredo (RFC 4380): 2001:0:<server>:<flags>:<port>:<client>,
		// port and client inverted. The flags hold random bits (RFC 5991)
		// and the port is the client's: zeroed, as a port beside a network
		// would single it out again.
		m := netip.PrefixFrom(a, bits).Masked().Addr().As16()
		clear(m[8:12])
		// A client partly kept is cut in its own form: its cut bits are
		// ones inverted, so that it reads as the network (195.54.100.0).
		for i := bits; bits > 96 && i < 128; i++ {
			m[i/8] |= 0x80 >> (i % 8)
		}
		return netip.AddrFrom16(m)
	case b[8]&^0x03 == 0 && b[9] == 0 && b[10] == 0x5e && b[11] == 0xfe:
		// ISATAP (RFC 5214): any /64, an interface identifier of
		// 0:5efe (u and g bits aside) and the IPv4 address.
		bits = min(bits, 96+v4)
	default:
		for _, x := range embedsV4 {
			if x.prefix.Contains(a) {
				at := x.at + v4
				if x.at < 64 && at > 64 {
					at += 8 // RFC 6052: bits 64–71 (the u octet) are not the address
				}
				bits = min(bits, at)
			}
		}
	}
	return netip.PrefixFrom(a, bits).Masked().Addr()
}

// teredo is the Teredo prefix (RFC 4380).
var teredo = netip.MustParsePrefix("2001::/32")

// embedsV4 are the IPv6 prefixes whose addresses carry a client's IPv4
// address, and the bit it starts at (Teredo and ISATAP are told apart
// above): 6to4 (RFC 3056), the NAT64 well-known prefix (RFC 6052) and its
// local-use prefix (RFC 8215; the address starts at bit 48 or later:
// cut as if at 48), IPv4-compatible (RFC 4291, deprecated) and
// IPv4-translated (RFC 2765) addresses.
var embedsV4 = []struct {
	prefix netip.Prefix
	at     int
}{
	{netip.MustParsePrefix("2002::/16"), 16},
	{netip.MustParsePrefix("64:ff9b::/96"), 96},
	{netip.MustParsePrefix("64:ff9b:1::/48"), 48},
	{netip.MustParsePrefix("::/96"), 96},
	{netip.MustParsePrefix("::ffff:0:0:0/96"), 96},
}

// MaskEvent returns e with the client addresses it holds cut to p: its
// client's, and details.issued_to's (the client a session was issued to,
// as Client). The details map is copied before it is changed.
func (p IPPrefixes) MaskEvent(e Event) Event {
	if p == (IPPrefixes{}) {
		return e
	}
	e.Client.IP = p.Mask(e.Client.IP)
	if c, ok := e.Details["issued_to"].(Client); ok && c.IP != p.Mask(c.IP) {
		c.IP = p.Mask(c.IP)
		e.Details = maps.Clone(e.Details)
		e.Details["issued_to"] = c
	}
	return e
}
