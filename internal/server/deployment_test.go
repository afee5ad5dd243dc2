package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/jwttoken/signing"
)

// copyKeys puts the signing key ring of one deployment's SQLite store
// into another's: a key shared by mistake (a database cloned to staging,
// one HS256 secret used twice).
func copyKeys(t *testing.T, from, to config.Config) {
	t.Helper()
	ctx := context.Background()
	doc := storedDoc(t, from, signing.DocName)
	dst := openSQLite(t, to)
	defer dst.Close()
	_, version, err := dst.GetMeta(ctx, signing.DocName)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dst.PutMeta(ctx, signing.DocName, doc, version); err != nil {
		t.Fatal(err)
	}
}

// TestRun_DeploymentsRejectEachOthersTokens (issue 14): two deployments
// with the default issuer and audience never accept each other's tokens,
// even when they share the signing key; a deployment keeps its identity
// across restarts; explicit names apply as written (two deployments given
// the same names and key do accept each other's tokens, which shows the
// key really is shared).
func TestRun_DeploymentsRejectEachOthersTokens(t *testing.T) {
	ctx := context.Background()
	cfgA, cfgB := devConfig(t), devConfig(t)
	a := start(t, server.Options{Config: cfgA})
	b := start(t, server.Options{Config: cfgB})
	copyKeys(t, cfgA, cfgB)
	login, err := apiClient(t, a).CreateSession(ctx, client.CreateRequest{Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := apiClient(t, b).Verify(ctx, login.AccessToken, nil); !errors.Is(err, sessiond.ErrInvalidToken) {
		t.Fatalf("deployment B on A's token = %v; want token_invalid", err)
	}
	// B holds A's keys (and, taking A's ring for a store that lost its
	// own, its own as retired keys: storereset): what B refuses, it does
	// not refuse for want of the key.
	ja, _ := apiClient(t, a).JWKS(ctx)
	jb, _ := apiClient(t, b).JWKS(ctx)
	var sa struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if json.Unmarshal(ja, &sa) != nil || len(sa.Keys) == 0 {
		t.Fatalf("A's JWKS unreadable: %s", ja)
	}
	for _, k := range sa.Keys {
		if !bytes.Contains(jb, []byte(`"`+k.Kid+`"`)) {
			t.Fatalf("the test failed to share A's signing key %s with B", k.Kid)
		}
	}

	// A restarted is the same deployment.
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	a2 := start(t, server.Options{Config: cfgA})
	if _, err := apiClient(t, a2).Verify(ctx, login.AccessToken, nil); err != nil {
		t.Fatalf("after a restart deployment A rejects its own token: %v", err)
	}

	cfgC, cfgD := devConfig(t), devConfig(t)
	for _, c := range []*config.Config{&cfgC, &cfgD} {
		c.JWT.Issuer, c.JWT.Audience = "https://auth.example.test", "https://api.example.test"
	}
	c := start(t, server.Options{Config: cfgC})
	d := start(t, server.Options{Config: cfgD})
	copyKeys(t, cfgC, cfgD)
	login, err = apiClient(t, c).CreateSession(ctx, client.CreateRequest{Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if iss, aud := claimsOf(t, login.AccessToken); iss != cfgC.JWT.Issuer || len(aud) != 1 || aud[0] != cfgC.JWT.Audience {
		t.Errorf("explicit names: iss %q aud %q", iss, aud)
	}
	if _, err := apiClient(t, d).Verify(ctx, login.AccessToken, nil); err != nil {
		t.Errorf("same explicit names and key: %v", err)
	}
}

// claimsOf decodes a JWT's payload (no verification: the test only reads).
func claimsOf(t *testing.T, tok sessiond.Secret) (iss string, aud []string) {
	t.Helper()
	parts := strings.Split(string(tok), ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Iss string          `json:"iss"`
		Aud json.RawMessage `json:"aud"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(c.Aud, &aud); err != nil {
		var one string
		if err := json.Unmarshal(c.Aud, &one); err != nil {
			t.Fatal(err)
		}
		aud = []string{one}
	}
	return c.Iss, aud
}

// TestRun_LegacyStoreKeepsSharedNames: a store that already held a key
// ring (tokens issued with the old shared defaults) keeps "sessiond", so an
// upgrade does not log everyone out; a new store gets unique names.
func TestRun_LegacyStoreKeepsSharedNames(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		legacy  bool
		wantIss func(string) bool
	}{
		{"new store", false, func(iss string) bool {
			return strings.HasPrefix(iss, "urn:sessiond:") && len(iss) > len("urn:sessiond:")+20
		}},
		{"store with a key ring", true, func(iss string) bool { return iss == "sessiond" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := devConfig(t)
			if tc.legacy {
				store := openSQLite(t, cfg)
				ring, err := jwttoken.NewRing(time.Now(), jwttoken.RingOptions{MaxTokenLifetime: time.Hour})
				if err != nil {
					t.Fatal(err)
				}
				doc, err := ring.MarshalPrivate() // the version-1 document
				if err != nil {
					t.Fatal(err)
				}
				if _, err := store.PutMeta(ctx, signing.DocName, doc, 0); err != nil {
					t.Fatal(err)
				}
				store.Close()
			}
			n := start(t, server.Options{Config: cfg})
			login, err := apiClient(t, n).CreateSession(ctx, client.CreateRequest{Subject: "alice"})
			if err != nil {
				t.Fatal(err)
			}
			iss, aud := claimsOf(t, login.AccessToken)
			if !tc.wantIss(iss) || len(aud) != 1 || (tc.legacy && aud[0] != "sessiond") || (!tc.legacy && aud[0] != iss+":api") {
				t.Errorf("iss %q, aud %q", iss, aud)
			}
		})
	}
}

// TestRun_InvalidDeploymentDocument: a deployment document that is not
// one the server wrote stops it instead of being replaced (a new identity
// would log every session out).
func TestRun_InvalidDeploymentDocument(t *testing.T) {
	ctx := context.Background()
	for name, doc := range map[string]string{"not JSON": `{"id":`, "no id": `{"issuer":"x"}`, "empty": ``} {
		t.Run(name, func(t *testing.T) {
			cfg := devConfig(t)
			store := openSQLite(t, cfg)
			if _, err := store.PutMeta(ctx, server.DeploymentDoc, []byte(doc), 0); err != nil {
				t.Fatal(err)
			}
			store.Close()
			err := server.Run(ctx, server.Options{Config: cfg, APIKey: testKey})
			if !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Errorf("Run = %v; want ErrInvalidArgument", err)
			}
		})
	}
}
