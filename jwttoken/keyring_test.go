package jwttoken_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
)

func TestNewRing_Options(t *testing.T) {
	tests := []struct {
		name  string
		opts  jwttoken.RingOptions
		field string // "" = valid
	}{
		{"default EdDSA", jwttoken.RingOptions{MaxTokenLifetime: time.Hour}, ""},
		{"ES256", jwttoken.RingOptions{Algorithm: jwttoken.ES256, MaxTokenLifetime: time.Hour}, ""},
		{"HS256 with 32 bytes", jwttoken.RingOptions{Algorithm: jwttoken.HS256, HMACSecret: hmacSecret, MaxTokenLifetime: time.Hour}, ""},
		{"HS256 without secret", jwttoken.RingOptions{Algorithm: jwttoken.HS256, MaxTokenLifetime: time.Hour}, "hmac_secret"},
		{"HS256 with 31 bytes", jwttoken.RingOptions{Algorithm: jwttoken.HS256, HMACSecret: hmacSecret[:31], MaxTokenLifetime: time.Hour}, "hmac_secret"},
		{"secret without HS256", jwttoken.RingOptions{HMACSecret: hmacSecret, MaxTokenLifetime: time.Hour}, "hmac_secret"},
		{"none", jwttoken.RingOptions{Algorithm: "none", MaxTokenLifetime: time.Hour}, "algorithm"},
		{"RS256", jwttoken.RingOptions{Algorithm: "RS256", MaxTokenLifetime: time.Hour}, "algorithm"},
		{"lower-case eddsa", jwttoken.RingOptions{Algorithm: "eddsa", MaxTokenLifetime: time.Hour}, "algorithm"},
		{"no max lifetime", jwttoken.RingOptions{}, "max_token_lifetime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := jwttoken.NewRing(t0, tt.opts)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("NewRing = %v; want nil", err)
				}
				keys := r.Keys()
				want := tt.opts.Algorithm
				if want == "" {
					want = jwttoken.EdDSA
				}
				if len(keys) != 1 || !keys[0].Current || keys[0].Algorithm != want || !keys[0].CreatedAt.Equal(t0) || r.Generation() != 1 {
					t.Fatalf("NewRing: keys %+v, generation %d; want one current %s key created at t0, generation 1", keys, r.Generation(), want)
				}
				return
			}
			var ae *sessiond.ArgumentError
			if !errors.As(err, &ae) || ae.Field != tt.field {
				t.Fatalf("NewRing = %v; want an ArgumentError on %s", err, tt.field)
			}
		})
	}
}

// TestNewRing_CopiesSecret: the caller may wipe its buffer afterwards.
func TestNewRing_CopiesSecret(t *testing.T) {
	secret := bytes.Clone(hmacSecret)
	r, err := jwttoken.NewRing(t0, jwttoken.RingOptions{Algorithm: jwttoken.HS256, HMACSecret: secret, MaxTokenLifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	c := newCodec(t, r, 0)
	tok := sign(t, c, sessiond.KindAccess, tokenClaims(t0))
	clear(secret)
	if _, err := c.Verify(sessiond.KindAccess, tok, t0); err != nil {
		t.Fatalf("Verify after wiping the caller's secret = %v", err)
	}
	if _, err := jwt.Parse(string(tok), func(*jwt.Token) (any, error) { return hmacSecret, nil }, jwt.WithoutClaimsValidation()); err != nil {
		t.Fatalf("token is not MAC'ed with the configured secret: %v", err)
	}
}

func TestKeyRing_Rotate(t *testing.T) {
	eachAlg(t, func(t *testing.T, alg jwttoken.Algorithm, ring *jwttoken.KeyRing, c *jwttoken.Codec) {
		oldKid := currentKid(t, ring)
		old := sign(t, c, sessiond.KindAccess, tokenClaims(t0))
		rotatedAt := at(-30 * time.Second)
		if err := ring.Rotate(rotatedAt); err != nil {
			t.Fatalf("Rotate = %v", err)
		}
		if g := ring.Generation(); g != 2 {
			t.Errorf("Generation after Rotate = %d; want 2", g)
		}
		keys := ring.Keys()
		if len(keys) != 2 || !keys[0].Current || keys[0].ID == oldKid || keys[0].Algorithm != alg ||
			keys[1].ID != oldKid || keys[1].Current || !keys[1].RetiredAt.Equal(rotatedAt) || !keys[0].CreatedAt.Equal(rotatedAt) {
			t.Fatalf("Keys after Rotate = %+v; want a new current key and %s retired at %v", keys, oldKid, rotatedAt)
		}
		if _, err := c.Verify(sessiond.KindAccess, old, t0); err != nil {
			t.Errorf("Verify(token of the retired key) = %v; want nil", err)
		}
		fresh := sign(t, c, sessiond.KindAccess, tokenClaims(t0))
		h, _, _ := segments(t, string(fresh))
		if kid := decodeJSON(t, h)["kid"]; kid != keys[0].ID {
			t.Errorf("new token kid = %v; want the new key %s", kid, keys[0].ID)
		}
		if _, err := c.Verify(sessiond.KindAccess, fresh, t0); err != nil {
			t.Errorf("Verify(token of the new key) = %v; want nil", err)
		}
	})
}

func TestKeyRing_Prune(t *testing.T) {
	ring := newRing(t, jwttoken.EdDSA)
	c := newCodec(t, ring, 30*time.Second)
	oldKid := currentKid(t, ring)
	old := sign(t, c, sessiond.KindAccess, tokenClaims(t0))
	rotatedAt := t0
	if err := ring.Rotate(rotatedAt); err != nil {
		t.Fatal(err)
	}
	keep := rotatedAt.Add(maxLifetime + jwttoken.MaxLeeway - time.Second)
	if n := ring.Prune(keep); n != 0 {
		t.Fatalf("Prune(retired + MaxTokenLifetime + MaxLeeway - 1s) dropped %d keys; want 0", n)
	}
	if g := ring.Generation(); g != 2 {
		t.Errorf("Generation after a Prune that dropped nothing = %d; want 2", g)
	}
	// Verify takes the time it is given, so the old token can be checked
	// while still live: what fails below is the key, not the token.
	if _, err := c.Verify(sessiond.KindAccess, old, t0); err != nil {
		t.Fatalf("Verify(old token) before pruning = %v; want nil", err)
	}
	if n := ring.Prune(keep.Add(time.Second)); n != 1 {
		t.Fatalf("Prune(retired + MaxTokenLifetime + MaxLeeway) dropped %d keys; want 1", n)
	}
	if g := ring.Generation(); g != 3 {
		t.Errorf("Generation after Prune = %d; want 3", g)
	}
	_, err := c.Verify(sessiond.KindAccess, old, t0)
	wantErr(t, "Verify(token of a pruned key)", err, sessiond.ErrInvalidToken, jwttoken.ReasonUnknownKid)
	if _, ok := publicKeys(t, ring)[oldKid]; ok {
		t.Errorf("JWKS still lists pruned key %s", oldKid)
	}
	if n := ring.Prune(at(100 * 365 * 24 * time.Hour)); n != 0 || len(ring.Keys()) != 1 {
		t.Errorf("Prune far ahead dropped %d keys, left %d; want the signer kept", n, len(ring.Keys()))
	}
}

func TestKeyRing_RetireAll(t *testing.T) {
	ring := newRing(t, jwttoken.EdDSA)
	c := newCodec(t, ring, 0)
	first := sign(t, c, sessiond.KindAccess, tokenClaims(t0))
	if err := ring.Rotate(at(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	second := sign(t, c, sessiond.KindRefresh, tokenClaims(t0))
	if err := ring.RetireAll(t0); err != nil {
		t.Fatalf("RetireAll = %v", err)
	}
	for _, tt := range []struct {
		name string
		kind sessiond.TokenKind
		tok  sessiond.Secret
	}{{"retired key's token", sessiond.KindAccess, first}, {"signer's token", sessiond.KindRefresh, second}} {
		_, err := c.Verify(tt.kind, tt.tok, t0)
		wantErr(t, "Verify("+tt.name+") after RetireAll", err, sessiond.ErrInvalidToken, jwttoken.ReasonUnknownKid)
	}
	if keys := ring.Keys(); len(keys) != 1 || !keys[0].Current || !keys[0].CreatedAt.Equal(t0) {
		t.Errorf("Keys after RetireAll = %+v; want one fresh signer", keys)
	}
	if g := ring.Generation(); g != 3 {
		t.Errorf("Generation = %d; want 3", g)
	}
	if _, err := c.Verify(sessiond.KindAccess, sign(t, c, sessiond.KindAccess, tokenClaims(t0)), t0); err != nil {
		t.Errorf("Verify(new token) = %v; want nil", err)
	}
}

// TestKeyRing_SetDropped: after the kill switch, a token of a key the ring
// was told is dropped is refused as ErrKeyRetired (still ErrInvalidToken),
// without the unknown-kid hook (a store read on every node, for every
// client, after an incident); a kid never seen is not one, and neither is
// a dropped one once its tokens have all expired.
func TestKeyRing_SetDropped(t *testing.T) {
	ring := newRing(t, jwttoken.EdDSA)
	c := newCodec(t, ring, 0)
	oldKid := currentKid(t, ring)
	old := sign(t, c, sessiond.KindAccess, tokenClaims(t0))
	if err := ring.RetireAll(t0); err != nil {
		t.Fatal(err)
	}
	until := t0.Add(maxLifetime + jwttoken.MaxLeeway)
	ring.SetDropped(map[string]time.Time{oldKid: until})
	var calls atomic.Int64
	ring.OnUnknownKID(func(string) { calls.Add(1) })

	_, err := c.Verify(sessiond.KindAccess, old, t0)
	wantErr(t, "Verify(token of a dropped key)", err, sessiond.ErrInvalidToken, jwttoken.ReasonKeyRetired)
	if !errors.Is(err, sessiond.ErrKeyRetired) {
		t.Errorf("Verify(token of a dropped key) = %v; want ErrKeyRetired", err)
	}
	if n := calls.Load(); n != 0 {
		t.Errorf("a dropped kid called the unknown-kid hook %d times; want 0", n)
	}

	stranger := sign(t, newCodec(t, newRing(t, jwttoken.EdDSA), 0), sessiond.KindAccess, tokenClaims(t0))
	_, err = c.Verify(sessiond.KindAccess, stranger, t0)
	wantErr(t, "Verify(token of an unknown kid)", err, sessiond.ErrInvalidToken, jwttoken.ReasonUnknownKid)
	if errors.Is(err, sessiond.ErrKeyRetired) || calls.Load() != 1 {
		t.Errorf("Verify(token of an unknown kid) = %v after %d hook calls; want not ErrKeyRetired, 1 call", err, calls.Load())
	}

	_, err = c.Verify(sessiond.KindAccess, old, until)
	wantErr(t, "Verify(token of a dropped key, past its horizon)", err, sessiond.ErrInvalidToken, jwttoken.ReasonUnknownKid)

	ring.SetDropped(nil)
	_, err = c.Verify(sessiond.KindAccess, old, t0)
	wantErr(t, "Verify(token of a dropped key) after SetDropped(nil)", err, sessiond.ErrInvalidToken, jwttoken.ReasonUnknownKid)
}

func TestKeyRing_JWKS(t *testing.T) {
	for _, alg := range []jwttoken.Algorithm{jwttoken.EdDSA, jwttoken.ES256} {
		t.Run(string(alg), func(t *testing.T) {
			ring := newRing(t, alg)
			c := newCodec(t, ring, 0)
			var toks []sessiond.Secret
			for i := range 3 {
				toks = append(toks, sign(t, c, sessiond.KindAccess, tokenClaims(t0)))
				if err := ring.Rotate(at(time.Duration(i) * time.Second)); err != nil {
					t.Fatal(err)
				}
			}
			b, err := ring.JWKS()
			if err != nil {
				t.Fatal(err)
			}
			// No private member anywhere.
			var raw struct {
				Keys []map[string]any `json:"keys"`
			}
			if err := json.Unmarshal(b, &raw); err != nil {
				t.Fatal(err)
			}
			for _, k := range raw.Keys {
				for _, private := range []string{"d", "k", "p", "q", "dp", "dq", "qi"} {
					if _, ok := k[private]; ok {
						t.Errorf("JWKS key %v has private member %q", k["kid"], private)
					}
				}
				if k["use"] != "sig" || k["alg"] != string(alg) || k["kid"] == "" {
					t.Errorf("JWKS key = %v; want use sig, alg %s, a kid", k, alg)
				}
			}
			pub := publicKeys(t, ring)
			var kids []string
			for _, k := range ring.Keys() {
				kids = append(kids, k.ID)
			}
			if got := slices.Sorted(maps.Keys(pub)); !slices.Equal(got, slices.Sorted(slices.Values(kids))) {
				t.Errorf("JWKS kids = %v; want the ring's %v", got, kids)
			}
			// Anyone holding the JWKS can check our tokens.
			for _, tok := range toks {
				_, err := jwt.Parse(string(tok), func(tk *jwt.Token) (any, error) {
					k, ok := pub[tk.Header["kid"].(string)]
					if !ok || !k.IsPublic() {
						return nil, fmt.Errorf("no public key")
					}
					return k.Key, nil
				}, jwt.WithValidMethods([]string{string(alg)}), jwt.WithTimeFunc(func() time.Time { return t0 }))
				if err != nil {
					t.Errorf("token does not verify with the JWKS: %v", err)
				}
			}
		})
	}
	t.Run("HS256 publishes nothing", func(t *testing.T) {
		b, err := newRing(t, jwttoken.HS256).JWKS()
		if err != nil || string(b) != `{"keys":[]}` {
			t.Fatalf("JWKS = %s, %v; want an empty set", b, err)
		}
	})
}

func TestLoadRing_RoundTrip(t *testing.T) {
	eachAlg(t, func(t *testing.T, alg jwttoken.Algorithm, ring *jwttoken.KeyRing, c *jwttoken.Codec) {
		old := sign(t, c, sessiond.KindAccess, tokenClaims(t0))
		if err := ring.Rotate(at(-time.Minute)); err != nil {
			t.Fatal(err)
		}
		current := sign(t, c, sessiond.KindRefresh, tokenClaims(t0))
		doc, err := ring.MarshalPrivate()
		if err != nil {
			t.Fatal(err)
		}
		opts := jwttoken.RingOptions{Algorithm: alg, MaxTokenLifetime: maxLifetime}
		loaded, err := jwttoken.LoadRing(doc, opts)
		if err != nil {
			t.Fatalf("LoadRing = %v", err)
		}
		if !reflect.DeepEqual(loaded.Keys(), ring.Keys()) || loaded.Generation() != ring.Generation() {
			t.Errorf("LoadRing: keys %+v gen %d; want %+v gen %d", loaded.Keys(), loaded.Generation(), ring.Keys(), ring.Generation())
		}
		again, err := loaded.MarshalPrivate()
		if err != nil || !bytes.Equal(again, doc) {
			t.Errorf("MarshalPrivate(LoadRing(doc)) differs from doc")
		}
		lc := newCodec(t, loaded, 0)
		if _, err := lc.Verify(sessiond.KindAccess, old, t0); err != nil {
			t.Errorf("Verify(token of the retired key) after reload = %v", err)
		}
		if _, err := lc.Verify(sessiond.KindRefresh, current, t0); err != nil {
			t.Errorf("Verify(token of the signer) after reload = %v", err)
		}
		if _, err := c.Verify(sessiond.KindAccess, sign(t, lc, sessiond.KindAccess, tokenClaims(t0)), t0); err != nil {
			t.Errorf("a token signed after reload does not verify on the original: %v", err)
		}
	})
}

func TestLoadRing_Errors(t *testing.T) {
	mkJWK := func(key any, kid, alg, use string) string {
		b, err := json.Marshal(jose.JSONWebKey{Key: key, KeyID: kid, Algorithm: alg, Use: use})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	otherEC, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	// A P-256 key whose scalar belongs to another key.
	mismatched := &ecdsa.PrivateKey{PublicKey: ec.PublicKey, D: otherEC.D}
	// An Ed25519 key whose seed belongs to another key: crypto/ed25519
	// signs with the public half as given (it enters the hash), so a seed
	// used with two public keys gives its scalar away. go-jose (v4.1.9)
	// refuses x that does not match d; this keeps it so.
	otherEd, _, _ := ed25519.GenerateKey(rand.Reader)
	edMismatched := append(ed25519.PrivateKey(nil), ed.Seed()...)
	edMismatched = append(edMismatched, otherEd...)
	edJWK := mkJWK(ed, "ed", "EdDSA", "sig")
	entry := func(jwk string, retired string) string {
		s := `{"jwk":` + jwk + `,"created_at":"2030-01-01T00:00:00Z"`
		if retired != "" {
			s += `,"retired_at":"` + retired + `"`
		}
		return s + "}"
	}
	doc := func(entries ...string) string {
		return `{"version":1,"generation":4,"keys":[` + strings.Join(entries, ",") + `]}`
	}
	eddsa := jwttoken.RingOptions{MaxTokenLifetime: time.Hour}
	hs := jwttoken.RingOptions{Algorithm: jwttoken.HS256, MaxTokenLifetime: time.Hour}
	tests := []struct {
		name  string
		doc   string
		opts  jwttoken.RingOptions
		field string // "" = valid
	}{
		{"valid", doc(entry(edJWK, "")), eddsa, ""},
		{"valid ES256 in an EdDSA ring", doc(entry(mkJWK(ec, "ec", "ES256", "sig"), "")), eddsa, ""},
		{"valid HS256", doc(entry(mkJWK(hmacSecret, "hs", "HS256", "sig"), "")), hs, ""},
		{"garbage", "not json", eddsa, "ring"},
		{"unknown field", `{"version":1,"keys":[],"extra":1}`, eddsa, "ring"},
		{"version 2", `{"version":2,"keys":[` + entry(edJWK, "") + `]}`, eddsa, "version"},
		{"no keys", doc(), eddsa, "keys"},
		{"no current key", doc(entry(edJWK, "2030-01-01T01:00:00Z")), eddsa, "keys"},
		{"two current keys", doc(entry(edJWK, ""), entry(mkJWK(ec, "ec", "ES256", "sig"), "")), eddsa, "keys[1].retired_at"},
		{"duplicate kid", doc(entry(edJWK, ""), entry(edJWK, "2030-01-01T01:00:00Z")), eddsa, "keys[1].jwk.kid"},
		{"no kid", doc(entry(mkJWK(ed, "", "EdDSA", "sig"), "")), eddsa, "keys[0].jwk.kid"},
		{"use enc", doc(entry(mkJWK(ed, "ed", "EdDSA", "enc"), "")), eddsa, "keys[0].jwk.use"},
		{"public key only", doc(entry(mkJWK(ed.Public(), "ed", "EdDSA", "sig"), "")), eddsa, "keys[0].jwk"},
		{"alg none", doc(entry(mkJWK(ed, "ed", "none", "sig"), "")), eddsa, "keys[0].jwk.alg"},
		{"alg missing", doc(entry(mkJWK(ed, "ed", "", "sig"), "")), eddsa, "keys[0].jwk.alg"},
		{"alg does not fit the key", doc(entry(mkJWK(ed, "ed", "ES256", "sig"), "")), eddsa, "keys[0].jwk"},
		{"P-384 key", doc(entry(mkJWK(ec384, "ec", "ES256", "sig"), "")), eddsa, "keys[0].jwk"},
		{"ECDSA scalar of another key", doc(entry(mkJWK(mismatched, "ec", "ES256", "sig"), "")), eddsa, "keys[0].jwk"},
		{"Ed25519 seed of another key", doc(entry(mkJWK(edMismatched, "ed", "EdDSA", "sig"), "")), eddsa, "keys[0].jwk"},
		{"HS256 key in an EdDSA ring", doc(entry(mkJWK(hmacSecret, "hs", "HS256", "sig"), "")), eddsa, "keys[0].jwk.alg"},
		{"EdDSA key in an HS256 ring", doc(entry(edJWK, "")), hs, "keys[0].jwk.alg"},
		{"short HS256 secret", doc(entry(mkJWK(hmacSecret[:31], "hs", "HS256", "sig"), "")), hs, "keys[0].jwk"},
		{"no created_at", `{"version":1,"keys":[{"jwk":` + edJWK + `}]}`, eddsa, "keys[0].created_at"},
		{"retired before created", doc(entry(mkJWK(ec, "ec", "ES256", "sig"), ""), entry(edJWK, "2029-01-01T00:00:00Z")), eddsa, "keys[1].retired_at"},
		{"bad options", doc(entry(edJWK, "")), jwttoken.RingOptions{}, "max_token_lifetime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := jwttoken.LoadRing([]byte(tt.doc), tt.opts)
			if tt.field == "" {
				if err != nil {
					t.Fatalf("LoadRing = %v; want nil", err)
				}
				if r.Generation() != 4 {
					t.Errorf("Generation = %d; want 4", r.Generation())
				}
				return
			}
			var ae *sessiond.ArgumentError
			if !errors.As(err, &ae) || ae.Field != tt.field {
				t.Fatalf("LoadRing = %v; want an ArgumentError on %s", err, tt.field)
			}
			if strings.Contains(err.Error(), `"d"`) {
				t.Errorf("error %q quotes key material", err)
			}
		})
	}
}

// TestKeyRing_MarshalPrivate checks the document holds what a node needs
// to take over: every key with its private part, and the times.
func TestKeyRing_MarshalPrivate(t *testing.T) {
	ring := newRing(t, jwttoken.ES256)
	if err := ring.Rotate(t0); err != nil {
		t.Fatal(err)
	}
	keys := privateKeys(t, ring)
	if len(keys) != 2 {
		t.Fatalf("document has %d keys; want 2", len(keys))
	}
	for kid, k := range keys {
		if _, ok := k.(*ecdsa.PrivateKey); !ok {
			t.Errorf("key %s is %T; want *ecdsa.PrivateKey", kid, k)
		}
	}
}

// TestKeyRing_Replace: a node adopts another node's rotation through the
// shared document, and its existing codec verifies with the new keys.
func TestKeyRing_Replace(t *testing.T) {
	a := newRing(t, jwttoken.EdDSA)
	doc, err := a.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	b, err := jwttoken.LoadRing(doc, jwttoken.RingOptions{MaxTokenLifetime: a.MaxTokenLifetime()})
	if err != nil {
		t.Fatal(err)
	}
	codecB := newCodec(t, b, 0)
	old := sign(t, newCodec(t, a, 0), sessiond.KindAccess, tokenClaims(t0))

	if err := a.Rotate(at(time.Minute)); err != nil {
		t.Fatal(err)
	}
	rotated, _ := a.MarshalPrivate()
	removed, err := b.Replace(rotated)
	if err != nil || removed {
		t.Fatalf("Replace(rotated) = %v, %v; want no key removed", removed, err)
	}
	fresh := sign(t, newCodec(t, a, 0), sessiond.KindAccess, tokenClaims(at(time.Minute)))
	for name, tok := range map[string]sessiond.Secret{"old key": old, "new key": fresh} {
		if _, err := codecB.Verify(sessiond.KindAccess, tok, at(2*time.Minute)); err != nil {
			t.Errorf("%s token on the replaced ring: %v", name, err)
		}
	}
	if currentKid(t, b) != currentKid(t, a) {
		t.Error("replaced ring signs with another key than the source")
	}

	if err := a.RetireAll(at(3 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	killed, _ := a.MarshalPrivate()
	if removed, err := b.Replace(killed); err != nil || !removed {
		t.Fatalf("Replace(after RetireAll) = %v, %v; want removed", removed, err)
	}
	if _, err := codecB.Verify(sessiond.KindAccess, fresh, at(4*time.Minute)); !errors.Is(err, sessiond.ErrInvalidToken) {
		t.Errorf("token of a retired-all key = %v; want ErrInvalidToken", err)
	}

	es := newRing(t, jwttoken.ES256)
	esDoc, _ := es.MarshalPrivate()
	if _, err := b.Replace(esDoc); !errors.Is(err, sessiond.ErrInvalidArgument) {
		t.Errorf("Replace with an algorithm the ring does not verify = %v; want ErrInvalidArgument", err)
	}
	if _, err := b.Replace([]byte("{not json")); err == nil {
		t.Error("Replace(garbage) = nil; want an error")
	}
}

// TestKeyRing_Merge: a ring made anew (a store that lost the shared one)
// takes in another node's keys as retired ones: tokens that node signed
// verify, its own signer still signs, and nothing is added twice.
func TestKeyRing_Merge(t *testing.T) {
	mine := newRing(t, jwttoken.EdDSA)
	if _, _, err := mine.Schedule(t0, at(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	mineDoc, _ := mine.MarshalPrivate()
	old := sign(t, newCodec(t, mine, 0), sessiond.KindAccess, tokenClaims(t0))
	theirs := newRing(t, jwttoken.EdDSA)
	signer := currentKid(t, theirs)
	gen := theirs.Generation()

	n, err := theirs.Merge(mineDoc, at(time.Minute), nil)
	if err != nil || n != 2 {
		t.Fatalf("Merge = %d, %v; want 2 keys added (the signer and the next key)", n, err)
	}
	if theirs.Generation() == gen {
		t.Error("Merge added keys but the generation did not grow")
	}
	if got := currentKid(t, theirs); got != signer {
		t.Errorf("signer after Merge = %s; want the ring's own %s", got, signer)
	}
	for _, k := range theirs.Keys() {
		if k.ID != signer && (k.RetiredAt.IsZero() || !k.ActivatesAt.IsZero()) {
			t.Errorf("merged key %s = %+v; want retired, not scheduled", k.ID, k)
		}
	}
	if _, err := newCodec(t, theirs, 0).Verify(sessiond.KindAccess, old, at(2*time.Minute)); err != nil {
		t.Errorf("a token of a merged key: %v", err)
	}
	if n, err := theirs.Merge(mineDoc, at(2*time.Minute), nil); err != nil || n != 0 {
		t.Errorf("Merge again = %d, %v; want 0", n, err)
	}
	es := newRing(t, jwttoken.ES256)
	esDoc, _ := es.MarshalPrivate()
	if _, err := theirs.Merge(esDoc, at(time.Minute), nil); !errors.Is(err, sessiond.ErrInvalidArgument) {
		t.Errorf("Merge with an algorithm the ring does not verify = %v; want ErrInvalidArgument", err)
	}
}

// TestKeyRing_MergeDropped: keys dropped on purpose (the kill switch) are
// never taken back by a merge, and a dropped signer never signs again:
// the other ring's signer takes its place, or a fresh key if both were.
func TestKeyRing_MergeDropped(t *testing.T) {
	cases := []struct {
		name string
		// drop picks the dropped kids from the two signers.
		drop       func(mine, theirs string) []string
		wantSigner func(mine, theirs string) string // "" for a fresh key
	}{
		{"their signer dropped: mine signs", func(m, th string) []string { return []string{th} }, func(m, th string) string { return m }},
		{"my signer dropped: theirs signs, mine not added", func(m, th string) []string { return []string{m} }, func(m, th string) string { return th }},
		{"both dropped: a fresh key signs", func(m, th string) []string { return []string{m, th} }, func(string, string) string { return "" }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mine, theirs := newRing(t, jwttoken.EdDSA), newRing(t, jwttoken.EdDSA)
			mineDoc, _ := mine.MarshalPrivate()
			m, th := currentKid(t, mine), currentKid(t, theirs)
			dropped := tc.drop(m, th)
			if _, err := theirs.Merge(mineDoc, at(time.Minute), func(kid string) bool { return slices.Contains(dropped, kid) }); err != nil {
				t.Fatalf("Merge = %v", err)
			}
			got := currentKid(t, theirs)
			if want := tc.wantSigner(m, th); (want == "" && (got == m || got == th)) || (want != "" && got != want) {
				t.Errorf("signer after Merge = %s; want %q (mine %s, theirs %s)", got, want, m, th)
			}
			for _, k := range theirs.Keys() {
				if slices.Contains(dropped, k.ID) {
					t.Errorf("Merge kept or took back dropped key %s", k.ID)
				}
			}
		})
	}
}
