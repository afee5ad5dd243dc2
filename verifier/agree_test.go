package verifier_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/verifier"

	"github.com/sessiond/sessiond/internal/testenv"
)

// agreementRow is a token the server, the Go verifier and the Node
// verifier each accept or refuse.
type agreementRow struct {
	name  string
	token string
	// server: the server's introspection (POST /oauth2/introspect, what a
	// resource server that does not verify tokens itself asks) answers the
	// token active.
	server bool
	// verifiers: the Go and the Node verifier accept it. When that differs
	// from server, why says where the difference is documented.
	verifiers bool
	why       string
}

// Where the verifiers knowingly decide otherwise than the server.
const (
	// docs/verifier.md: the verifiers require auth_time (they compare it
	// with the watermarks); the server's codec does not.
	whyAuthTime = "the verifiers require auth_time, which the server's codec does not (docs/verifier.md)"
	// docs/verifier.md: a cnf the verifier cannot enforce is no token.
	whyCnf = "the verifiers refuse a cnf without a 43-character jkt, which the server takes as unbound (docs/verifier.md)"
	// The verifiers are not told the server's strategy.
	whyStrategy = "the verifiers accept sst jwt or hybrid, not knowing the server's strategy (docs/verifier.md)"
)

// agreementRows returns the tokens of TestVerifiers_AgreeWithServer: claim
// sets and spellings the server never writes, signed with the ring's real
// key (so they need it: these are defence-in-depth checks, not forgeries),
// and a device-bound session's token. s must use DefaultLeeway, as the
// verifiers do.
func agreementRows(t *testing.T, s *server) []agreementRow {
	t.Helper()
	_, access := s.token("kim")
	priv, kid := ringSigner(t, s.ring, access)
	raw, err := base64.RawURLEncoding.DecodeString(strings.Split(access, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	var base map[string]any
	if err := json.Unmarshal(raw, &base); err != nil {
		t.Fatal(err)
	}
	now := s.clock.Now().Unix()
	iat, exp := int64(base["iat"].(float64)), int64(base["exp"].(float64))
	hdr := func() map[string]any { return map[string]any{"alg": "EdDSA", "kid": kid, "typ": "at+jwt"} }
	// claims signs the access token's claims, edited by edit.
	claims := func(edit func(m map[string]any)) string {
		m := map[string]any{}
		for k, v := range base {
			m[k] = v
		}
		edit(m)
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return signCompact(t, jwt.SigningMethodEdDSA, priv, hdr(), b)
	}
	// text signs the claims as JSON text, edited by replacing old by new.
	text := func(old, new string) string {
		if !strings.Contains(string(raw), old) {
			t.Fatalf("the access token's claims %s hold no %s", raw, old)
		}
		return signCompact(t, jwt.SigningMethodEdDSA, priv, hdr(), []byte(strings.Replace(string(raw), old, new, 1)))
	}
	// header signs the claims under a header given as JSON text.
	header := func(h string) string {
		enc := base64.RawURLEncoding
		input := enc.EncodeToString([]byte(h)) + "." + enc.EncodeToString(raw)
		sig, err := jwt.SigningMethodEdDSA.Sign(input, priv)
		if err != nil {
			t.Fatal(err)
		}
		return input + "." + enc.EncodeToString(sig)
	}
	// dup appends a member to the claims (a duplicate name, in some case).
	dup := func(member string) string {
		return signCompact(t, jwt.SigningMethodEdDSA, priv, hdr(), []byte(string(raw[:len(raw)-1])+","+member+"}"))
	}
	typ := func(typ string) string {
		return signCompact(t, jwt.SigningMethodEdDSA, priv, map[string]any{"alg": "EdDSA", "kid": kid, "typ": typ}, raw)
	}

	// Other spellings of a real token: only the signature segment can
	// change without breaking the signature.
	_, tok := s.token("nina")
	i := strings.LastIndexByte(tok, '.') + 10
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, tok[len(tok)-1])

	// A device-bound (DBSC) browser session's token.
	iss, err := s.m.Create(context.Background(), "dana", sessiond.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	jwk := json.RawMessage(`{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`)
	bound, err := s.m.BindDevice(context.Background(), iss.Session.ID, sessiond.DeviceBinding{ID: "dbsc-session-1", JKT: strings.Repeat("A", 43), JWK: jwk})
	if err != nil {
		t.Fatal(err)
	}

	accept := func(name, token string) agreementRow {
		return agreementRow{name: name, token: token, server: true, verifiers: true}
	}
	refuse := func(name, token string) agreementRow { return agreementRow{name: name, token: token} }
	return []agreementRow{
		accept("control: the access token", access),
		accept("control: claims re-signed", claims(func(map[string]any) {})),
		accept("control: typ application/at+jwt", typ("application/at+jwt")),

		// Claims.
		refuse("ext null", claims(func(m map[string]any) { m["ext"] = nil })),
		refuse("ext an array", claims(func(m map[string]any) { m["ext"] = []string{"a"} })),
		accept("ext an object", claims(func(m map[string]any) { m["ext"] = map[string]any{"plan": "pro"} })),
		refuse("sess_exp missing", claims(func(m map[string]any) { delete(m, "sess_exp") })),
		refuse("sess_exp passed", claims(func(m map[string]any) { m["sess_exp"] = now - 10 })),
		{name: "auth_time missing", token: claims(func(m map[string]any) { delete(m, "auth_time") }), server: true, why: whyAuthTime},
		{name: "auth_time negative", token: claims(func(m map[string]any) { m["auth_time"] = -5 }), server: true, why: whyAuthTime},
		{name: "sst jwt on a hybrid server", token: claims(func(m map[string]any) { m["sst"] = "jwt" }), verifiers: true, why: whyStrategy},
		refuse("sst database", claims(func(m map[string]any) { m["sst"] = "database" })),
		refuse("sub missing", claims(func(m map[string]any) { delete(m, "sub") })),
		refuse("sid missing", claims(func(m map[string]any) { delete(m, "sid") })),
		refuse("jti missing", claims(func(m map[string]any) { delete(m, "jti") })),
		refuse("aud missing", claims(func(m map[string]any) { delete(m, "aud") })),
		accept("aud an array with ours", claims(func(m map[string]any) { m["aud"] = []string{"other", audience} })),
		refuse("client_id missing", claims(func(m map[string]any) { delete(m, "client_id") })),
		refuse("client_id another", claims(func(m map[string]any) { m["client_id"] = "other" })),
		{name: "cnf with a short jkt", token: claims(func(m map[string]any) { m["cnf"] = map[string]any{"jkt": "short"} }), server: true, why: whyCnf},
		{name: "cnf an empty object", token: claims(func(m map[string]any) { m["cnf"] = map[string]any{} }), server: true, why: whyCnf},

		// Times, within and past the leeway both sides have (5 s).
		accept("iat 4s ahead", claims(func(m map[string]any) { m["iat"] = now + 4 })),
		refuse("iat 6s ahead", claims(func(m map[string]any) { m["iat"] = now + 6 })),
		accept("nbf 4s ahead", claims(func(m map[string]any) { m["nbf"] = now + 4 })),
		refuse("nbf 6s ahead", claims(func(m map[string]any) { m["nbf"] = now + 6 })),
		// Past the year 292 billion time.Unix wraps to the far past.
		refuse("nbf the largest int64", claims(func(m map[string]any) { m["nbf"] = int64(math.MaxInt64) })),
		refuse("iat the largest int64", claims(func(m map[string]any) { m["iat"], m["exp"] = int64(math.MaxInt64), int64(math.MaxInt64) })),
		accept("exp the largest int64", claims(func(m map[string]any) { m["exp"] = int64(math.MaxInt64) })),
		// sess_exp is read through the same conversion, after the cache.
		accept("sess_exp the largest int64", claims(func(m map[string]any) { m["sess_exp"] = int64(math.MaxInt64) })),
		// Above 2^53 a JavaScript number rounds: the Node verifier reads
		// 2^53+1 as 2^53, on the same side of now.
		accept("exp 2^53+1", claims(func(m map[string]any) { m["exp"] = int64(1<<53 + 1) })),
		refuse("nbf 2^53+1", claims(func(m map[string]any) { m["nbf"] = int64(1<<53 + 1) })),
		// The bottom of int64 does not wrap: a time holds it, far past.
		accept("nbf the smallest int64", claims(func(m map[string]any) { m["nbf"] = int64(math.MinInt64) })),
		accept("exp 3s ago", claims(func(m map[string]any) { m["iat"], m["exp"] = now-60, now-3 })),
		refuse("exp 6s ago", claims(func(m map[string]any) { m["iat"], m["exp"] = now-60, now-6 })),
		refuse("exp before iat", claims(func(m map[string]any) { m["exp"] = now - 2 })),
		refuse("iat as a float", text(fmt.Sprintf(`"iat":%d`, iat), fmt.Sprintf(`"iat":%d.0`, iat))),
		refuse("exp in exponent form", text(fmt.Sprintf(`"exp":%d`, exp), fmt.Sprintf(`"exp":%de0`, exp))),
		refuse("exp as a string", text(fmt.Sprintf(`"exp":%d`, exp), fmt.Sprintf(`"exp":"%d"`, exp))),

		// Duplicate and case-variant names (JSON decoders keep the last).
		accept("sub twice", dup(`"sub":"mallory"`)),
		accept("SUB besides sub", dup(`"SUB":"mallory"`)),
		refuse("IAT as a float besides iat", dup(fmt.Sprintf(`"IAT":%d.0`, iat))),

		// Header.
		refuse("typ AT+JWT", typ("AT+JWT")),
		refuse("typ Application/at+jwt", typ("Application/at+jwt")),
		refuse("typ JWT", typ("JWT")),
		accept("typ twice, at+jwt last", header(`{"alg":"EdDSA","kid":"`+kid+`","typ":"rt+jwt","typ":"at+jwt"}`)),
		accept("kid twice, ours last", header(`{"alg":"EdDSA","kid":"bogus","kid":"`+kid+`","typ":"at+jwt"}`)),

		// Spelling (docs/jwt.md rules 2 and 3).
		accept("control: the token of the spelling rows", tok),
		refuse("signature: non-zero trailing bits", tok[:len(tok)-1]+string(alphabet[last^1])),
		refuse("signature: padding", tok+"=="),
		refuse("signature: a space inside", tok[:i]+" "+tok[i:]),
		refuse("signature: a tab inside", tok[:i]+"\t"+tok[i:]),
		refuse("signature: LF inside", tok[:i]+"\n"+tok[i:]),
		refuse("signature: CRLF inside", tok[:i]+"\r\n"+tok[i:]),

		// A device-bound browser session's token, as a bearer token.
		refuse("DBSC device-bound session's token", string(bound.AccessToken)),
	}
}

// TestVerifiers_AgreeWithServer: the server, the Go verifier and the Node
// verifier decide alike on the same tokens, except where a row says why
// the verifiers differ; a row whose server answer changes fails too, so
// that the difference is looked at again. The Node verifier runs in
// sdk/node/test/agree.test.mjs on the verdicts wanted here.
func TestVerifiers_AgreeWithServer(t *testing.T) {
	t.Parallel()
	s := newServerLeeway(t, life, verifier.DefaultLeeway, nil)
	rows := agreementRows(t, s)
	v, _ := s.newVerifier(nil)
	for _, r := range rows {
		if (r.server != r.verifiers) != (r.why != "") {
			t.Fatalf("%s: a row where the verifiers differ from the server says why, and only such a row", r.name)
		}
		t.Run(r.name, func(t *testing.T) {
			if active := s.introspect(r.token); active != r.server {
				t.Errorf("the server's introspection: active = %v; want %v (the server changed: look at this row again)", active, r.server)
			}
			if c, err := v.Verify(context.Background(), r.token); (err == nil) != r.verifiers {
				t.Errorf("Verify = %+v, %v; want accepted = %v %s", c, err, r.verifiers, r.why)
			}
		})
	}

	t.Run("node", func(t *testing.T) {
		if testing.Short() {
			t.Skip("runs Node.js")
		}
		node := testenv.Node(t, "the Node.js verifier", "sdk/node", "jose")
		dir := filepath.Join(testenv.RepoRoot(), "sdk", "node")
		// A build of its own (sdk/node's test may be building dist/ now),
		// inside sdk/node so that it finds jose.
		out, err := os.MkdirTemp(dir, ".test-build-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(out) })
		if b, err := exec.Command(node, filepath.Join(dir, "node_modules/typescript/bin/tsc"), "-p", filepath.Join(dir, "tsconfig.json"),
			"--outDir", out).CombinedOutput(); err != nil {
			t.Fatalf("tsc: %v\n%s", err, b)
		}
		type nodeCase struct {
			Name   string `json:"name"`
			Token  string `json:"token"`
			Accept bool   `json:"accept"`
		}
		cases := make([]nodeCase, len(rows))
		for i, r := range rows {
			cases[i] = nodeCase{Name: r.name, Token: r.token, Accept: r.verifiers}
		}
		b, err := json.Marshal(map[string]any{"url": s.srv.URL, "apiKey": apiKey, "issuer": issuer, "audience": audience,
			"now": s.clock.Now().UnixMilli(), "cases": cases})
		if err != nil {
			t.Fatal(err)
		}
		file := filepath.Join(t.TempDir(), "cases.json")
		if err := os.WriteFile(file, b, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd := exec.CommandContext(t.Context(), node, "--test", "--test-reporter=spec", "test/agree.test.mjs")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "SESSIOND_AGREEMENT_FILE="+file, "VERIFIER_MODULE="+filepath.Join(out, "index.js"), "NO_COLOR=1")
		cmd.WaitDelay = 10 * time.Second
		b, err = cmd.CombinedOutput()
		t.Logf("node --test:\n%s", b)
		if err != nil {
			t.Fatalf("node --test: %v", err)
		}
	})
}
