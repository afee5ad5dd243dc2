package sessiond

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// The opaque token format: prefix + base32(random[32] || crc32(prefix ||
// random)), lowercase, unpadded, 63 characters in all. The readable prefix
// and the checksum let a mistyped or truncated token be refused without a
// store round trip and a leaked one be recognised by secret scanners
// (`sd(at|rt|ak)_[a-z2-7]{58}`). Package opaquetoken documents it too.
const (
	// OpaqueAccessPrefix starts every opaque access (session) token.
	OpaqueAccessPrefix = "sdat_"
	// OpaqueRefreshPrefix starts every opaque refresh token.
	OpaqueRefreshPrefix = "sdrt_"
	// OpaqueAPIKeyPrefix starts every generated server API key.
	OpaqueAPIKeyPrefix = "sdak_"
	// OpaqueTokenLen is the length of every opaque token.
	OpaqueTokenLen = len(OpaqueAccessPrefix) + opaqueBodyLen

	opaqueRandomLen = 32 // 256 bits
	opaqueBodyLen   = 58 // base32 of opaqueRandomLen+4 bytes, unpadded
)

var opaqueEnc = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// OpaqueCodec implements OpaqueTokens in that format, with the standard
// library only. The zero value is ready to use, safe for concurrent use,
// and what New uses when Options.Opaque is nil (opaquetoken.Codec is the
// same type).
type OpaqueCodec struct{}

var _ OpaqueTokens = OpaqueCodec{}

func opaquePrefix(kind TokenKind) (string, error) {
	switch kind {
	case KindAccess:
		return OpaqueAccessPrefix, nil
	case KindRefresh:
		return OpaqueRefreshPrefix, nil
	case KindAPIKey:
		return OpaqueAPIKeyPrefix, nil
	}
	return "", fmt.Errorf("sessiond: unknown opaque token kind %d", kind)
}

// New returns a fresh token of kind and its storage hash.
func (OpaqueCodec) New(kind TokenKind) (Secret, TokenHash, error) {
	p, err := opaquePrefix(kind)
	if err != nil {
		return "", TokenHash{}, err
	}
	var raw [opaqueRandomLen + 4]byte
	if _, err := rand.Read(raw[:opaqueRandomLen]); err != nil {
		return "", TokenHash{}, fmt.Errorf("sessiond: opaque token random: %w", err)
	}
	binary.BigEndian.PutUint32(raw[opaqueRandomLen:], opaqueChecksum(p, raw[:opaqueRandomLen]))
	buf := make([]byte, OpaqueTokenLen)
	copy(buf, p)
	opaqueEnc.Encode(buf[len(p):], raw[:])
	tok := Secret(buf)
	return tok, HashToken(tok), nil
}

// Parse checks tok's length, prefix, alphabet and checksum and returns its
// storage hash. Every failure matches ErrInvalidToken and never
// quotes the token.
func (OpaqueCodec) Parse(kind TokenKind, tok Secret) (TokenHash, error) {
	p, err := opaquePrefix(kind)
	if err != nil {
		return TokenHash{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if len(tok) != OpaqueTokenLen {
		return TokenHash{}, fmt.Errorf("sessiond: opaque token: %w: wrong length", ErrInvalidToken)
	}
	if string(tok[:len(p)]) != p {
		return TokenHash{}, fmt.Errorf("sessiond: opaque token: %w: not a %s token", ErrInvalidToken, kind)
	}
	var raw [opaqueRandomLen + 4]byte
	if !decodeOpaqueBody(raw[:], string(tok[len(p):])) {
		return TokenHash{}, fmt.Errorf("sessiond: opaque token: %w: bad encoding", ErrInvalidToken)
	}
	if binary.BigEndian.Uint32(raw[opaqueRandomLen:]) != opaqueChecksum(p, raw[:opaqueRandomLen]) {
		return TokenHash{}, fmt.Errorf("sessiond: opaque token: %w: bad checksum", ErrInvalidToken)
	}
	return HashToken(tok), nil
}

// decodeBody decodes the unpadded lowercase base32 body into dst. It does
// what enc.Decode does, minus the newline-stripping copy that would put an
// allocation on the verify path, and insists on the canonical encoding.
func decodeOpaqueBody(dst []byte, src string) bool {
	var acc uint64
	bits, n := 0, 0
	for i := 0; i < len(src); i++ {
		v := opaqueDecodeMap[src[i]]
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

var opaqueDecodeMap = func() (m [256]byte) {
	for i := range m {
		m[i] = 0xff
	}
	for i, c := range "abcdefghijklmnopqrstuvwxyz234567" {
		m[c] = byte(i)
	}
	return m
}()

func opaqueChecksum(prefix string, random []byte) uint32 {
	var p [len(OpaqueAccessPrefix)]byte
	copy(p[:], prefix)
	return crc32.Update(crc32.ChecksumIEEE(p[:]), crc32.IEEETable, random)
}
