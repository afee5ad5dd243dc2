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
		// An IPv6 address that carries an IPv4 address keeps no more of
		// it than V4 bits: at 48 bits a 6to4 address would keep its
		// client's IPv4 address whole.
		for _, x := range embedsV4 {
			if x.prefix.Contains(a) {
				bits = min(bits, x.at+p.V4)
			}
		}
	}
	return netip.PrefixFrom(a, bits).Masked().Addr().String()
}

// embedsV4 are the IPv6 prefixes whose addresses carry a client's IPv4
// address, and the bit it starts at: 6to4 (RFC 3056), Teredo (RFC 4380,
// the client's address inverted in the last 32 bits) and the NAT64
// well-known prefix (RFC 6052).
var embedsV4 = []struct {
	prefix netip.Prefix
	at     int
}{
	{netip.MustParsePrefix("2002::/16"), 16},
	{netip.MustParsePrefix("2001::/32"), 96},
	{netip.MustParsePrefix("64:ff9b::/96"), 96},
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
