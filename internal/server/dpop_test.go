package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/sessiond/sessiond/dpop"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/sessiondtest"
)

// dpopAnswer is what a create request with a DPoP proof got back.
type dpopAnswer struct {
	status int
	code   string
	nonce  string // the DPoP-Nonce header
	auth   string // the WWW-Authenticate header
}

// createBound asks node n for a session bound to p's key, the proof made
// for the app's token endpoint with nonce.
func createBound(t *testing.T, n *node, p *dpop.Prover, nonce string) dpopAnswer {
	t.Helper()
	const htu = "https://app.example/oauth/token"
	proof, err := p.Proof("POST", htu, "", nonce)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]string{"subject": "dana", "dpop_proof": proof, "htm": "POST", "htu": htu})
	resp := apiRequest(t, "POST", "http://"+n.addr+"/v1/sessions", string(testKey), "application/json", bytes.NewReader(body))
	defer resp.Body.Close()
	var problem struct{ Code string }
	_ = json.NewDecoder(resp.Body).Decode(&problem)
	return dpopAnswer{resp.StatusCode, problem.Code, resp.Header.Get("DPoP-Nonce"), resp.Header.Get("WWW-Authenticate")}
}

// TestRun_DPoPNoncesAcrossNodes (issue 17): with dpop.require_nonce, two
// nodes on one store accept each other's nonces (no sticky routing), and
// refuse with use_dpop_nonce and a fresh DPoP-Nonce: no nonce, a nonce of
// another deployment, an expired one, a malformed one. The shared secret is
// stored sealed with the signing KEK.
func TestRun_DPoPNoncesAcrossNodes(t *testing.T) {
	clock := sessiondtest.NewClock(time.Now().UTC())
	cfg := devConfig(t)
	cfg.DPoP.RequireNonce = true
	cfg.DPoP.NoncePeriod = config.Duration(time.Minute)
	cfg.Signing.KEKFile = testenv.WriteFile(t, t.TempDir(), "kek", kekText(3))
	a := start(t, server.Options{Config: cfg, Clock: clock})
	b := start(t, server.Options{Config: cfg, Clock: clock})
	otherCfg := devConfig(t) // another deployment, its own store and secret
	otherCfg.DPoP = cfg.DPoP
	other := start(t, server.Options{Config: otherCfg, Clock: clock})

	p := testenv.Prover(t, clock)
	refused := func(name string, got dpopAnswer, stale string) {
		t.Helper()
		if got.status != http.StatusUnauthorized || got.code != "use_dpop_nonce" || got.auth != `DPoP error="use_dpop_nonce"` {
			t.Errorf("%s: %d %q %q; want 401 use_dpop_nonce", name, got.status, got.code, got.auth)
		}
		if got.nonce == "" || got.nonce == stale {
			t.Errorf("%s: DPoP-Nonce %q; want a fresh nonce", name, got.nonce)
		}
	}

	first := createBound(t, a, p, "")
	refused("no nonce", first, "")
	ok := createBound(t, b, p, first.nonce)
	if ok.status != http.StatusCreated {
		t.Fatalf("node B refuses node A's nonce: %d %s", ok.status, ok.code)
	}
	if ok.nonce == "" {
		t.Error("a successful DPoP answer carries no DPoP-Nonce for the next proof")
	}
	if got := createBound(t, a, p, ok.nonce); got.status != http.StatusCreated {
		t.Fatalf("node A refuses node B's nonce: %d %s", got.status, got.code)
	}
	refused("another deployment's nonce", createBound(t, other, p, first.nonce), first.nonce)
	refused("malformed nonce", createBound(t, a, p, "not-a-nonce"), "")
	// Its last two characters changed, whatever they were ("AA" would be
	// no change for one nonce in 4,096).
	forged := first.nonce[:len(first.nonce)-2] + "AA"
	if forged == first.nonce {
		forged = first.nonce[:len(first.nonce)-2] + "BB"
	}
	refused("nonce of the right length", createBound(t, a, p, forged), "")

	clock.Advance(time.Minute) // the next period: still accepted
	if got := createBound(t, b, p, first.nonce); got.status != http.StatusCreated {
		t.Fatalf("nonce of the previous period refused: %d %s", got.status, got.code)
	}
	clock.Advance(time.Minute) // two periods on: expired
	refused("expired nonce", createBound(t, b, p, first.nonce), first.nonce)

	doc := storedDoc(t, cfg, server.NonceSecretDoc)
	if !bytes.Contains(doc, []byte(`"sealed"`)) || bytes.Contains(doc, []byte(`"secret"`)) {
		t.Fatalf("the nonce secret is not sealed: %.200s", doc)
	}
}

// TestRun_DPoPNoncesOff: by default no nonce is asked for.
func TestRun_DPoPNoncesOff(t *testing.T) {
	n := start(t, server.Options{Config: devConfig(t)})
	p := testenv.Prover(t, nil)
	if got := createBound(t, n, p, ""); got.status != http.StatusCreated || got.nonce != "" {
		t.Fatalf("without dpop.require_nonce: %d %q, DPoP-Nonce %q", got.status, got.code, got.nonce)
	}
}

// TestRun_DPoPNonceSecretSealedLater: a nonce secret stored in clear is
// sealed once a KEK is configured, and stays the same secret: a nonce
// handed out before still works after the restart.
func TestRun_DPoPNonceSecretSealedLater(t *testing.T) {
	cfg := devConfig(t)
	cfg.DPoP.RequireNonce = true
	n := start(t, server.Options{Config: cfg})
	p := testenv.Prover(t, nil)
	nonce := createBound(t, n, p, "").nonce
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	stored := func() []byte { return storedDoc(t, cfg, server.NonceSecretDoc) }
	if !bytes.Contains(stored(), []byte(`"secret"`)) {
		t.Fatalf("without a KEK the secret should be stored in clear: %.100s", stored())
	}
	env := func(name string) string {
		if name == config.EnvKEK {
			return kekText(5)
		}
		return ""
	}
	n = start(t, server.Options{Config: cfg, Getenv: env})
	if doc := stored(); !bytes.Contains(doc, []byte(`"sealed"`)) || bytes.Contains(doc, []byte(`"secret"`)) {
		t.Fatalf("with a KEK the secret is not sealed: %.100s", doc)
	}
	if got := createBound(t, n, p, nonce); got.status != http.StatusCreated {
		t.Fatalf("the nonce from before sealing is refused: %d %s", got.status, got.code)
	}
}
