package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/jwttoken/signing"
)

func kekText(b byte) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{b}, 32)) }

// TestRun_SealsSigningKeys: a server given a KEK stores the signing keys
// sealed; restarted without it, it refuses to start with ErrKEKRequired;
// with SESSIOND_KEK instead of the file it starts.
func TestRun_SealsSigningKeys(t *testing.T) {
	cfg := devConfig(t)
	cfg.Signing.KEKFile = testenv.WriteFile(t, t.TempDir(), "kek", kekText(7)+"\n")
	n := start(t, server.Options{Config: cfg})
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	doc := storedDoc(t, cfg, signing.DocName)
	if bytes.Contains(doc, []byte(`"jwk"`)) || !bytes.Contains(doc, []byte(`"sealed"`)) {
		t.Fatalf("stored key ring is not sealed: %.200s", doc)
	}

	noKEK := cfg
	noKEK.Signing.KEKFile = ""
	err := server.Run(context.Background(), server.Options{Config: noKEK, APIKey: testKey, Getenv: func(string) string { return "" }})
	if !errors.Is(err, signing.ErrKEKRequired) {
		t.Fatalf("start without the KEK = %v; want ErrKEKRequired", err)
	}
	env := func(name string) string {
		if name == config.EnvKEK {
			return kekText(7)
		}
		return ""
	}
	start(t, server.Options{Config: noKEK, Getenv: env})
}

func TestSigningKEKs(t *testing.T) {
	dir := t.TempDir()
	good, other, short := testenv.WriteFile(t, dir, "good", kekText(1)), testenv.WriteFile(t, dir, "other", kekText(2)), testenv.WriteFile(t, dir, "short", "c2hvcnQ=")
	// A KEK, then enough to pass the bound: the file is refused unread.
	big := testenv.WriteFile(t, dir, "big", kekText(3)+"\n"+strings.Repeat("#", config.MaxSecretFileSize))
	subdir := filepath.Join(dir, "subdir")
	if err := os.Mkdir(subdir, 0o700); err != nil {
		t.Fatal(err)
	}
	envWith := func(v string) func(string) string {
		return func(name string) string {
			if name == config.EnvKEK {
				return v
			}
			return ""
		}
	}
	parse := func(text string) *signing.KEK {
		k, err := signing.ParseKEK([]byte(text))
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	for _, tc := range []struct {
		name    string
		file    string
		old     []string
		env     string
		wantKEK string // ID, "" for none
		wantOld int
		wantErr bool
		wantIs  error  // with wantErr: the error it matches, if any
		inErr   string // with wantErr: what the error names
	}{
		{name: "none"},
		{name: "file", file: good, wantKEK: parse(kekText(1)).ID},
		{name: "env", env: kekText(2), wantKEK: parse(kekText(2)).ID},
		{name: "file wins over env", file: good, env: kekText(2), wantKEK: parse(kekText(1)).ID},
		{name: "old files", file: good, old: []string{other}, wantKEK: parse(kekText(1)).ID, wantOld: 1},
		{name: "short file", file: short, wantErr: true},
		{name: "missing file", file: filepath.Join(dir, "nope"), wantErr: true},
		{name: "bad env", env: "not base64!", wantErr: true},
		{name: "bad old file", old: []string{short}, wantErr: true},
		{name: "oversized file", file: big, wantErr: true, wantIs: config.ErrSecretTooLarge, inErr: "signing.kek_file: " + big},
		{name: "directory", file: subdir, wantErr: true, wantIs: config.ErrSecretNotRegular, inErr: "signing.kek_file: " + subdir},
		{name: "oversized old file", file: good, old: []string{other, big}, wantErr: true, wantIs: config.ErrSecretTooLarge, inErr: "signing.old_kek_files[1]: " + big},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Signing.KEKFile, cfg.Signing.OldKEKFiles = tc.file, tc.old
			kek, old, err := server.SigningKEKs(cfg, envWith(tc.env))
			if (err != nil) != tc.wantErr {
				t.Fatalf("SigningKEKs = %v; want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				if tc.wantIs != nil && !errors.Is(err, tc.wantIs) || !strings.Contains(err.Error(), tc.inErr) {
					t.Errorf("SigningKEKs = %v; want %v naming %q", err, tc.wantIs, tc.inErr)
				}
				return
			}
			gotID := ""
			if kek != nil {
				gotID = kek.ID
			}
			if gotID != tc.wantKEK || len(old) != tc.wantOld {
				t.Errorf("SigningKEKs = %q, %d old; want %q, %d", gotID, len(old), tc.wantKEK, tc.wantOld)
			}
		})
	}
}

// Step 2 of a KEK rotation (docs/operations.md) restarts every node with
// the old KEK as an old one; after it nothing may still need the old KEK,
// whichever features are on: the Shared Signals streams' push secrets and
// the DPoP nonce secret (made while dpop.require_nonce was on, off now)
// are sealed again with the new KEK, as the signing ring is.
func TestRun_KEKRotationResealsEverySecret(t *testing.T) {
	dir := t.TempDir()
	oldFile, newFile := testenv.WriteFile(t, dir, "kek", kekText(1)+"\n"), testenv.WriteFile(t, dir, "kek-new", kekText(2)+"\n")
	oldKEK, err := signing.ParseKEK([]byte(kekText(1)))
	if err != nil {
		t.Fatal(err)
	}
	cfg := devConfig(t)
	cfg.Signing.KEKFile = oldFile
	cfg = secretsStored(t, server.Options{Config: cfg}, "receiver-secret-5f0c2b7e9d8a4163")
	for _, doc := range []string{signing.DocName, "ssf.streams", server.NonceSecretDoc} {
		if !bytes.Contains(storedDoc(t, cfg, doc), []byte(oldKEK.ID)) {
			t.Fatalf("%s is not sealed with the first KEK before the rotation", doc)
		}
	}

	cfg.DPoP.RequireNonce = false
	// Step 1: the new KEK as an old one; step 2: swapped.
	cfg.Signing.OldKEKFiles = []string{newFile}
	if err := start(t, server.Options{Config: cfg}).stop(); err != nil {
		t.Fatal(err)
	}
	cfg.Signing.KEKFile, cfg.Signing.OldKEKFiles = newFile, []string{oldFile}
	if err := start(t, server.Options{Config: cfg}).stop(); err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{signing.DocName, "ssf.streams", server.NonceSecretDoc} {
		if d := storedDoc(t, cfg, doc); bytes.Contains(d, []byte(oldKEK.ID)) || !bytes.Contains(d, []byte("sealed")) {
			t.Errorf("after step 2 %s still needs the old KEK (or is not sealed): %.200s", doc, d)
		}
	}
	// Step 3: the old KEK is gone; the stream's push secret still opens.
	cfg.Signing.OldKEKFiles = nil
	n := start(t, server.Options{Config: cfg})
	res := apiRequest(t, http.MethodGet, "http://"+n.addr+"/v1/ssf/streams", string(testKey), "", nil)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(b), "127.0.0.1:9/ssf") {
		t.Errorf("streams after step 3 = %d %s", res.StatusCode, b)
	}
}

// TestRun_KEKIntroductionSealsEverySecret: once a KEK is introduced (two
// steps, docs/operations.md; step 2 empties signing.old_kek_files) every
// secret kept in the store before it, in clear, is sealed with it,
// whichever features are on: the Shared Signals streams' push secrets (in
// clear "only when no KEK is configured", docs/shared-signals.md) and the
// DPoP nonce secret (made while dpop.require_nonce was on, off now), as
// the signing ring is. A later start writes nothing more.
func TestRun_KEKIntroductionSealsEverySecret(t *testing.T) {
	kekFile := testenv.WriteFile(t, t.TempDir(), "kek", kekText(4)+"\n")
	kek, err := signing.ParseKEK([]byte(kekText(4)))
	if err != nil {
		t.Fatal(err)
	}
	cfg := secretsStored(t, server.Options{Config: devConfig(t), Getenv: noEnv}, "receiver-secret-7c2e9a4b1d3f6058")
	if !bytes.Contains(storedDoc(t, cfg, "ssf.streams"), []byte("receiver-secret")) {
		t.Fatal("the push secret is not in clear before the KEK is introduced")
	}

	cfg.DPoP.RequireNonce = false
	step1 := cfg
	step1.Signing.OldKEKFiles = []string{kekFile}
	if err := start(t, server.Options{Config: step1, Getenv: noEnv}).stop(); err != nil {
		t.Fatal(err)
	}
	step2 := cfg
	step2.Signing.KEKFile = kekFile
	if err := start(t, server.Options{Config: step2, Getenv: noEnv}).stop(); err != nil {
		t.Fatal(err)
	}
	docs := []string{signing.DocName, "ssf.streams", server.NonceSecretDoc}
	sealed := map[string][]byte{}
	for _, doc := range docs {
		d := storedDoc(t, cfg, doc)
		if bytes.Contains(d, []byte("receiver-secret")) || bytes.Contains(d, []byte(`"secret"`)) || !bytes.Contains(d, []byte(kek.ID)) {
			t.Errorf("after step 2 %s is not sealed with the KEK %s: %.300s", doc, kek.ID, d)
		}
		sealed[doc] = d
	}
	if err := start(t, server.Options{Config: step2, Getenv: noEnv}).stop(); err != nil {
		t.Fatal(err)
	}
	for _, doc := range docs[1:] {
		if d := storedDoc(t, cfg, doc); !bytes.Equal(d, sealed[doc]) {
			t.Errorf("a later start rewrote %s", doc)
		}
	}
}

// notReady reports whether GET /readyz on n answers 503 store_unavailable
// (the shape of every readiness failure); it fails t on another answer
// than that or 200.
func notReady(t *testing.T, n *node) bool {
	t.Helper()
	res := apiRequest(t, http.MethodGet, "http://"+n.addr+"/readyz", "", "", nil)
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	switch {
	case res.StatusCode == http.StatusOK:
		return false
	case res.StatusCode == http.StatusServiceUnavailable && strings.Contains(string(b), `"code":"store_unavailable"`):
		return true
	}
	t.Fatalf("GET /readyz = %d %s; want 200 or 503 store_unavailable", res.StatusCode, b)
	return false
}

// jwksStatus is the status of GET /.well-known/jwks.json on n.
func jwksStatus(t *testing.T, n *node) int {
	t.Helper()
	res := apiRequest(t, http.MethodGet, "http://"+n.addr+"/.well-known/jwks.json", "", "", nil)
	res.Body.Close()
	return res.StatusCode
}

// noEnv is a Getenv without SESSIOND_KEK (or anything else).
func noEnv(string) string { return "" }

// TestRun_NotReadyWithoutTheRingsKEK: node A, given a KEK, seals the ring
// that node B, started before without it, reads; then A's kill switch
// drops the key B signs with. B keeps its keys, and would sign with and
// accept the dropped key: it answers /readyz 503 from its next read of the
// ring (a load balancer takes it out), serves no JWKS (which would publish
// the dropped key) and says why in its log. Restarted with the KEK only as
// an old one, it is ready and follows the ring again.
func TestRun_NotReadyWithoutTheRingsKEK(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) { notReadyWithoutTheRingsKEK(t, devConfig(t)) }) // both nodes on one file
	t.Run("shared", func(t *testing.T) {
		for _, st := range sharedStores(t) { // skipped without their addresses
			t.Run(st.name, func(t *testing.T) {
				cfg := devConfig(t)
				st.configure(t, &cfg)
				notReadyWithoutTheRingsKEK(t, cfg)
			})
		}
	})
}

func notReadyWithoutTheRingsKEK(t *testing.T, cfg config.Config) {
	ctx := context.Background()
	logs := &testenv.SyncBuffer{}
	b := start(t, server.Options{Config: cfg, Getenv: noEnv, Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	cb := apiClient(t, b)
	stolen, err := cb.CreateSession(ctx, client.CreateRequest{Subject: "alice"})
	if err != nil {
		t.Fatal(err)
	}

	kekFile := testenv.WriteFile(t, t.TempDir(), "kek", kekText(9)+"\n")
	sealing := cfg
	sealing.Signing.KEKFile = kekFile
	if cfg.Store.Driver != "sqlite" {
		sealing.Server.DataDir = t.TempDir()
	}
	a := start(t, server.Options{Config: sealing, Getenv: noEnv})
	ca := apiClient(t, a)
	if _, err := ca.RevokeIncident(ctx, client.Incident{Subjects: []string{"mallory"}, RotateKeys: true, Reason: "key leak"}); err != nil {
		t.Fatal(err)
	}
	if _, err := ca.Verify(ctx, stolen.AccessToken, nil); err == nil {
		t.Fatal("node A accepts a token of the key its kill switch dropped")
	}
	eventually(t, 10*time.Second, "node B answers /readyz 503", func() bool { return notReady(t, b) })
	if got := jwksStatus(t, b); got != http.StatusServiceUnavailable {
		t.Errorf("GET /.well-known/jwks.json on node B = %d; want 503 (it would publish the dropped key)", got)
	}
	// A caller that reaches B directly gets no token of the dropped key,
	// which B alone would accept: 503, as /readyz, nothing created.
	var apiErr *client.Error
	if s, err := cb.CreateSession(ctx, client.CreateRequest{Subject: "carol"}); !errors.As(err, &apiErr) ||
		apiErr.Status != http.StatusServiceUnavailable || !errors.Is(err, sessiond.ErrStoreUnavailable) {
		t.Errorf("login on node B while it cannot read the ring = %+v, %v; want 503 store_unavailable", s, err)
	}
	if r, err := cb.Refresh(ctx, stolen.RefreshToken, nil); !errors.As(err, &apiErr) ||
		apiErr.Status != http.StatusServiceUnavailable || !errors.Is(err, sessiond.ErrStoreUnavailable) {
		t.Errorf("refresh on node B while it cannot read the ring = %+v, %v; want 503 store_unavailable", r, err)
	}
	if notReady(t, a) {
		t.Error("node A, which holds the KEK, is not ready")
	}
	if got := jwksStatus(t, a); got != http.StatusOK {
		t.Errorf("GET /.well-known/jwks.json on node A = %d; want 200", got)
	}
	for _, want := range []string{`"level":"WARN","msg":"signing key ring sync: this node cannot read the stored ring and is not ready`,
		"no configured key-encryption key opens it"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("node B's log lacks %q:\n%s", want, logs.String())
		}
	}
	named := false // the request log names why /readyz failed
	for line := range strings.Lines(logs.String()) {
		named = named || strings.Contains(line, `"GET /readyz"`) && strings.Contains(line, "cannot read the stored key ring")
	}
	if !named {
		t.Errorf("node B's log has no /readyz line naming the unreadable ring:\n%s", logs.String())
	}

	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	oldOnly := cfg
	oldOnly.Signing.OldKEKFiles = []string{kekFile}
	b = start(t, server.Options{Config: oldOnly, Getenv: noEnv})
	cb = apiClient(t, b)
	if notReady(t, b) {
		t.Error("node B restarted with the KEK as an old one is not ready")
	}
	if _, err := cb.Verify(ctx, stolen.AccessToken, nil); err == nil {
		t.Error("node B, restarted with the KEK, accepts a token of the dropped key")
	}
	login, err := ca.CreateSession(ctx, client.CreateRequest{Subject: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cb.Verify(ctx, login.AccessToken, nil); err != nil {
		t.Errorf("node B rejects node A's token: %v", err)
	}
}

// TestRun_KEKIntroducedInTwoSteps: the documented introduction of a KEK
// into a running cluster (docs/operations.md, "Signing keys at rest").
// Step 1 restarts every node with the KEK as an old one (nothing is
// sealed); step 2 makes it the KEK, one node at a time: the first seals,
// and the node still on step 1 follows, stays ready, and keeps the ring
// sealed when its own kill switch rewrites it. Both nodes stay ready
// throughout and end on a sealed ring both sign and verify with.
func TestRun_KEKIntroducedInTwoSteps(t *testing.T) {
	ctx := context.Background()
	cfg := devConfig(t) // both nodes on one SQLite database
	kekFile := testenv.WriteFile(t, t.TempDir(), "kek", kekText(5)+"\n")
	kek, err := signing.ParseKEK([]byte(kekText(5)))
	if err != nil {
		t.Fatal(err)
	}
	logs := map[string]*testenv.SyncBuffer{"a": {}, "b": {}}
	run := func(name string, c config.Config) (*node, *client.Client) {
		t.Helper()
		n := start(t, server.Options{Config: c, Getenv: noEnv, Logger: slog.New(slog.NewJSONHandler(logs[name], nil))})
		return n, apiClient(t, n)
	}
	sealedWith := func() string {
		t.Helper()
		doc := storedDoc(t, cfg, signing.DocName)
		if bytes.Contains(doc, []byte(`"jwk"`)) {
			return ""
		}
		if !bytes.Contains(doc, []byte(`"sealed"`)) {
			t.Fatalf("stored ring neither in clear nor sealed: %.200s", doc)
		}
		return string(doc)
	}
	// agree checks both nodes are ready and accept each other's tokens,
	// once both publish the same keys (a node adopts another's kill
	// switch at its next poll; until then it signs with the dropped key).
	agree := func(step string, na, nb *node, ca, cb *client.Client) {
		t.Helper()
		eventually(t, 10*time.Second, step+": both nodes publish the same keys", func() bool {
			ja, erra := ca.JWKS(ctx)
			jb, errb := cb.JWKS(ctx)
			return erra == nil && errb == nil && bytes.Equal(ja, jb)
		})
		for name, n := range map[string]*node{"a": na, "b": nb} {
			if notReady(t, n) {
				t.Fatalf("%s: node %s is not ready", step, name)
			}
		}
		for _, pair := range []struct {
			from, to *client.Client
			what     string
		}{{ca, cb, "a's token on b"}, {cb, ca, "b's token on a"}} {
			login, err := pair.from.CreateSession(ctx, client.CreateRequest{Subject: "alice"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := pair.to.Verify(ctx, login.AccessToken, nil); err != nil {
				t.Errorf("%s: %s: %v", step, pair.what, err)
			}
		}
	}

	a, ca := run("a", cfg)
	b, cb := run("b", cfg)
	agree("in clear", a, b, ca, cb)

	// Step 1: the KEK as an old one, every node restarted.
	step1 := cfg
	step1.Signing.OldKEKFiles = []string{kekFile}
	for _, n := range []*node{a, b} {
		if err := n.stop(); err != nil {
			t.Fatal(err)
		}
	}
	a, ca = run("a", step1)
	b, cb = run("b", step1)
	agree("step 1", a, b, ca, cb)
	if sealedWith() != "" {
		t.Fatal("step 1 sealed the ring; want it in clear until a node has the KEK as its KEK")
	}

	// Step 2: a first. It seals; b, still on step 1, follows a rotation.
	step2 := cfg
	step2.Signing.KEKFile = kekFile
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	a, ca = run("a", step2)
	if !strings.Contains(sealedWith(), kek.ID) {
		t.Fatalf("step 2's first start did not seal the ring with the KEK %s", kek.ID)
	}
	if _, err := ca.RevokeIncident(ctx, client.Incident{Subjects: []string{"mallory"}, RotateKeys: true, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	agree("step 2 on a, kill switch on a", a, b, ca, cb)
	if _, err := cb.RevokeIncident(ctx, client.Incident{Subjects: []string{"mallory"}, RotateKeys: true, Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sealedWith(), kek.ID) {
		t.Fatal("the kill switch on the node still on step 1 did not keep the ring sealed with the KEK")
	}
	agree("step 2 on a, kill switch on b", a, b, ca, cb)

	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	b, cb = run("b", step2)
	agree("step 2 done", a, b, ca, cb)
	if !strings.Contains(sealedWith(), kek.ID) {
		t.Error("after step 2 the ring is not sealed with the KEK")
	}
	for name, l := range logs {
		if strings.Contains(l.String(), "cannot read the stored ring") {
			t.Errorf("node %s could not read the ring at some point:\n%s", name, l.String())
		}
	}
}

// TestRun_SSFStreamsOldKEKsOnly: a node given the KEK only as an old one
// (step 1 of introducing it while another node already runs step 2, or a
// node whose current KEK went missing) opens the push secrets a node with
// the KEK sealed, as it opens the ring: its pushes carry the stream's
// Authorization header rather than failing, and a header changed on it
// stays sealed with that KEK, never stored in clear.
func TestRun_SSFStreamsOldKEKsOnly(t *testing.T) {
	kekFile := testenv.WriteFile(t, t.TempDir(), "kek", kekText(6)+"\n")
	kek, err := signing.ParseKEK([]byte(kekText(6)))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(rcv.Close)
	pushed := func(header string) func() bool {
		return func() bool {
			mu.Lock()
			defer mu.Unlock()
			return slices.Contains(got, header)
		}
	}
	call := func(n *node, method, path, body string) (int, map[string]any) {
		t.Helper()
		res := apiRequest(t, method, "http://"+n.addr+path, string(testKey), "application/json", strings.NewReader(body))
		defer res.Body.Close()
		var out map[string]any
		_ = json.NewDecoder(res.Body).Decode(&out)
		return res.StatusCode, out
	}

	cfg := devConfig(t)
	cfg.SSF.Transmitter = config.SSFTransmitter{Enabled: true, Issuer: "https://sessiond.example.com"}
	sealing := cfg
	sealing.Signing.KEKFile = kekFile
	a := start(t, server.Options{Config: sealing, Getenv: noEnv})
	const first, second = "Bearer first-secret-4a7c1e9b0d2f", "Bearer second-secret-8e3b5a6c1f7d"
	code, st := call(a, http.MethodPost, "/v1/ssf/streams",
		`{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"`+rcv.URL+`/ssf","authorization_header":"`+first+`"}}`)
	id, _ := st["stream_id"].(string)
	if code != http.StatusCreated || id == "" {
		t.Fatalf("create stream = %d %v", code, st)
	}
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}

	oldOnly := cfg
	oldOnly.Signing.OldKEKFiles = []string{kekFile}
	b := start(t, server.Options{Config: oldOnly, Getenv: noEnv})
	if code, out := call(b, http.MethodPost, "/v1/ssf/verify", `{"stream_id":"`+id+`","state":"s1"}`); code != http.StatusNoContent {
		t.Fatalf("verify on the node with only old KEKs = %d %v", code, out)
	}
	eventually(t, 10*time.Second, "the node with only old KEKs pushes with the stream's header", pushed(first))

	if code, out := call(b, http.MethodPatch, "/v1/ssf/streams",
		`{"stream_id":"`+id+`","delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"`+rcv.URL+`/ssf","authorization_header":"`+second+`"}}`); code != http.StatusOK {
		t.Fatalf("update stream on the node with only old KEKs = %d %v", code, out)
	}
	if err := b.stop(); err != nil {
		t.Fatal(err)
	}
	if doc := storedDoc(t, cfg, "ssf.streams"); bytes.Contains(doc, []byte("second-secret")) || !bytes.Contains(doc, []byte(kek.ID)) {
		t.Errorf("stream list after the update on the node with only old KEKs = %s; want the header sealed with %s", doc, kek.ID)
	}
	a = start(t, server.Options{Config: sealing, Getenv: noEnv})
	if code, out := call(a, http.MethodPost, "/v1/ssf/verify", `{"stream_id":"`+id+`","state":"s2"}`); code != http.StatusNoContent {
		t.Fatalf("verify = %d %v", code, out)
	}
	eventually(t, 10*time.Second, "the node with the KEK pushes with the header changed on the other", pushed(second))
}

// TestRun_StartsOverAnUnreadableStreamsDocument: sealing the secrets kept
// in clear at start (a KEK and no old one, every start of a sealed
// deployment) is best effort: a Shared Signals streams document this node
// cannot read (another release's, a hand edit) is left for the feature to
// report when it is on, and does not stop a node whose transmitter is off
// from starting.
func TestRun_StartsOverAnUnreadableStreamsDocument(t *testing.T) {
	kekFile := testenv.WriteFile(t, t.TempDir(), "kek", kekText(5)+"\n")
	cfg := devConfig(t)
	cfg.Signing.KEKFile = kekFile
	if err := start(t, server.Options{Config: cfg, Getenv: noEnv}).stop(); err != nil {
		t.Fatal(err)
	}
	s := openSQLite(t, cfg)
	if _, err := s.PutMeta(context.Background(), "ssf.streams", []byte(`{"format":99,"streams":[`), 0); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if err := start(t, server.Options{Config: cfg, Getenv: noEnv}).stop(); err != nil {
		t.Fatalf("a start over an unreadable ssf.streams document = %v; want it to start", err)
	}
}

// secretsStored starts a node of o with the Shared Signals transmitter and
// DPoP nonces on, so that both keep a shared secret in the store, creates
// a push stream whose authorization header carries secret, stops the node
// and returns its configuration.
func secretsStored(t *testing.T, o server.Options, secret string) config.Config {
	t.Helper()
	o.Config.SSF.Transmitter = config.SSFTransmitter{Enabled: true, Issuer: "https://sessiond.example.com"}
	o.Config.DPoP.RequireNonce = true
	n := start(t, o)
	body := `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"http://127.0.0.1:9/ssf","authorization_header":"Bearer ` + secret + `"}}`
	res := apiRequest(t, http.MethodPost, "http://"+n.addr+"/v1/ssf/streams", string(testKey), "application/json", strings.NewReader(body))
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create stream = %d %s", res.StatusCode, b)
	}
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
	return o.Config
}
