package jwttoken

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond"
)

// Algorithm is a JWS signing algorithm a key ring can use.
type Algorithm string

// Supported algorithms.
const (
	// EdDSA is Ed25519: the default.
	EdDSA Algorithm = "EdDSA"
	// ES256 is ECDSA on P-256 with SHA-256.
	ES256 Algorithm = "ES256"
	// HS256 is HMAC-SHA-256 with a shared secret. Opt-in only: every
	// verifier can also sign, and nothing can be published as a JWKS.
	HS256 Algorithm = "HS256"
)

// MaxLeeway is the largest clock-skew allowance a Codec accepts. The ring
// keeps retired keys this much longer than MaxTokenLifetime, so no codec,
// whatever its leeway, rejects a live token because its key was pruned.
const MaxLeeway = 60 * time.Second

// MinHMACSecret is the shortest HS256 secret accepted: the hash size
// (RFC 8725 §3.5, RFC 7518 §3.2).
const MinHMACSecret = 32

// ringVersion is the version of the MarshalPrivate document.
const ringVersion = 1

// RingOptions configure a KeyRing.
type RingOptions struct {
	// Algorithm of the keys the ring generates (NewRing, Rotate,
	// RetireAll). Zero value: EdDSA.
	Algorithm Algorithm
	// HMACSecret is the first HS256 key, and the explicit opt-in to HS256:
	// NewRing requires it (at least MinHMACSecret bytes from a CSPRNG,
	// never a password) when Algorithm is HS256 and refuses it otherwise.
	// Later HS256 keys (Rotate, RetireAll) are 32 random bytes. LoadRing
	// ignores it; the secrets are in the document.
	HMACSecret []byte
	// MaxTokenLifetime is the longest lifetime (exp - iat) of any token
	// signed with the ring; Codec.Sign refuses longer ones. A retired key
	// keeps verifying for MaxTokenLifetime + MaxLeeway after it is
	// retired. Required.
	MaxTokenLifetime time.Duration
}

// redacted is o with its HMACSecret shown as REDACTED (empty when none),
// for the ways RingOptions are printed. The local type keeps the name
// jwttoken.RingOptions in %#v.
func (o RingOptions) redacted() any {
	type RingOptions struct {
		Algorithm        Algorithm
		HMACSecret       string
		MaxTokenLifetime time.Duration
	}
	out := RingOptions{Algorithm: o.Algorithm, MaxTokenLifetime: o.MaxTokenLifetime}
	if len(o.HMACSecret) > 0 {
		out.HMACSecret = "REDACTED"
	}
	return out
}

// Format prints o with its HMACSecret as REDACTED, whatever the verb.
func (o RingOptions) Format(f fmt.State, verb rune) {
	fmt.Fprintf(f, fmt.FormatString(f, verb), o.redacted())
}

// LogValue implements slog.LogValuer: o without its HMACSecret.
func (o RingOptions) LogValue() slog.Value {
	return slog.AnyValue(o.redacted())
}

func (o *RingOptions) validate() error {
	if o.Algorithm == "" {
		o.Algorithm = EdDSA
	}
	switch o.Algorithm {
	case EdDSA, ES256, HS256:
	default:
		return &sessiond.ArgumentError{Field: "algorithm", Msg: fmt.Sprintf("unsupported %q (want EdDSA, ES256 or HS256)", o.Algorithm)}
	}
	if o.MaxTokenLifetime <= 0 {
		return &sessiond.ArgumentError{Field: "max_token_lifetime", Msg: "must be positive"}
	}
	return nil
}

// key is one signing key. Immutable once in a ring: Rotate replaces the
// retired signer with a copy, so a reader holding a *key never races.
type key struct {
	kid     string
	alg     Algorithm
	method  jwt.SigningMethod
	signKey any // ed25519.PrivateKey, *ecdsa.PrivateKey or []byte
	// verifyKey is what golang-jwt verifies with, boxed once so Verify
	// does not allocate converting it to an interface: ed25519.PublicKey,
	// *ecdsa.PublicKey, or the []byte secret for HS256.
	verifyKey any
	created   time.Time
	retired   time.Time // zero for the current signer
	// activates is set only on the ring's next key: the time it becomes
	// the signer. Until then it verifies and is published, but signs
	// nothing.
	activates time.Time
}

// KeyRing holds the signing keys: exactly one current key that signs,
// retired keys that still verify until Prune drops them, and at most one
// next key (Schedule) that is published and verifies before it signs. It
// is safe for concurrent use; lookups during Verify take only a read lock.
type KeyRing struct {
	alg         Algorithm
	maxLifetime time.Duration
	// algs are the algorithms the ring can ever hold: its own plus those
	// of keys it was loaded with. Fixed at construction, since keys added
	// later are always of alg.
	algs []string

	mu      sync.RWMutex
	current *key
	next    *key // nil when no rotation is scheduled
	byKid   map[string]*key
	gen     uint64
	// dropped maps the kids of keys dropped on purpose to when the last
	// token they signed has surely expired (SetDropped).
	dropped map[string]time.Time

	// onMiss, when set, is called by Verify for a kid the ring lacks,
	// before the token is rejected (see OnUnknownKID).
	onMiss atomic.Pointer[func(kid string)]
	// held, when set, is why the ring signs nothing (HoldSigning).
	held atomic.Pointer[error]
}

// NewRing returns a ring with one fresh key of opts.Algorithm, created at
// now, as the signer. Generation is 1.
func NewRing(now time.Time, opts RingOptions) (*KeyRing, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("jwttoken: new ring: %w", err)
	}
	var k *key
	var err error
	if opts.Algorithm == HS256 {
		if len(opts.HMACSecret) < MinHMACSecret {
			return nil, fmt.Errorf("jwttoken: new ring: %w", &sessiond.ArgumentError{Field: "hmac_secret", Msg: fmt.Sprintf("HS256 needs a secret of at least %d bytes", MinHMACSecret)})
		}
		k, err = newKey(HS256, bytes.Clone(opts.HMACSecret), now)
	} else {
		if len(opts.HMACSecret) > 0 {
			return nil, fmt.Errorf("jwttoken: new ring: %w", &sessiond.ArgumentError{Field: "hmac_secret", Msg: "set only with algorithm HS256"})
		}
		k, err = generateKey(opts.Algorithm, now)
	}
	if err != nil {
		return nil, fmt.Errorf("jwttoken: new ring: %w", err)
	}
	r := &KeyRing{
		alg:         opts.Algorithm,
		maxLifetime: opts.MaxTokenLifetime,
		algs:        []string{string(opts.Algorithm)},
		current:     k,
		byKid:       map[string]*key{k.kid: k},
		gen:         1,
	}
	return r, nil
}

// generateKey makes a fresh key of alg from crypto/rand.
func generateKey(alg Algorithm, now time.Time) (*key, error) {
	var private any
	switch alg {
	case EdDSA:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate Ed25519 key: %w", err)
		}
		private = priv
	case ES256:
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("generate P-256 key: %w", err)
		}
		private = priv
	case HS256:
		secret := make([]byte, MinHMACSecret)
		_, _ = rand.Read(secret) // crypto/rand.Read never fails on supported platforms
		private = secret
	default:
		return nil, fmt.Errorf("unsupported algorithm %q", alg)
	}
	return newKey(alg, private, now)
}

// newKey wraps a private key with a fresh kid.
func newKey(alg Algorithm, private any, now time.Time) (*key, error) {
	return buildKey(randomID(), alg, private, now.UTC(), time.Time{})
}

// randomID returns 128 random bits, base64url: a kid or a jti.
func randomID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func buildKey(kid string, alg Algorithm, private any, created, retired time.Time) (*key, error) {
	k := &key{kid: kid, alg: alg, signKey: private, created: created, retired: retired}
	switch p := private.(type) {
	case ed25519.PrivateKey:
		if alg != EdDSA || len(p) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("key %s: Ed25519 key does not suit %s", kid, alg)
		}
		k.method, k.verifyKey = jwt.SigningMethodEdDSA, p.Public().(ed25519.PublicKey)
	case *ecdsa.PrivateKey:
		if alg != ES256 || p.Curve != elliptic.P256() {
			return nil, fmt.Errorf("key %s: ECDSA key does not suit %s (want P-256)", kid, alg)
		}
		k.method, k.verifyKey = jwt.SigningMethodES256, &p.PublicKey
	case []byte:
		if alg != HS256 || len(p) < MinHMACSecret {
			return nil, fmt.Errorf("key %s: secret does not suit %s (want at least %d bytes)", kid, alg, MinHMACSecret)
		}
		k.method, k.verifyKey = jwt.SigningMethodHS256, p
	default:
		return nil, fmt.Errorf("key %s: unsupported key type %T", kid, private)
	}
	return k, nil
}

// Rotate generates a new key of the ring's algorithm, makes it the signer
// and retires the previous signer at now. Tokens the previous signer made
// keep verifying until Prune drops it.
//
// Rotate makes the new key sign at once, so verifiers that only learn of
// it later (other nodes, cached JWKS) reject its tokens meanwhile; rings
// shared between processes use Schedule instead. If a next key is
// scheduled, Rotate promotes it now instead of generating another.
func (r *KeyRing) Rotate(now time.Time) error {
	k, err := generateKey(r.alg, now) // outside the lock: ECDSA keygen is not free
	if err != nil {
		return fmt.Errorf("jwttoken: rotate: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next != nil {
		k = r.next
		r.next = nil
	}
	r.promote(k, now.UTC())
	return nil
}

// promote makes k the signer and retires the previous one at t. The
// caller holds r.mu.
func (r *KeyRing) promote(k *key, t time.Time) {
	old := *r.current
	old.retired = t
	r.byKid[old.kid] = &old
	nk := *k
	nk.activates = time.Time{}
	r.byKid[nk.kid] = &nk
	r.current = &nk
	r.gen++
}

// Schedule generates the ring's next key, created at now, which becomes
// the signer at activate: until then it is published (JWKS) and verifies
// but signs nothing, so every verifier can learn it before the first token
// it signs exists. It returns the next key's ID; if one is already
// scheduled it returns that one and changes nothing (changed is false).
// activate must not be before now.
func (r *KeyRing) Schedule(now, activate time.Time) (kid string, changed bool, err error) {
	if activate.Before(now) {
		return "", false, fmt.Errorf("jwttoken: schedule: %w", &sessiond.ArgumentError{Field: "activate", Msg: "before now"})
	}
	if r.hasNext() {
		return r.nextKid(), false, nil
	}
	k, err := generateKey(r.alg, now)
	if err != nil {
		return "", false, fmt.Errorf("jwttoken: schedule: %w", err)
	}
	k.activates = activate.UTC()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next != nil { // scheduled meanwhile
		return r.next.kid, false, nil
	}
	r.next = k
	r.byKid[k.kid] = k
	r.gen++
	return k.kid, true, nil
}

func (r *KeyRing) hasNext() bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.next != nil
}

func (r *KeyRing) nextKid() string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.next == nil {
		return ""
	}
	return r.next.kid
}

// Settle records a scheduled key that has become the signer (its
// activation time is at or before now): the previous signer is retired as
// of that time. Sign already uses the next key from its activation time
// on; Settle only makes the document say so, so Prune can count the
// previous signer's retirement. It reports whether anything changed.
func (r *KeyRing) Settle(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.next == nil || now.Before(r.next.activates) {
		return false
	}
	k := r.next
	r.next = nil
	r.promote(k, k.activates)
	return true
}

// Prune drops every retired key whose tokens have all expired: retired at
// or before now - MaxTokenLifetime - MaxLeeway. It returns how many it
// dropped. The signer and the next key are never dropped.
func (r *KeyRing) Prune(now time.Time) int {
	cutoff := now.Add(-r.maxLifetime - MaxLeeway)
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for kid, k := range r.byKid {
		if !k.retired.IsZero() && !k.retired.After(cutoff) {
			delete(r.byKid, kid)
			n++
		}
	}
	if n > 0 {
		r.gen++
	}
	return n
}

// RetireAll is the incident kill switch: it drops every key and installs a
// fresh signer created at now, so no token issued before verifies again.
func (r *KeyRing) RetireAll(now time.Time) error {
	k, err := generateKey(r.alg, now)
	if err != nil {
		return fmt.Errorf("jwttoken: retire all: %w", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.current = k
	r.next = nil
	r.byKid = map[string]*key{k.kid: k}
	r.gen++
	return nil
}

// Generation counts the ring's changes: it grows on every Rotate,
// RetireAll and Prune that dropped a key, and is saved by MarshalPrivate.
// Compare it to tell whether a ring (or a saved one) changed.
func (r *KeyRing) Generation() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.gen
}

// MaxTokenLifetime returns the ring's MaxTokenLifetime option.
func (r *KeyRing) MaxTokenLifetime() time.Duration { return r.maxLifetime }

// KeyInfo describes one key of the ring, without its material.
type KeyInfo struct {
	ID        string // kid
	Algorithm Algorithm
	CreatedAt time.Time
	RetiredAt time.Time // zero for the current signer and the next key
	Current   bool
	// ActivatesAt is set on the next key only (Schedule): when it
	// becomes the signer.
	ActivatesAt time.Time
}

// Keys lists the ring's keys: the next key first if one is scheduled, then
// the signer, then retired keys newest first.
func (r *KeyRing) Keys() []KeyInfo {
	keys, _ := r.snapshot()
	out := make([]KeyInfo, len(keys))
	for i, k := range keys {
		out[i] = KeyInfo{ID: k.kid, Algorithm: k.alg, CreatedAt: k.created, RetiredAt: k.retired,
			Current: k.retired.IsZero() && k.activates.IsZero(), ActivatesAt: k.activates}
	}
	return out
}

// snapshot returns the keys and the generation they belong to: the next
// key, the signer, then retired keys newest first (kid breaks ties so the
// order, and MarshalPrivate's output, is stable).
func (r *KeyRing) snapshot() ([]*key, uint64) {
	r.mu.RLock()
	keys := make([]*key, 0, len(r.byKid))
	for _, k := range r.byKid {
		keys = append(keys, k)
	}
	gen := r.gen
	r.mu.RUnlock()
	slices.SortFunc(keys, func(a, b *key) int {
		switch {
		case a.activates.IsZero() != b.activates.IsZero():
			if a.activates.IsZero() {
				return 1
			}
			return -1
		case a.retired.IsZero() != b.retired.IsZero():
			if a.retired.IsZero() {
				return -1
			}
			return 1
		case !a.retired.Equal(b.retired):
			return b.retired.Compare(a.retired)
		}
		return strings.Compare(a.kid, b.kid)
	})
	return keys, gen
}

// signerAt returns the key that signs tokens issued at t: the next key
// once its activation time has come, else the current one.
func (r *KeyRing) signerAt(t time.Time) *key {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if r.next != nil && !t.Before(r.next.activates) {
		return r.next
	}
	return r.current
}

// OnUnknownKID sets f to be called, synchronously from Verify, with a kid
// the ring does not hold, before the token is rejected: f may bring the
// ring up to date (Replace) and Verify then looks the kid up once more. f
// must be safe for concurrent use and bound its own cost: kid is
// attacker-chosen, so f should rate-limit and collapse concurrent calls.
// nil removes it.
func (r *KeyRing) OnUnknownKID(f func(kid string)) {
	if f == nil {
		r.onMiss.Store(nil)
		return
	}
	r.onMiss.Store(&f)
}

// HoldSigning makes every signature with the ring (Codec.Sign, SignJWS)
// fail with an error wrapping err, until it is called with nil: its owner
// knows the keys it holds may be out of date (signing.Keys cannot read the
// stored ring, where one of them may have been dropped), so no token must
// be signed with them meanwhile. Verify is not affected.
func (r *KeyRing) HoldSigning(err error) {
	if err == nil {
		r.held.Store(nil)
		return
	}
	r.held.Store(&err)
}

// signingHeld is HoldSigning's error, nil when the ring signs.
func (r *KeyRing) signingHeld() error {
	if p := r.held.Load(); p != nil {
		return *p
	}
	return nil
}

// SetDropped tells the ring which keys were dropped on purpose (the kill
// switch, Prune): each kid with the time until which a token it signed may
// still be presented. Until then Verify refuses a token naming one with an
// error matching sessiond.ErrKeyRetired (and so ErrInvalidToken) rather
// than as an unknown kid, and does not call the OnUnknownKID hook for it: a
// dropped key never comes back, and after a kill switch every client's
// token names one. The ring copies dropped and replaces what it held; nil
// clears it. It changes no key and not the generation.
func (r *KeyRing) SetDropped(dropped map[string]time.Time) {
	m := maps.Clone(dropped)
	r.mu.Lock()
	r.dropped = m
	r.mu.Unlock()
}

// find returns the key with kid for a token verified at now. On a miss it
// fails with errKeyRetired for a kid dropped on purpose not long before
// now, else calls the OnUnknownKID hook once and looks again, failing with
// errUnknownKid.
func (r *KeyRing) find(kid string, now time.Time) (*key, error) {
	r.mu.RLock()
	k := r.byKid[kid]
	var until time.Time
	var dropped bool
	if k == nil { // the usual case pays no second lookup
		until, dropped = r.dropped[kid]
	}
	r.mu.RUnlock()
	switch {
	case k != nil:
		return k, nil
	case dropped && until.After(now):
		return nil, errKeyRetired
	}
	if f := r.onMiss.Load(); f != nil {
		(*f)(kid)
		if k := r.lookup(kid); k != nil {
			return k, nil
		}
	}
	return nil, errUnknownKid
}

// lookup returns the key with the given kid, or nil. kid is untrusted
// header input; it is only ever a map key.
func (r *KeyRing) lookup(kid string) *key {
	r.mu.RLock()
	k := r.byKid[kid]
	r.mu.RUnlock()
	return k
}

// JWKS returns the ring's public keys as a JSON Web Key Set (RFC 7517 §5):
// every key that still verifies, each with kid, alg and use "sig". HS256
// secrets are never included, so an HS256 ring publishes an empty set.
func (r *KeyRing) JWKS() ([]byte, error) {
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	keys, _ := r.snapshot()
	for _, k := range keys {
		if k.alg == HS256 {
			continue
		}
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: k.verifyKey, KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		return nil, fmt.Errorf("jwttoken: jwks: %w", err)
	}
	return b, nil
}

// ringDoc is the MarshalPrivate document.
type ringDoc struct {
	Version    int      `json:"version"`
	Generation uint64   `json:"generation"`
	Keys       []keyDoc `json:"keys"`
}

type keyDoc struct {
	// JWK is the private key with kid, alg and use "sig".
	JWK         json.RawMessage `json:"jwk"`
	CreatedAt   time.Time       `json:"created_at"`
	RetiredAt   time.Time       `json:"retired_at,omitzero"`
	ActivatesAt time.Time       `json:"activates_at,omitzero"` // the next key only
}

// MarshalPrivate returns every key of the ring, private parts and HS256
// secrets included, with created and retired times and the generation, as
// a JSON document for LoadRing. It is a secret: store it with mode 0600.
func (r *KeyRing) MarshalPrivate() ([]byte, error) {
	keys, gen := r.snapshot()
	doc := ringDoc{Version: ringVersion, Generation: gen}
	for _, k := range keys {
		jwk, err := json.Marshal(jose.JSONWebKey{Key: k.signKey, KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"})
		if err != nil {
			return nil, fmt.Errorf("jwttoken: marshal ring: key %s: %w", k.kid, err)
		}
		doc.Keys = append(doc.Keys, keyDoc{JWK: jwk, CreatedAt: k.created, RetiredAt: k.retired, ActivatesAt: k.activates})
	}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("jwttoken: marshal ring: %w", err)
	}
	return b, nil
}

// LoadRing rebuilds a ring from a MarshalPrivate document. The document
// must hold exactly one current (unretired, not scheduled) key and at most
// one next key (unretired, with an activation time); HS256 keys are accepted
// only when opts.Algorithm is HS256, and an HS256 ring holds nothing else,
// so one verifier never mixes MACs and signatures. Keys may be of another
// asymmetric algorithm than opts.Algorithm (a migration): they keep
// verifying, and Rotate brings in opts.Algorithm. Errors match
// sessiond.ErrInvalidArgument and name the offending key.
func LoadRing(data []byte, opts RingOptions) (*KeyRing, error) {
	if err := opts.validate(); err != nil {
		return nil, fmt.Errorf("jwttoken: load ring: %w", err)
	}
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("jwttoken: load ring: %w", &sessiond.ArgumentError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	var doc ringDoc
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, bad("ring", "not a key ring document: %v", err)
	}
	if doc.Version != ringVersion {
		return nil, bad("version", "unsupported %d (want %d)", doc.Version, ringVersion)
	}
	if len(doc.Keys) == 0 {
		return nil, bad("keys", "empty")
	}
	r := &KeyRing{
		alg:         opts.Algorithm,
		maxLifetime: opts.MaxTokenLifetime,
		algs:        []string{string(opts.Algorithm)},
		byKid:       make(map[string]*key, len(doc.Keys)),
		gen:         doc.Generation,
	}
	for i, kd := range doc.Keys {
		field := fmt.Sprintf("keys[%d]", i)
		var jwk jose.JSONWebKey
		if err := json.Unmarshal(kd.JWK, &jwk); err != nil {
			return nil, bad(field+".jwk", "%v", err)
		}
		alg := Algorithm(jwk.Algorithm)
		switch {
		case jwk.KeyID == "":
			return nil, bad(field+".jwk.kid", "missing")
		case r.byKid[jwk.KeyID] != nil:
			return nil, bad(field+".jwk.kid", "duplicate")
		case jwk.Use != "sig":
			return nil, bad(field+".jwk.use", "want sig")
		case jwk.IsPublic():
			return nil, bad(field+".jwk", "public key only; the private key is needed")
		case alg != EdDSA && alg != ES256 && alg != HS256:
			return nil, bad(field+".jwk.alg", "unsupported %q", jwk.Algorithm)
		case (alg == HS256) != (opts.Algorithm == HS256):
			return nil, bad(field+".jwk.alg", "%s key in a ring configured for %s: HS256 is opt-in and never mixed with signatures", alg, opts.Algorithm)
		case kd.CreatedAt.IsZero():
			return nil, bad(field+".created_at", "missing")
		case !kd.RetiredAt.IsZero() && kd.RetiredAt.Before(kd.CreatedAt):
			return nil, bad(field+".retired_at", "before created_at")
		case !kd.ActivatesAt.IsZero() && !kd.RetiredAt.IsZero():
			return nil, bad(field+".activates_at", "set on a retired key")
		case !kd.ActivatesAt.IsZero() && kd.ActivatesAt.Before(kd.CreatedAt):
			return nil, bad(field+".activates_at", "before created_at")
		}
		private := jwk.Key
		if p, ok := private.(*ecdsa.PrivateKey); ok {
			// go-jose checks the point is on the curve but not that d
			// belongs to it; rebuild from d and compare.
			var err error
			if private, err = checkECDSA(p); err != nil {
				return nil, bad(field+".jwk", "%v", err)
			}
		}
		k, err := buildKey(jwk.KeyID, alg, private, kd.CreatedAt.UTC(), kd.RetiredAt.UTC())
		if err != nil {
			return nil, bad(field+".jwk", "%v", err)
		}
		switch {
		case !kd.ActivatesAt.IsZero():
			if r.next != nil {
				return nil, bad(field+".activates_at", "more than one next key")
			}
			k.activates = kd.ActivatesAt.UTC()
			r.next = k
		case k.retired.IsZero():
			if r.current != nil {
				return nil, bad(field+".retired_at", "more than one current key")
			}
			r.current = k
		}
		r.byKid[k.kid] = k
		if !slices.Contains(r.algs, string(alg)) {
			r.algs = append(r.algs, string(alg))
		}
	}
	if r.current == nil {
		return nil, bad("keys", "no current key (every key is retired)")
	}
	return r, nil
}

// checkECDSA returns the P-256 key rebuilt from its scalar, if it matches
// the public point.
func checkECDSA(p *ecdsa.PrivateKey) (*ecdsa.PrivateKey, error) {
	if p.Curve != elliptic.P256() || p.D == nil || p.D.Sign() <= 0 || p.D.BitLen() > 256 {
		return nil, fmt.Errorf("not a P-256 private key")
	}
	d := make([]byte, 32)
	p.D.FillBytes(d)
	k, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), d)
	if err != nil {
		return nil, fmt.Errorf("ECDSA private scalar: %w", err)
	}
	if !k.PublicKey.Equal(&p.PublicKey) {
		return nil, fmt.Errorf("ECDSA private scalar does not match the public point")
	}
	return k, nil
}

// Replace swaps in the keys of a MarshalPrivate document (another node's
// rotation, read from the shared store), keeping codecs built on r working.
// The document must use only algorithms r already verifies. It reports
// whether a key r held is gone, since a cache of verified tokens must then
// be dropped.
func (r *KeyRing) Replace(data []byte) (removed bool, err error) {
	next, err := LoadRing(data, RingOptions{Algorithm: r.alg, MaxTokenLifetime: r.maxLifetime, HMACSecret: nil})
	if err != nil {
		return false, err
	}
	for _, a := range next.algs {
		if !slices.Contains(r.algs, a) {
			return false, fmt.Errorf("jwttoken: replace ring: %w", &sessiond.ArgumentError{Field: "keys", Msg: fmt.Sprintf("algorithm %s is not one this ring verifies", a)})
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for kid := range r.byKid {
		if next.byKid[kid] == nil {
			removed = true
		}
	}
	r.current, r.next, r.byKid, r.gen = next.current, next.next, next.byKid, next.gen
	return removed, nil
}

// Merge adds to r the keys of a MarshalPrivate document that r lacks, each
// retired (verifying until Prune drops it, never signing): a key retired
// in the document keeps its time, its signer and next key are retired at
// now. r's own signer and next key stay as they are. It is how a node
// puts back the keys it signed with into a ring that replaced its own (a
// store that lost the shared ring, recreated by another node).
//
// dropped, when not nil, names keys dropped on purpose (RetireAll, Prune)
// whose tokens may not have expired yet: they are never added, and are
// removed from r; if r's signer is one, the document's signer takes its
// place (still signing), or if it is one too, a fresh key of r's
// algorithm created at now. So a leaked key the kill switch dropped
// cannot come back through a merge, least of all as the signer.
//
// The document must use only algorithms r already verifies. It returns
// how many keys it added or removed; the generation grows when any was.
func (r *KeyRing) Merge(data []byte, now time.Time, dropped func(kid string) bool) (int, error) {
	other, err := LoadRing(data, RingOptions{Algorithm: r.alg, MaxTokenLifetime: r.maxLifetime, HMACSecret: nil})
	if err != nil {
		return 0, err
	}
	for _, a := range other.algs {
		if !slices.Contains(r.algs, a) {
			return 0, fmt.Errorf("jwttoken: merge ring: %w", &sessiond.ArgumentError{Field: "keys", Msg: fmt.Sprintf("algorithm %s is not one this ring verifies", a)})
		}
	}
	if dropped == nil {
		dropped = func(string) bool { return false }
	}
	var fresh *key
	if dropped(r.currentKid()) && dropped(other.current.kid) {
		if fresh, err = generateKey(r.alg, now); err != nil { // outside the lock
			return 0, fmt.Errorf("jwttoken: merge ring: %w", err)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	changed := 0
	for kid := range r.byKid {
		if dropped(kid) {
			delete(r.byKid, kid)
			changed++
		}
	}
	if r.next != nil && dropped(r.next.kid) {
		r.next = nil
	}
	if dropped(r.current.kid) {
		switch {
		case fresh != nil:
			r.current = fresh
		default:
			nk := *other.current
			r.current = &nk
		}
		r.byKid[r.current.kid] = r.current
		changed++
	}
	for kid, k := range other.byKid {
		if r.byKid[kid] != nil || dropped(kid) {
			continue
		}
		nk := *k
		nk.activates = time.Time{}
		if nk.retired.IsZero() {
			nk.retired = now.UTC()
			if nk.retired.Before(nk.created) {
				nk.retired = nk.created
			}
		}
		r.byKid[kid] = &nk
		changed++
	}
	if changed > 0 {
		r.gen++
	}
	return changed, nil
}

// currentKid is the signer's kid.
func (r *KeyRing) currentKid() string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.current.kid
}

// HasHMACSecret reports whether one of the ring's HS256 keys is secret
// (compared in constant time).
func (r *KeyRing) HasHMACSecret(secret []byte) bool {
	keys, _ := r.snapshot()
	found := false
	for _, k := range keys {
		if b, ok := k.signKey.([]byte); ok && hmac.Equal(b, secret) {
			found = true
		}
	}
	return found
}
