package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

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
	cfg.SSF.Transmitter = config.SSFTransmitter{Enabled: true, Issuer: "https://sessiond.example.com"}
	cfg.DPoP.RequireNonce = true
	cfg.Signing.KEKFile = oldFile
	n := start(t, server.Options{Config: cfg})
	body := `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"http://127.0.0.1:9/ssf","authorization_header":"Bearer receiver-secret-5f0c2b7e9d8a4163"}}`
	res := apiRequest(t, http.MethodPost, "http://"+n.addr+"/v1/ssf/streams", string(testKey), "application/json", strings.NewReader(body))
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create stream = %d %s", res.StatusCode, b)
	}
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}
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
	n = start(t, server.Options{Config: cfg})
	res = apiRequest(t, http.MethodGet, "http://"+n.addr+"/v1/ssf/streams", string(testKey), "", nil)
	b, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(b), "127.0.0.1:9/ssf") {
		t.Errorf("streams after step 3 = %d %s", res.StatusCode, b)
	}
}
