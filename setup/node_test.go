package setup_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/setup"
)

func openNode(t *testing.T, st sessiond.Store, opts setup.Options) *setup.Node {
	t.Helper()
	n, err := setup.Open(context.Background(), st, opts)
	if err != nil {
		t.Fatalf("setup.Open: %v", err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

func newKEK(t *testing.T) *signing.KEK {
	t.Helper()
	raw := make([]byte, signing.KEKSize)
	rand.Read(raw)
	kek, err := signing.ParseKEK([]byte(base64.StdEncoding.EncodeToString(raw)))
	if err != nil {
		t.Fatal(err)
	}
	return kek
}

// reseal has another node, given kek and old, seal the stored ring with
// kek (a KEK rotation, or a KEK introduced, run elsewhere).
func reseal(t *testing.T, st sessiond.Store, kek, old *signing.KEK) {
	t.Helper()
	k, err := signing.Open(context.Background(), st.(sessiond.MetaStore), signing.Options{
		KEK: kek, OldKEKs: []*signing.KEK{old}, MaxTokenLifetime: time.Hour,
	})
	if err != nil {
		t.Fatalf("reseal: %v", err)
	}
	k.Close()
}

// kids returns the key IDs of a JWKS document.
func kids(t *testing.T, doc []byte) []string {
	t.Helper()
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
			D   string `json:"d"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		t.Fatalf("JWKS %q: %v", doc, err)
	}
	var out []string
	for _, k := range set.Keys {
		if k.D != "" {
			t.Fatalf("JWKS publishes a private key: %s", doc)
		}
		out = append(out, k.Kid)
	}
	return out
}

// kidOf returns the kid in a JWT's header.
func kidOf(t *testing.T, tok sessiond.Secret) string {
	t.Helper()
	head, _, _ := strings.Cut(string(tok), ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		t.Fatal(err)
	}
	var h struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		t.Fatal(err)
	}
	return h.Kid
}

func get(h http.Handler, method string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, "/.well-known/jwks.json", nil))
	return rec
}

// TestOpen_NotReadyWhileRingUnreadable: a process whose key ring another
// process resealed with a KEK it is not given keeps signing with the keys
// it holds but misses every rotation and kill switch made since. Its Node
// says so, as the server's /readyz and JWKS do: Ready fails and the JWKS
// is not published (it could hold a key the kill switch dropped), until
// the ring is readable again.
func TestOpen_NotReadyWhileRingUnreadable(t *testing.T) {
	ctx := context.Background()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			st, _ := b.open(t)
			mine, other := newKEK(t), newKEK(t)
			n := openNode(t, st, setup.Options{Keys: signing.Options{KEK: mine}})
			signer := kidOf(t, create(t, n.Manager, laptop).AccessToken)
			check := func(when string) {
				t.Helper()
				if err := n.Ready(ctx); err != nil {
					t.Fatalf("Ready %s = %v; want nil", when, err)
				}
				doc, err := n.JWKS()
				if err != nil || !slices.Contains(kids(t, doc), signer) {
					t.Fatalf("JWKS %s = %s, %v; want the signer %s", when, doc, err, signer)
				}
				if rec := get(n.JWKSHandler(), http.MethodGet); rec.Code != http.StatusOK {
					t.Fatalf("JWKSHandler %s = %d; want 200", when, rec.Code)
				}
			}
			check("on a readable ring")

			reseal(t, st, other, mine)
			if err := n.Keys.Sync(ctx); err == nil {
				t.Fatal("Sync of a ring sealed with a KEK the node lacks = nil; want an error")
			}
			err := n.Ready(ctx)
			if !errors.Is(err, signing.ErrRingUnreadable) || !errors.Is(err, signing.ErrKEKRequired) {
				t.Errorf("Ready while the ring is unreadable = %v; want ErrRingUnreadable and ErrKEKRequired", err)
			}
			if doc, err := n.JWKS(); !errors.Is(err, signing.ErrRingUnreadable) || doc != nil {
				t.Errorf("JWKS while the ring is unreadable = %s, %v; want nil, ErrRingUnreadable", doc, err)
			}
			rec := get(n.JWKSHandler(), http.MethodGet)
			if rec.Code != http.StatusServiceUnavailable || strings.Contains(rec.Body.String(), signer) || rec.Header().Get("Cache-Control") != "no-store" {
				t.Errorf("JWKSHandler while the ring is unreadable = %d, Cache-Control %q, body %q; want 503, no-store, no keys",
					rec.Code, rec.Header().Get("Cache-Control"), rec.Body)
			}

			reseal(t, st, mine, other)
			if err := n.Keys.Sync(ctx); err != nil {
				t.Fatalf("Sync once the ring is sealed with its KEK again = %v", err)
			}
			check("once the ring is readable again")
		})
	}
}

// downStore is a store whose Ping fails: it does not answer.
type downStore struct{ *memstore.Store }

func (downStore) Ping(context.Context) error {
	return sessiond.ErrStoreUnavailable
}

// TestNode_ReadyAsksTheStore: Ready fails when the store does not answer,
// as the server's /readyz does.
func TestNode_ReadyAsksTheStore(t *testing.T) {
	n := openNode(t, downStore{memstore.New()}, setup.Options{})
	if err := n.Ready(context.Background()); !errors.Is(err, sessiond.ErrStoreUnavailable) {
		t.Fatalf("Ready on a store that does not answer = %v; want ErrStoreUnavailable", err)
	}
}

// TestNode_JWKS: the JWKS holds the key that signs the access tokens
// whichever ring Open made; without one (the database strategy, a signer
// of the caller's) there is nothing to publish.
func TestNode_JWKS(t *testing.T) {
	ownRing, err := jwttoken.NewRing(time.Now(), jwttoken.RingOptions{MaxTokenLifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	own, err := jwttoken.New(ownRing, jwttoken.Options{Issuer: "i", Audience: "a"})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		store    sessiond.Store
		opts     setup.Options
		keys     bool // Node.Keys is set
		noRing   bool // JWKS fails with ErrUnsupported
		wantCode int
	}{
		{"Hybrid", memstore.New(), setup.Options{}, true, false, http.StatusOK},
		{"JWT", memstore.New(), setup.Options{Manager: sessiond.Options{Strategy: sessiond.StrategyJWT}}, true, false, http.StatusOK},
		{"StoreWithoutMeta", struct{ sessiond.Store }{memstore.New()}, setup.Options{}, false, false, http.StatusOK},
		{"Database", memstore.New(), setup.Options{Manager: sessiond.Options{Strategy: sessiond.StrategyDatabase}}, false, true, http.StatusNotFound},
		{"OwnSigner", memstore.New(), setup.Options{Manager: sessiond.Options{Signed: own}}, false, true, http.StatusNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := openNode(t, c.store, c.opts)
			if (n.Keys != nil) != c.keys {
				t.Errorf("Keys = %v; want set %v", n.Keys, c.keys)
			}
			if err := n.Ready(context.Background()); err != nil {
				t.Errorf("Ready = %v; want nil", err)
			}
			doc, err := n.JWKS()
			rec := get(n.JWKSHandler(), http.MethodGet)
			if rec.Code != c.wantCode {
				t.Errorf("JWKSHandler = %d; want %d", rec.Code, c.wantCode)
			}
			if c.noRing {
				if !errors.Is(err, sessiond.ErrUnsupported) {
					t.Errorf("JWKS without a ring = %s, %v; want ErrUnsupported", doc, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("JWKS = %v", err)
			}
			if kid := kidOf(t, create(t, n.Manager, laptop).AccessToken); !slices.Contains(kids(t, doc), kid) {
				t.Errorf("JWKS %s lacks the signer %s", doc, kid)
			}
			if got := kids(t, rec.Body.Bytes()); !slices.Equal(got, kids(t, doc)) {
				t.Errorf("JWKSHandler serves %v; JWKS is %v", got, kids(t, doc))
			}
		})
	}
}

// TestNode_JWKSHandler: served as the server serves it, cacheable for
// five minutes (less than signing.DefaultPublishFor, so a verifier's copy
// knows a new key before it signs); GET and HEAD only.
func TestNode_JWKSHandler(t *testing.T) {
	n := openNode(t, memstore.New(), setup.Options{})
	for _, c := range []struct {
		method       string
		code         int
		cacheControl string
		body         bool
	}{
		{http.MethodGet, http.StatusOK, "public, max-age=300", true},
		{http.MethodHead, http.StatusOK, "public, max-age=300", false},
		{http.MethodPost, http.StatusMethodNotAllowed, "", true},
	} {
		t.Run(c.method, func(t *testing.T) {
			rec := get(n.JWKSHandler(), c.method)
			if rec.Code != c.code {
				t.Fatalf("%s = %d; want %d", c.method, rec.Code, c.code)
			}
			if got := rec.Header().Get("Cache-Control"); c.cacheControl != "" && got != c.cacheControl {
				t.Errorf("Cache-Control = %q; want %q", got, c.cacheControl)
			}
			if c.code == http.StatusOK && rec.Header().Get("Content-Type") != "application/json" {
				t.Errorf("Content-Type = %q; want application/json", rec.Header().Get("Content-Type"))
			}
			if c.code == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != "GET, HEAD" {
				t.Errorf("Allow = %q; want GET, HEAD", rec.Header().Get("Allow"))
			}
			if (rec.Body.Len() > 0) != c.body {
				t.Errorf("body %q; want one: %v", rec.Body, c.body)
			}
		})
	}
}

// TestNode_JWKSHandlerMaxAge: the JWKS is cached no longer than a new key
// is published on every node before it signs (Keys.PublishFor less a
// poll), at most JWKSMaxAge: a longer cache makes verifiers refuse the new
// key's tokens after a rotation until their copy expires.
func TestNode_JWKSHandlerMaxAge(t *testing.T) {
	for _, c := range []struct {
		name string
		keys signing.Options
		want string
	}{
		{"default", signing.Options{}, "public, max-age=300"},
		{"publish for 20m", signing.Options{PublishFor: 20 * time.Minute}, "public, max-age=300"},
		{"publish for 5m02s", signing.Options{PublishFor: 5*time.Minute + 2*time.Second}, "public, max-age=300"},
		{"publish for 5m", signing.Options{PublishFor: 5 * time.Minute}, "public, max-age=298"},
		{"publish for 1m", signing.Options{PublishFor: time.Minute}, "public, max-age=58"},
		{"publish for 1m, poll 10s", signing.Options{PublishFor: time.Minute, PollEvery: 10 * time.Second}, "public, max-age=50"},
		{"poll longer than the publication", signing.Options{PublishFor: time.Second, PollEvery: time.Minute}, "public, max-age=0"},
		{"signs at once", signing.Options{PublishFor: -1}, "public, max-age=0"},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := openNode(t, memstore.New(), setup.Options{Keys: c.keys})
			rec := get(n.JWKSHandler(), http.MethodGet)
			if got := rec.Header().Get("Cache-Control"); rec.Code != http.StatusOK || got != c.want {
				t.Errorf("JWKSHandler = %d, Cache-Control %q; want 200, %q", rec.Code, got, c.want)
			}
		})
	}
}

// TestNode_Close: Close closes the Manager, whose Verify then refuses.
func TestNode_Close(t *testing.T) {
	n := openNode(t, memstore.New(), setup.Options{})
	iss := create(t, n.Manager, laptop)
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Manager.Verify(context.Background(), iss.AccessToken, laptop); !errors.Is(err, sessiond.ErrStoreUnavailable) {
		t.Fatalf("Verify after Close = %v; want ErrStoreUnavailable", err)
	}
}

// TestNode_KeysRetireAll: the kill switch through Node.Keys ends every
// access token signed before, on this Manager at once (its verify cache
// is purged), and the JWKS no longer holds the dropped key.
func TestNode_KeysRetireAll(t *testing.T) {
	ctx := context.Background()
	n := openNode(t, memstore.New(), setup.Options{})
	iss := create(t, n.Manager, laptop)
	if _, err := n.Manager.Verify(ctx, iss.AccessToken, laptop); err != nil { // cached
		t.Fatal(err)
	}
	if err := n.Keys.RetireAll(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := n.Manager.Verify(ctx, iss.AccessToken, laptop); !errors.Is(err, sessiond.ErrInvalidToken) {
		t.Errorf("Verify of a token of a retired key = %v; want ErrInvalidToken", err)
	}
	doc, err := n.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	if dropped := kidOf(t, iss.AccessToken); slices.Contains(kids(t, doc), dropped) {
		t.Errorf("JWKS %s still publishes the dropped key %s", doc, dropped)
	}
}
