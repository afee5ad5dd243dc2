package redisstore

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

// How sessions, tokens and their indexes are laid out in Redis: key names
// (see docs/redisstore.md), and the encoding of times and of session and
// token hash fields the scripts read.

// Times are stored as decimal unix microseconds; the zero time is "0".
// Lua compares them as doubles, exact up to 2^53 µs (year 2255).

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func atoi(s string) (int64, error) { return strconv.ParseInt(s, 10, 64) }

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func encTime(t time.Time) string { return itoa(micros(t)) }

func decTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	n, err := atoi(s)
	if err != nil || n == 0 {
		return time.Time{}, err
	}
	return time.UnixMicro(n).UTC(), nil
}

// expiryMS is the PEXPIREAT of a key that must live until t: t rounded up
// to the millisecond.
func expiryMS(t time.Time) int64 {
	us := t.UnixMicro()
	ms := us / 1000
	if us%1000 > 0 {
		ms++
	}
	return ms
}

// Session hash fields, in the order HMGET reads them (the scripts use the
// same order).
const (
	fSubject    = "sub"
	fStrategy   = "str"
	fCreated    = "c"
	fLastActive = "la"
	fIdle       = "ie"
	fExpires    = "e"
	fPersistent = "p"
	fIP         = "ip"
	fUserAgent  = "ua"
	fClaims     = "cl" // absent when Claims is nil
	fRevokedAt  = "ra" // "0" while not revoked
	fReason     = "rr"
)

var sessionFields = [...]string{fSubject, fStrategy, fCreated, fLastActive, fIdle, fExpires, fPersistent, fIP, fUserAgent, fClaims, fRevokedAt, fReason}

const nSessionFields = len(sessionFields)

// tokenFieldPrefix starts the hash field of each token of the session,
// followed by the token hash in hex.
const tokenFieldPrefix = "t:"

func hexHash(h sessiond.TokenHash) string { return hex.EncodeToString(h[:]) }

// sessionArgs returns the HSET field/value pairs of a new session.
func sessionArgs(s *sessiond.Session, dst []string) []string {
	p := "0"
	if s.Persistent {
		p = "1"
	}
	dst = append(dst,
		fSubject, s.Subject,
		fStrategy, string(s.Strategy),
		fCreated, encTime(s.CreatedAt),
		fLastActive, encTime(s.LastActiveAt),
		fIdle, encTime(s.IdleExpiresAt),
		fExpires, encTime(s.ExpiresAt),
		fPersistent, p,
		fIP, s.Client.IP,
		fUserAgent, s.Client.UserAgent,
		fRevokedAt, encTime(s.RevokedAt),
		fReason, string(s.RevokeReason),
	)
	if s.Claims != nil {
		dst = append(dst, fClaims, string(s.Claims))
	}
	return dst
}

// encToken is a token's field value: kind|issued|expires|retired.
func encToken(t sessiond.Token) string {
	return strconv.Itoa(int(t.Kind)) + "|" + encTime(t.IssuedAt) + "|" + encTime(t.ExpiresAt) + "|" + encTime(t.RetiredAt)
}

var errCorrupt = errors.New("corrupt record")

func decToken(v string, h sessiond.TokenHash, id sessiond.SessionID) (sessiond.Token, error) {
	t := sessiond.Token{Hash: h, SessionID: id}
	var parts [4]string
	for i := range 3 {
		j := strings.IndexByte(v, '|')
		if j < 0 {
			return t, errCorrupt
		}
		parts[i], v = v[:j], v[j+1:]
	}
	parts[3] = v
	kind, err := strconv.ParseUint(parts[0], 10, 8)
	if err != nil {
		return t, errCorrupt
	}
	t.Kind = sessiond.TokenKind(kind)
	var e1, e2, e3 error
	t.IssuedAt, e1 = decTime(parts[1])
	t.ExpiresAt, e2 = decTime(parts[2])
	t.RetiredAt, e3 = decTime(parts[3])
	if e1 != nil || e2 != nil || e3 != nil {
		return t, errCorrupt
	}
	return t, nil
}

// field returns a reply element and whether it is present (not nil).
func field(m *rueidis.RedisMessage) (string, bool) {
	if m.IsNil() {
		return "", false
	}
	v, err := m.ToString()
	return v, err == nil
}

// decSession builds a session from the values of sessionFields. It reports
// ok false when the session does not exist (no expiry field).
func decSession(id sessiond.SessionID, f []rueidis.RedisMessage) (s *sessiond.Session, ok bool, err error) {
	if len(f) < nSessionFields {
		return nil, false, errCorrupt
	}
	var v [nSessionFields]string
	var present [nSessionFields]bool
	for i := range nSessionFields {
		v[i], present[i] = field(&f[i])
	}
	if !present[5] { // fExpires
		return nil, false, nil
	}
	s = &sessiond.Session{
		ID:           id,
		Subject:      v[0],
		Strategy:     sessiond.Strategy(v[1]),
		Persistent:   v[6] == "1",
		Client:       sessiond.Client{IP: v[7], UserAgent: v[8]},
		RevokeReason: sessiond.RevokeReason(v[11]),
	}
	if present[9] {
		s.Claims = []byte(v[9])
	}
	var errs [5]error
	s.CreatedAt, errs[0] = decTime(v[2])
	s.LastActiveAt, errs[1] = decTime(v[3])
	s.IdleExpiresAt, errs[2] = decTime(v[4])
	s.ExpiresAt, errs[3] = decTime(v[5])
	s.RevokedAt, errs[4] = decTime(v[10])
	for _, e := range errs {
		if e != nil {
			return nil, false, errCorrupt
		}
	}
	return s, true, nil
}

// tagLen is the length of a subject's hash tag: 16 hex digits of SHA-256.
// Two subjects that share a tag only share a slot and a subject index; the
// scripts compare the subject itself.
const tagLen = 16

func tagOf(subject string) string {
	sum := sha256.Sum256([]byte(subject))
	return hex.EncodeToString(sum[:tagLen/2])
}

func (s *Store) sidKey(id sessiond.SessionID) string { return s.prefix + ":sid:" + string(id) }

func (s *Store) tokKey(hexHash string) string { return s.prefix + ":tok:" + hexHash }

func (s *Store) idxKey(tag string) string { return s.prefix + ":{" + tag + "}:idx" }

// sessBase is the part of a session key before the ID; scripts append
// subject-index members to it.
func (s *Store) sessBase(tag string) string { return s.prefix + ":{" + tag + "}:s:" }

func (s *Store) sessKey(tag string, id sessiond.SessionID) string {
	return s.prefix + ":{" + tag + "}:s:" + string(id) // one allocation
}

// ref is how the global indexes (gc, rev) name a session: its tag, then
// its ID, so the session's key can be rebuilt without a lookup.
func ref(tag string, id sessiond.SessionID) string { return tag + string(id) }

func parseRef(r string) (tag string, id sessiond.SessionID, ok bool) {
	if len(r) < tagLen {
		return "", "", false
	}
	return r[:tagLen], sessiond.SessionID(r[tagLen:]), true
}

// tokIndex is the value of a token index key: the session's tag, its
// absolute expiry in ms (the TTL a successor's index key gets) and its ID.
func tokIndex(tag string, expMS int64, id sessiond.SessionID) string {
	return tag + ":" + itoa(expMS) + ":" + string(id)
}

func parseTokIndex(v string) (tag string, expMS int64, id sessiond.SessionID, ok bool) {
	if len(v) < tagLen+2 || v[tagLen] != ':' {
		return "", 0, "", false
	}
	rest := v[tagLen+1:]
	i := strings.IndexByte(rest, ':')
	if i < 0 {
		return "", 0, "", false
	}
	ms, err := atoi(rest[:i])
	if err != nil {
		return "", 0, "", false
	}
	return v[:tagLen], ms, sessiond.SessionID(rest[i+1:]), true
}
