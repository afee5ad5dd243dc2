package gateway

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
)

// Login codes hand a session created through the API (POST /v1/sessions
// with "login_code": true) to the browser: the app redirects the browser
// to <prefix>/login?code=…, which sets the cookies.
//
// A code is 256 random bits. The store keeps, under the code's SHA-256,
// the session's tokens sealed with AES-256-GCM under a key derived from
// the code (HKDF-SHA256): the code itself is never stored, and what is
// stored opens only with it. Codes live in the store's MetaStore, so any
// node can redeem a code another node issued; a redemption removes the
// code with a compare-and-swap, so exactly one wins, and on a store that
// replicates asynchronously waits for a replica (RevokingMetaStore). The
// codes are spread over codeShards documents, each pruned of expired
// codes on every write, so storage stays bounded by the codes alive at
// once.

const (
	// CodeLifetime is how long a login code can be redeemed.
	CodeLifetime = 60 * time.Second
	codePrefix   = "sdlc_"
	codeBytes    = 32
	codeShards   = 16
	// maxCodesPerShard bounds a shard document (a few kB per code).
	maxCodesPerShard = 2000
	casAttempts      = 16
	codeDocPrefix    = "gateway.login_codes."
	hkdfInfo         = "sessiond gateway login code v1"
)

// Errors of login codes.
var (
	// ErrInvalidCode: malformed, unknown, already used or expired.
	ErrInvalidCode = errors.New("gateway: invalid login code")
	// ErrTooManyCodes: too many codes are waiting to be redeemed.
	ErrTooManyCodes = errors.New("gateway: too many pending login codes")
)

// pending is what a code opens: the session and its tokens.
type pending struct {
	Session          sessiond.Session `json:"session"`
	AccessToken      string           `json:"access_token"`
	AccessExpiresAt  time.Time        `json:"access_expires_at"`
	RefreshToken     string           `json:"refresh_token,omitempty"`
	RefreshExpiresAt time.Time        `json:"refresh_expires_at"`
	ReturnTo         string           `json:"return_to"`
}

type codeEntry struct {
	ExpiresAt int64  `json:"exp"` // Unix seconds
	Sealed    []byte `json:"box"`
}

type codeDoc map[string]codeEntry // hex SHA-256 of the code → entry

// RevokingMetaStore is a MetaStore that can make a write that revokes
// wait until a failover could no longer undo it (redisstore: WAIT for
// replicas, as its revocations do). When Options.Meta is one, a code's
// spend is written with PutRevokingMeta: a spend lost in a failover made
// the code redeemable again. Issuing a code does not wait: a code lost in
// a failover is refused, and its user logs in again, as after a login
// lost in it.
type RevokingMetaStore interface {
	sessiond.MetaStore
	PutRevokingMeta(ctx context.Context, name string, value []byte, version int64) (int64, error)
}

// codes keeps login codes in a MetaStore.
type codes struct {
	meta  sessiond.MetaStore
	clock sessiond.Clock
}

func codeHash(code sessiond.Secret) string {
	h := sessiond.HashToken(code)
	return hex.EncodeToString(h[:])
}

func shardOf(hash string) string { return codeDocPrefix + hash[:1] }

// parseCode checks a code's form before anything is asked of the store.
func parseCode(s string) (sessiond.Secret, []byte, error) {
	body, ok := strings.CutPrefix(s, codePrefix)
	if !ok || len(body) != base64.RawURLEncoding.EncodedLen(codeBytes) {
		return "", nil, ErrInvalidCode
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) != codeBytes || base64.RawURLEncoding.EncodeToString(raw) != body {
		return "", nil, ErrInvalidCode
	}
	return sessiond.Secret(s), raw, nil
}

func aead(raw []byte) (cipher.AEAD, error) {
	key, err := hkdf.Key(sha256.New, raw, nil, hkdfInfo, 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCMWithRandomNonce(block)
}

// issue stores p under a new code and returns the code.
func (c *codes) issue(ctx context.Context, p *pending) (sessiond.Secret, error) {
	raw := make([]byte, codeBytes)
	_, _ = rand.Read(raw) // never fails (crypto/rand)
	code := sessiond.Secret(codePrefix + base64.RawURLEncoding.EncodeToString(raw))
	hash := codeHash(code)
	plain, err := json.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("gateway: login code: %w", err)
	}
	a, err := aead(raw)
	if err != nil {
		return "", fmt.Errorf("gateway: login code: %w", err)
	}
	entry := codeEntry{ExpiresAt: c.clock.Now().Add(CodeLifetime).Unix(), Sealed: a.Seal(nil, nil, plain, []byte(hash))}
	err = c.update(ctx, shardOf(hash), false, func(doc codeDoc) error {
		if len(doc) >= maxCodesPerShard {
			return ErrTooManyCodes
		}
		doc[hash] = entry
		return nil
	})
	if err != nil {
		return "", err
	}
	return code, nil
}

// redeem removes the code from the store and returns what it opens.
// ErrInvalidCode when it is malformed, unknown, used or expired.
func (c *codes) redeem(ctx context.Context, s string) (*pending, error) {
	code, raw, err := parseCode(s)
	if err != nil {
		return nil, err
	}
	hash := codeHash(code)
	var found codeEntry
	err = c.update(ctx, shardOf(hash), true, func(doc codeDoc) error {
		e, ok := doc[hash]
		if !ok {
			return fmt.Errorf("%w: unknown or used", ErrInvalidCode)
		}
		delete(doc, hash)
		found = e
		return nil
	})
	if err != nil {
		return nil, err
	}
	if c.clock.Now().Unix() >= found.ExpiresAt {
		return nil, fmt.Errorf("%w: expired", ErrInvalidCode)
	}
	a, err := aead(raw)
	if err != nil {
		return nil, fmt.Errorf("gateway: login code: %w", err)
	}
	plain, err := a.Open(nil, nil, found.Sealed, []byte(hash))
	if err != nil {
		return nil, fmt.Errorf("%w: does not open", ErrInvalidCode)
	}
	var p pending
	if err := json.Unmarshal(plain, &p); err != nil {
		return nil, fmt.Errorf("%w: unreadable", ErrInvalidCode)
	}
	return &p, nil
}

// update applies fn to a shard document, after pruning expired codes,
// with compare-and-swap retries; an error from fn changes nothing. A
// spend is written with PutRevokingMeta where Meta has it.
func (c *codes) update(ctx context.Context, name string, spend bool, fn func(codeDoc) error) error {
	put := c.meta.PutMeta
	if r, ok := c.meta.(RevokingMetaStore); ok && spend {
		put = r.PutRevokingMeta
	}
	for range casAttempts {
		value, version, err := c.meta.GetMeta(ctx, name)
		switch {
		case errors.Is(err, sessiond.ErrNotFound):
			value, version = nil, 0
		case err != nil:
			return fmt.Errorf("gateway: login codes: %w", err)
		}
		doc := codeDoc{}
		if len(value) > 0 {
			if err := json.Unmarshal(value, &doc); err != nil {
				return fmt.Errorf("gateway: login codes: document %s: %w", name, err)
			}
		}
		now := c.clock.Now().Unix()
		for h, e := range doc {
			if now >= e.ExpiresAt+int64(CodeLifetime/time.Second) {
				delete(doc, h) // expired a while ago: nobody can redeem it
			}
		}
		if err := fn(doc); err != nil {
			return err
		}
		out, err := json.Marshal(doc)
		if err != nil {
			return fmt.Errorf("gateway: login codes: %w", err)
		}
		_, err = put(ctx, name, out, version)
		if errors.Is(err, sessiond.ErrConflict) {
			continue // another node wrote the shard: read it again
		}
		if err != nil {
			return fmt.Errorf("gateway: login codes: %w", err)
		}
		return nil
	}
	return fmt.Errorf("gateway: login codes: document %s: %w", name, sessiond.ErrConflict)
}
