package signing_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/sessiondtest"
)

func newKEK(t *testing.T) *signing.KEK {
	t.Helper()
	raw := make([]byte, signing.KEKSize)
	_, _ = rand.Read(raw)
	k, err := signing.ParseKEK([]byte(base64.StdEncoding.EncodeToString(raw) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func openKEK(ctx context.Context, meta sessiond.MetaStore, kek *signing.KEK, old ...*signing.KEK) (*signing.Keys, error) {
	return signing.Open(ctx, meta, signing.Options{MaxTokenLifetime: 24 * time.Hour, Clock: sessiondtest.NewClock(t0),
		KEK: kek, OldKEKs: old})
}

// secrets returns every private JWK member of the ring's keys, base64url
// as it would appear in a document in clear.
func secrets(t *testing.T, r *jwttoken.KeyRing) []string {
	t.Helper()
	doc, err := r.MarshalPrivate()
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Keys []struct {
			JWK map[string]any `json:"jwk"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range d.Keys {
		for _, m := range []string{"d", "k"} {
			if v, ok := k.JWK[m].(string); ok {
				out = append(out, v)
			}
		}
	}
	if len(out) == 0 {
		t.Fatal("the ring has no private member to look for")
	}
	return out
}

func stored(t *testing.T, meta sessiond.MetaStore) []byte {
	t.Helper()
	doc, _, err := meta.GetMeta(context.Background(), signing.DocName)
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func sealedWith(t *testing.T, doc []byte) string {
	t.Helper()
	var s struct {
		Sealed *struct {
			KEK string `json:"kek"`
		} `json:"sealed"`
	}
	if err := json.Unmarshal(doc, &s); err != nil {
		t.Fatal(err)
	}
	if s.Sealed == nil {
		return ""
	}
	return s.Sealed.KEK
}

// TestKeys_SealedAtRest (issue 14): with a KEK, the stored document holds
// no key material on any store, a plaintext ring is sealed at the next
// start, and without the right KEK a node refuses to start.
func TestKeys_SealedAtRest(t *testing.T) {
	ctx := context.Background()
	for _, st := range metaStores(t) {
		t.Run(st.name, func(t *testing.T) {
			plain, err := openKEK(ctx, st.reopen(t), nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := plain.Rotate(ctx); err != nil { // two keys: current and next
				t.Fatal(err)
			}
			material := secrets(t, plain.Ring())
			doc := stored(t, st.reopen(t))
			for _, m := range material {
				if !bytes.Contains(doc, []byte(m)) {
					t.Fatalf("the test cannot see key material in a ring stored in clear: %s", doc)
				}
			}

			kek := newKEK(t)
			sealed, err := openKEK(ctx, st.reopen(t), kek)
			if err != nil {
				t.Fatalf("start with a KEK on a ring in clear: %v", err)
			}
			if got, want := sealed.Ring().Keys(), plain.Ring().Keys(); len(got) != len(want) || got[0].ID != want[0].ID || got[1].ID != want[1].ID {
				t.Errorf("sealing changed the keys: %+v; want %+v", got, want)
			}
			doc = stored(t, st.reopen(t))
			for _, m := range material {
				if bytes.Contains(doc, []byte(m)) {
					t.Errorf("stored document still holds key material after sealing")
				}
			}
			for _, leak := range []string{`"d"`, `"jwk"`, `"keys"`, `"kid"`} {
				if bytes.Contains(doc, []byte(leak)) {
					t.Errorf("stored document shows %s in clear: %s", leak, doc)
				}
			}
			if got := sealedWith(t, doc); got != kek.ID {
				t.Errorf("sealed with %q; want the KEK %q", got, kek.ID)
			}
			// Later writes stay sealed.
			if err := sealed.RetireAll(ctx); err != nil {
				t.Fatal(err)
			}
			doc = stored(t, st.reopen(t))
			for _, m := range secrets(t, sealed.Ring()) {
				if bytes.Contains(doc, []byte(m)) {
					t.Error("a write after sealing stored key material in clear")
				}
			}

			if _, err := openKEK(ctx, st.reopen(t), nil); !errors.Is(err, signing.ErrKEKRequired) {
				t.Errorf("start without a KEK on a sealed ring = %v; want ErrKEKRequired", err)
			}
			if _, err := openKEK(ctx, st.reopen(t), newKEK(t)); !errors.Is(err, signing.ErrKEKRequired) {
				t.Errorf("start with another KEK = %v; want ErrKEKRequired", err)
			}
			again, err := openKEK(ctx, st.reopen(t), kek)
			if err != nil {
				t.Fatal(err)
			}
			if again.Ring().Keys()[0].ID != sealed.Ring().Keys()[0].ID {
				t.Error("restart with the KEK reads another ring")
			}
		})
	}
}

// TestKeys_KEKRotation: the documented rotation. With the new KEK as KEK
// and the old one in OldKEKs, a start reseals the ring with the new KEK;
// afterwards the old KEK alone no longer opens it, and the new one does.
// A running node holding both adopts changes sealed with either.
func TestKeys_KEKRotation(t *testing.T) {
	ctx := context.Background()
	store := metaStores(t)[1].reopen(t) // sqlite
	oldKEK, newKEK := newKEK(t), newKEK(t)
	first, err := openKEK(ctx, store, oldKEK)
	if err != nil {
		t.Fatal(err)
	}
	kid := first.Ring().Keys()[0].ID
	// Step 1: every node learns the new KEK, for opening only.
	running, err := openKEK(ctx, store, oldKEK, newKEK)
	if err != nil {
		t.Fatal(err)
	}
	if got := sealedWith(t, stored(t, store)); got != oldKEK.ID {
		t.Fatalf("a node with the new KEK only for opening resealed the ring (%s)", got)
	}
	// Step 2: nodes switch; the first to start reseals.
	switched, err := openKEK(ctx, store, newKEK, oldKEK)
	if err != nil {
		t.Fatal(err)
	}
	if got := sealedWith(t, stored(t, store)); got != newKEK.ID {
		t.Fatalf("after the switch the ring is sealed with %s; want the new KEK %s", got, newKEK.ID)
	}
	if switched.Ring().Keys()[0].ID != kid {
		t.Error("resealing changed the keys")
	}
	if err := switched.RetireAll(ctx); err != nil {
		t.Fatal(err)
	}
	if err := running.Sync(ctx); err != nil {
		t.Fatalf("a node holding both KEKs cannot follow the resealed ring: %v", err)
	}
	if running.Ring().Keys()[0].ID != switched.Ring().Keys()[0].ID {
		t.Error("the running node did not adopt the change")
	}
	// Step 3: the old KEK is retired.
	if _, err := openKEK(ctx, store, oldKEK); !errors.Is(err, signing.ErrKEKRequired) {
		t.Errorf("the old KEK alone = %v; want ErrKEKRequired", err)
	}
	if _, err := openKEK(ctx, store, newKEK); err != nil {
		t.Errorf("the new KEK alone: %v", err)
	}
}

// TestKeys_SealedTampered: a sealed document changed in any byte of its
// ciphertexts, or with its parts swapped, is refused.
func TestKeys_SealedTampered(t *testing.T) {
	ctx := context.Background()
	kek := newKEK(t)
	for _, part := range []string{"dek", "data", "swap"} {
		t.Run(part, func(t *testing.T) {
			store := metaStores(t)[0].reopen(t)
			if _, err := openKEK(ctx, store, kek); err != nil {
				t.Fatal(err)
			}
			doc, version, err := store.GetMeta(ctx, signing.DocName)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(doc, &m); err != nil {
				t.Fatal(err)
			}
			s := m["sealed"].(map[string]any)
			if part == "swap" {
				s["dek"], s["data"] = s["data"], s["dek"]
			} else {
				b, _ := base64.StdEncoding.DecodeString(s[part].(string))
				b[len(b)/2] ^= 1
				s[part] = base64.StdEncoding.EncodeToString(b)
			}
			bad, _ := json.Marshal(m)
			if _, err := store.PutMeta(ctx, signing.DocName, bad, version); err != nil {
				t.Fatal(err)
			}
			if _, err := openKEK(ctx, store, kek); err == nil {
				t.Error("a tampered sealed ring was accepted")
			}
		})
	}
}

func TestParseKEK(t *testing.T) {
	raw := bytes.Repeat([]byte{0xfb}, 32)
	for _, tc := range []struct {
		name string
		in   string
		ok   bool
	}{
		{"standard base64", base64.StdEncoding.EncodeToString(raw), true},
		{"url base64 unpadded, newline", base64.RawURLEncoding.EncodeToString(raw) + "\n", true},
		{"empty", "", false},
		{"not base64", "this is not a key!", false},
		{"16 bytes", base64.StdEncoding.EncodeToString(raw[:16]), false},
		{"33 bytes", base64.StdEncoding.EncodeToString(append(raw, 1)), false},
		{"raw bytes", string(raw), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := signing.ParseKEK([]byte(tc.in))
			if (err == nil) != tc.ok {
				t.Fatalf("ParseKEK = %v, %v; want ok %v", k, err, tc.ok)
			}
			if err != nil && strings.Contains(err.Error(), tc.in) && tc.in != "" {
				t.Errorf("error quotes the input: %v", err)
			}
		})
	}
}

// TestKeys_RejectsMalformedDocument: a stored document that is not one
// this version wrote or can read stops the node with an error, never a
// panic, and never a fresh ring written over it.
func TestKeys_RejectsMalformedDocument(t *testing.T) {
	ctx := context.Background()
	for name, doc := range map[string]string{
		"not JSON":              `{"format":`,
		"unknown format":        `{"format":3,"payload":{}}`,
		"both payload and seal": `{"format":2,"payload":{"ring":{}},"sealed":{"kek":"x","dek":"","data":""}}`,
		"neither":               `{"format":2}`,
		"unknown field":         `{"format":2,"payload":{"ring":{}},"extra":1}`,
		"payload not a ring":    `{"format":2,"payload":{"ring":{"version":1,"keys":[]}}}`,
		"sealed not base64":     `{"format":2,"sealed":{"kek":"x","dek":"!!","data":"!!"}}`,
		"empty":                 ``,
	} {
		t.Run(name, func(t *testing.T) {
			store := metaStores(t)[0].reopen(t)
			if _, err := store.PutMeta(ctx, signing.DocName, []byte(doc), 0); err != nil {
				t.Fatal(err)
			}
			if _, err := openKEK(ctx, store, newKEK(t)); err == nil {
				t.Fatal("Open accepted a malformed document")
			}
			if got := stored(t, store); string(got) != doc {
				t.Errorf("Open overwrote the malformed document")
			}
		})
	}
}

// TestSealDocument: another secret sealed as the key ring is opens with
// the KEK that sealed it (among several), and with nothing else: no KEK,
// another KEK, another document name, a flipped byte.
func TestSealDocument(t *testing.T) {
	k, other := newKEK(t), newKEK(t)
	plain := []byte("a shared secret")
	sealed, err := k.SealDocument("dpop_nonce", plain)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(sealed, plain) {
		t.Fatal("the sealed document holds the secret in clear")
	}
	got, id, err := signing.OpenDocument("dpop_nonce", sealed, nil, other, k)
	if err != nil || !bytes.Equal(got, plain) || id != k.ID {
		t.Fatalf("OpenDocument = %q, %q, %v", got, id, err)
	}
	if _, _, err := signing.OpenDocument("dpop_nonce", sealed); !errors.Is(err, signing.ErrKEKRequired) {
		t.Errorf("no KEK: err = %v; want ErrKEKRequired", err)
	}
	if _, _, err := signing.OpenDocument("dpop_nonce", sealed, other); !errors.Is(err, signing.ErrKEKRequired) {
		t.Errorf("another KEK: err = %v; want ErrKEKRequired", err)
	}
	if _, _, err := signing.OpenDocument(signing.DocName, sealed, k); err == nil {
		t.Error("opened as another document")
	}
	var s struct {
		KEK  string `json:"kek"`
		DEK  []byte `json:"dek"`
		Data []byte `json:"data"`
	}
	if err := json.Unmarshal(sealed, &s); err != nil {
		t.Fatal(err)
	}
	s.Data[len(s.Data)-1] ^= 1
	tampered, _ := json.Marshal(s)
	if _, _, err := signing.OpenDocument("dpop_nonce", tampered, k); err == nil {
		t.Error("a tampered document opened")
	}
	if _, _, err := signing.OpenDocument("dpop_nonce", []byte(`{"secret":"x"}`), k); err == nil {
		t.Error("a document in clear opened as sealed")
	}
}

// noMaterial fails t when the stored document shows a private key of the
// ring in clear.
func noMaterial(t *testing.T, meta sessiond.MetaStore, r *jwttoken.KeyRing) {
	t.Helper()
	doc := stored(t, meta)
	for _, m := range secrets(t, r) {
		if bytes.Contains(doc, []byte(m)) {
			t.Fatalf("the stored document holds key material in clear: %.200s", doc)
		}
	}
}

// TestKeys_OldKEKsOnly: a node given KEKs only as old ones (step 1 of
// introducing a KEK, or one whose current KEK went missing) opens a ring
// sealed with one of them, and its changes keep it sealed with that KEK:
// none writes private keys back in clear, and a ring in clear is not
// sealed by it (no node seals before every node can open). A ring sealed
// with a KEK it is not given is refused, and stays as it is.
func TestKeys_OldKEKsOnly(t *testing.T) {
	ctx := context.Background()
	kek := newKEK(t)
	cases := []struct {
		name   string
		sealer *signing.KEK // the KEK the ring is stored under at first; nil in clear
		want   string       // the KEK ID the ring stays sealed with; "" in clear
		err    error        // Open's error
	}{
		{"in clear", nil, "", nil},
		{"sealed with it", kek, kek.ID, nil},
		{"sealed with another", newKEK(t), "", signing.ErrKEKRequired},
	}
	for _, tc := range cases {
		for _, st := range metaStores(t) {
			t.Run(tc.name+"/"+st.name, func(t *testing.T) {
				meta := sessiondtest.NewLosingMeta(st.reopen(t))
				first, err := openKEK(ctx, meta, tc.sealer)
				if err != nil {
					t.Fatal(err)
				}
				before := stored(t, meta)
				k, err := openKEK(ctx, meta, nil, kek)
				if tc.err != nil {
					if !errors.Is(err, tc.err) {
						t.Errorf("Open with only old KEKs = %v; want %v", err, tc.err)
					}
					if got := stored(t, meta); !bytes.Equal(got, before) {
						t.Error("the refused Open changed the stored ring")
					}
					return
				}
				if err != nil {
					t.Fatalf("Open with only old KEKs = %v; want the ring opened", err)
				}
				if got, want := currentKid(t, k), currentKid(t, first); got != want {
					t.Errorf("signer = %s; want the stored one, %s", got, want)
				}
				if got := stored(t, meta); !bytes.Equal(got, before) {
					t.Error("Open with only old KEKs rewrote the stored ring")
				}
				changes := []struct {
					name string
					fn   func() error
				}{
					{"Rotate", func() error { return k.Rotate(ctx) }},
					{"RetireAll", func() error { return k.RetireAll(ctx) }},
					{"a lost store written back", func() error { meta.Lose(); return k.Sync(ctx) }},
				}
				for _, c := range changes {
					if err := c.fn(); err != nil {
						t.Fatalf("%s: %v", c.name, err)
					}
					if got := sealedWith(t, stored(t, meta)); got != tc.want {
						t.Errorf("after %s the ring is sealed with %q; want %q", c.name, got, tc.want)
					}
					if tc.want != "" {
						noMaterial(t, meta, k.Ring())
					}
					if err := k.Ready(); err != nil {
						t.Errorf("after %s: Ready = %v", c.name, err)
					}
				}
			})
		}
	}
}

// TestKeys_KEKIntroduction: the documented way to introduce a KEK into a
// running cluster (docs/operations.md, "Signing keys at rest"). Step 1
// gives every node the KEK as an old one: nothing is sealed. Step 2 makes
// it the KEK, node by node: the first to start seals, and the nodes still
// on step 1 follow the sealed ring (ready throughout), sign and verify
// with the others, and keep it sealed when they change it.
func TestKeys_KEKIntroduction(t *testing.T) {
	ctx := context.Background()
	for _, st := range metaStores(t) {
		t.Run(st.name, func(t *testing.T) {
			meta := st.reopen(t)
			kek := newKEK(t)
			open := func(kek *signing.KEK, old ...*signing.KEK) *signing.Keys {
				t.Helper()
				k, err := openKEK(ctx, meta, kek, old...)
				if err != nil {
					t.Fatal(err)
				}
				return k
			}
			ready := func(step string, nodes ...*signing.Keys) {
				t.Helper()
				for i, k := range nodes {
					if err := k.Sync(ctx); err != nil {
						t.Fatalf("%s: node %d: Sync = %v", step, i, err)
					}
					if err := k.Ready(); err != nil {
						t.Fatalf("%s: node %d: Ready = %v", step, i, err)
					}
				}
				for i, k := range nodes {
					for j, other := range nodes {
						if _, err := codec(t, other).Verify(sessiond.KindAccess, sign(t, k), t0); err != nil {
							t.Errorf("%s: node %d rejects a token node %d signed: %v", step, j, i, err)
						}
					}
				}
			}
			a, b := open(nil), open(nil) // a cluster in clear
			ready("before", a, b)

			// Step 1: every node restarted with the KEK as an old one.
			a, b = open(nil, kek), open(nil, kek)
			if err := a.Rotate(ctx); err != nil {
				t.Fatal(err)
			}
			ready("step 1", a, b)
			if got := sealedWith(t, stored(t, meta)); got != "" {
				t.Fatalf("step 1 sealed the ring with %s; want it in clear until step 2", got)
			}

			// Step 2: a restarts with it as the KEK and seals; b, still on
			// step 1, follows.
			a = open(kek)
			if got := sealedWith(t, stored(t, meta)); got != kek.ID {
				t.Fatalf("step 2's first start left the ring sealed with %q; want %s", got, kek.ID)
			}
			ready("step 2, b on step 1", a, b)
			if err := a.RetireAll(ctx); err != nil { // the kill switch on the sealing node
				t.Fatal(err)
			}
			ready("kill switch on a", a, b)
			if err := b.RetireAll(ctx); err != nil { // and on the node still on step 1
				t.Fatal(err)
			}
			if got := sealedWith(t, stored(t, meta)); got != kek.ID {
				t.Fatalf("a change by a node on step 1 left the ring sealed with %q; want %s", got, kek.ID)
			}
			noMaterial(t, meta, b.Ring())
			ready("kill switch on b", a, b)

			b = open(kek)
			ready("step 2 done", a, b)
			if got := sealedWith(t, stored(t, meta)); got != kek.ID {
				t.Errorf("after step 2 the ring is sealed with %q; want %s", got, kek.ID)
			}
		})
	}
}

// TestKEK_DeriveKey: a derived key depends on the KEK and the label, is
// the same each time, and a KEK not made by
// ParseKEK has none.
func TestKEK_DeriveKey(t *testing.T) {
	kek := func() *signing.KEK {
		b := make([]byte, signing.KEKSize)
		if _, err := rand.Read(b); err != nil {
			t.Fatal(err)
		}
		k, err := signing.ParseKEK([]byte(base64.StdEncoding.EncodeToString(b)))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	a, b := kek(), kek()
	derive := func(k *signing.KEK, label string) string {
		d, err := k.DeriveKey(label)
		if err != nil || len(d) != 32 {
			t.Fatalf("DeriveKey(%q) = %d bytes, %v; want 32, nil", label, len(d), err)
		}
		return string(d)
	}
	if derive(a, "x") != derive(a, "x") {
		t.Error("DeriveKey is not deterministic")
	}
	if derive(a, "x") == derive(a, "y") {
		t.Error("two labels give one key")
	}
	if derive(a, "x") == derive(b, "x") {
		t.Error("two KEKs give one key")
	}
	if _, err := (&signing.KEK{}).DeriveKey("x"); err == nil {
		t.Error("DeriveKey of a KEK not made by ParseKEK = nil error")
	}
	// The derivation is stored (node_settings' secret fingerprints): a
	// version that derived otherwise would report every secret as drift
	// against the nodes not yet upgraded. HKDF-SHA256 (RFC 5869) of the
	// KEK with no salt, info "sessiond kek derive: <label>", computed
	// apart from this code (Python's hmac).
	fixed, err := signing.ParseKEK([]byte(base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := hex.EncodeToString([]byte(derive(fixed, "node settings"))), "5c59b751210c5466bd71235d57a07d7eb6223b673a0bc057ab965ac909567a31"; got != want {
		t.Errorf("DeriveKey(%q) = %s; want %s", "node settings", got, want)
	}
}
