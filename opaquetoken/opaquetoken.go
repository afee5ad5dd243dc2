// Package opaquetoken makes and checks sessiond's opaque tokens: a readable
// type prefix, 256 random bits and a checksum, so a mistyped or truncated
// token is rejected without a store round trip and a leaked one is easy for
// secret scanners to recognise.
//
// Format: prefix + base32(random[32] || crc32(prefix || random)), lowercase,
// unpadded: "sdat_" for access (session) tokens, "sdrt_" for refresh
// tokens and "sdak_" for server API keys, 63 characters in all. Scanner
// regex: `sd(at|rt|ak)_[a-z2-7]{58}`.
package opaquetoken

import "github.com/sessiond/sessiond"

const (
	// AccessPrefix starts every opaque access (session) token.
	AccessPrefix = sessiond.OpaqueAccessPrefix
	// RefreshPrefix starts every opaque refresh token.
	RefreshPrefix = sessiond.OpaqueRefreshPrefix
	// APIKeyPrefix starts every generated server API key.
	APIKeyPrefix = sessiond.OpaqueAPIKeyPrefix
	// Len is the length of every token this package makes.
	Len = sessiond.OpaqueTokenLen
)

// Codec implements sessiond.OpaqueTokens. The zero value is ready to use
// and safe for concurrent use. It is sessiond.OpaqueCodec, the default of
// sessiond.Options.Opaque, which holds the implementation so that a
// Manager needs no wiring for it; this package keeps the name and the
// format's documentation.
type Codec = sessiond.OpaqueCodec

var _ sessiond.OpaqueTokens = Codec{}
