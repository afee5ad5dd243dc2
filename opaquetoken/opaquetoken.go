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

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"hash/crc32"

	"github.com/sessiond/sessiond"
)

const (
	// AccessPrefix starts every opaque access (session) token.
	AccessPrefix = "sdat_"
	// RefreshPrefix starts every opaque refresh token.
	RefreshPrefix = "sdrt_"
	// APIKeyPrefix starts every generated server API key.
	APIKeyPrefix = "sdak_"

	randomLen = 32 // 256 bits
	bodyLen   = 58 // base32 of randomLen+4 bytes, unpadded
	// Len is the length of every token this package makes.
	Len = len(AccessPrefix) + bodyLen
)

var enc = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// Codec implements sessiond.OpaqueTokens. The zero value is ready to use
// and safe for concurrent use.
type Codec struct{}

var _ sessiond.OpaqueTokens = Codec{}

func prefix(kind sessiond.TokenKind) (string, error) {
	switch kind {
	case sessiond.KindAccess:
		return AccessPrefix, nil
	case sessiond.KindRefresh:
		return RefreshPrefix, nil
	case sessiond.KindAPIKey:
		return APIKeyPrefix, nil
	}
	return "", fmt.Errorf("opaquetoken: unknown token kind %d", kind)
}

// New returns a fresh token of kind and its storage hash.
func (Codec) New(kind sessiond.TokenKind) (sessiond.Secret, sessiond.TokenHash, error) {
	p, err := prefix(kind)
	if err != nil {
		return "", sessiond.TokenHash{}, err
	}
	var raw [randomLen + 4]byte
	if _, err := rand.Read(raw[:randomLen]); err != nil {
		return "", sessiond.TokenHash{}, fmt.Errorf("opaquetoken: random: %w", err)
	}
	binary.BigEndian.PutUint32(raw[randomLen:], checksum(p, raw[:randomLen]))
	buf := make([]byte, Len)
	copy(buf, p)
	enc.Encode(buf[len(p):], raw[:])
	tok := sessiond.Secret(buf)
	return tok, sessiond.HashToken(tok), nil
}

// Parse checks tok's length, prefix, alphabet and checksum and returns its
// storage hash. Every failure matches sessiond.ErrInvalidToken and never
// quotes the token.
func (Codec) Parse(kind sessiond.TokenKind, tok sessiond.Secret) (sessiond.TokenHash, error) {
	p, err := prefix(kind)
	if err != nil {
		return sessiond.TokenHash{}, fmt.Errorf("%w: %v", sessiond.ErrInvalidToken, err)
	}
	if len(tok) != Len {
		return sessiond.TokenHash{}, fmt.Errorf("opaquetoken: %w: wrong length", sessiond.ErrInvalidToken)
	}
	if string(tok[:len(p)]) != p {
		return sessiond.TokenHash{}, fmt.Errorf("opaquetoken: %w: not a %s token", sessiond.ErrInvalidToken, kind)
	}
	var raw [randomLen + 4]byte
	if !decodeBody(raw[:], string(tok[len(p):])) {
		return sessiond.TokenHash{}, fmt.Errorf("opaquetoken: %w: bad encoding", sessiond.ErrInvalidToken)
	}
	if binary.BigEndian.Uint32(raw[randomLen:]) != checksum(p, raw[:randomLen]) {
		return sessiond.TokenHash{}, fmt.Errorf("opaquetoken: %w: bad checksum", sessiond.ErrInvalidToken)
	}
	return sessiond.HashToken(tok), nil
}

// decodeBody decodes the unpadded lowercase base32 body into dst. It does
// what enc.Decode does, minus the newline-stripping copy that would put an
// allocation on the verify path, and insists on the canonical encoding.
func decodeBody(dst []byte, src string) bool {
	var acc uint64
	bits, n := 0, 0
	for i := 0; i < len(src); i++ {
		v := decodeMap[src[i]]
		if v == 0xff {
			return false
		}
		acc = acc<<5 | uint64(v)
		bits += 5
		if bits >= 8 {
			bits -= 8
			if n == len(dst) {
				return false
			}
			dst[n] = byte(acc >> bits)
			n++
		}
	}
	return n == len(dst) && acc&(1<<bits-1) == 0
}

var decodeMap = func() (m [256]byte) {
	for i := range m {
		m[i] = 0xff
	}
	for i, c := range "abcdefghijklmnopqrstuvwxyz234567" {
		m[c] = byte(i)
	}
	return m
}()

func checksum(prefix string, random []byte) uint32 {
	var p [len(AccessPrefix)]byte
	copy(p[:], prefix)
	return crc32.Update(crc32.ChecksumIEEE(p[:]), crc32.IEEETable, random)
}
