// Package node_test runs the Node verifier's own tests (node --test, the
// runner built into Node.js) against a real sessiond server started in
// this process, so `go test ./...` covers the npm package too.
package node_test

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/servertest"

	"github.com/sessiond/sessiond/internal/testenv"
)

const apiKey = "sdak_node_verifier_test_0123456789abcdefghijk"

func TestNodeVerifier(t *testing.T) {
	if testing.Short() {
		t.Skip("runs Node.js")
	}
	node := testenv.Node(t, "the Node.js verifier test", "sdk/node", "jose")
	if out, err := exec.Command(node, "node_modules/typescript/bin/tsc", "-p", "tsconfig.json").CombinedOutput(); err != nil {
		t.Fatalf("tsc: %v\n%s", err, out)
	}

	cfg := servertest.Config(t)
	cfg.Strategy = sessiond.StrategyHybrid
	// Set explicitly: the defaults are unique to the deployment, and the
	// verifier must be told them.
	cfg.JWT.Issuer, cfg.JWT.Audience = "https://sessiond.test", "node-verifier-test"
	url := servertest.Run(t, server.Options{Config: cfg, APIKey: apiKey})

	cmd := exec.Command(node, "--test", "--test-reporter=spec", "test/")
	cmd.Env = append(os.Environ(), "SESSIOND_URL="+url, "SESSIOND_API_KEY="+apiKey,
		"SESSIOND_ISSUER="+cfg.JWT.Issuer, "SESSIOND_AUDIENCE="+cfg.JWT.Audience, "NO_COLOR=1")
	out, err := cmd.CombinedOutput()
	t.Logf("node --test:\n%s", out)
	if err != nil {
		t.Fatalf("node --test: %v", err)
	}
}

// TestNodeVerifier_Pack: what docs/verifier.md tells a Node.js user to run
// in a checkout (npm ci, npm pack, then npm install of the tarball) gives a
// package that imports: npm pack on a fresh copy, whose dist/ holds only
// what an older build left, builds dist/ afresh and packs the JavaScript
// and declarations that main, types and exports name (not the stale
// files), the repository's licence (its text, and its SPDX name in
// package.json), and neither the tests nor node_modules. The tarball's
// package is then imported as a service would, with jose beside it (from
// this checkout's node_modules: the test needs no registry). The docs name
// the tarball npm writes.
func TestNodeVerifier_Pack(t *testing.T) {
	if testing.Short() {
		t.Skip("runs npm")
	}
	node := testenv.Node(t, "the Node.js verifier's package", "sdk/node", "typescript", "jose")
	npm := testenv.Programs(t, "the Node.js verifier's package", " (apt-get install -y npm)", "npm")["npm"]
	modules, err := filepath.Abs("node_modules")
	if err != nil {
		t.Fatal(err)
	}

	// A fresh clone's sdk/node: no dist/, the dev dependencies npm ci
	// would install.
	src := t.TempDir()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch name := e.Name(); {
		case name == "dist" || name == "node_modules" || strings.HasPrefix(name, "."): // built, installed, or ignored
		case e.IsDir():
			if err := os.CopyFS(filepath.Join(src, name), os.DirFS(name)); err != nil {
				t.Fatal(err)
			}
		default:
			b, err := os.ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(src, name), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := os.Symlink(modules, filepath.Join(src, "node_modules")); err != nil {
		t.Fatal(err)
	}
	// A dist/ an older build left, with a module since removed from src/:
	// the pack must not ship it ("files" packs all of dist/).
	stale := []string{"dist/removed.js", "dist/removed.d.ts"}
	if err := os.Mkdir(filepath.Join(src, "dist"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range stale {
		if err := os.WriteFile(filepath.Join(src, filepath.FromSlash(name)), []byte("export const removed = 1;\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := t.TempDir()
	cmd := exec.Command(npm, "pack", "--pack-destination", out)
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "npm_config_ignore_scripts=false", "npm_config_offline=true", "npm_config_update_notifier=false")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm pack: %v\n%s", err, b)
	}

	var pkg struct{ Name, Version string }
	b, err := os.ReadFile("package.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		t.Fatal(err)
	}
	tarball := strings.TrimPrefix(strings.ReplaceAll(pkg.Name, "/", "-"), "@") + "-" + pkg.Version + ".tgz"
	app := t.TempDir()
	dst := filepath.Join(app, "node_modules", filepath.FromSlash(pkg.Name))
	files := untar(t, filepath.Join(out, tarball), dst)
	for _, want := range []string{"package.json", "dist/index.js", "dist/index.d.ts", "dist/sse.js", "LICENSE"} {
		if !slices.Contains(files, want) {
			t.Errorf("%s lacks %s; it holds %q", tarball, want, files)
		}
	}
	for _, name := range stale {
		if slices.Contains(files, name) {
			t.Errorf("%s holds %s, left in dist/ by an older build; want dist/ built afresh", tarball, name)
		}
	}
	license, err := os.ReadFile("../../LICENSE")
	if err != nil {
		t.Fatal(err)
	}
	if packed, err := os.ReadFile(filepath.Join(dst, "LICENSE")); err == nil && string(packed) != string(license) {
		t.Errorf("%s's LICENSE is not the repository's", tarball)
	}
	var packedPkg struct{ License string }
	if b, err := os.ReadFile(filepath.Join(dst, "package.json")); err != nil || json.Unmarshal(b, &packedPkg) != nil {
		t.Fatalf("%s's package.json: %v", tarball, err)
	}
	if !strings.Contains(string(license), "Apache License") || packedPkg.License != "Apache-2.0" {
		t.Errorf("%s's package.json says license %q; the repository's LICENSE is Apache-2.0", tarball, packedPkg.License)
	}
	for _, f := range files {
		if strings.HasPrefix(f, "test/") || strings.HasPrefix(f, "node_modules/") || strings.HasSuffix(f, ".go") {
			t.Errorf("%s ships %s", tarball, f)
		}
	}

	if err := os.Symlink(filepath.Join(modules, "jose"), filepath.Join(app, "node_modules", "jose")); err != nil {
		t.Fatal(err)
	}
	script := `import { createVerifier, VerifyError } from "` + pkg.Name + `"; console.log(typeof createVerifier, typeof VerifyError);`
	if err := os.WriteFile(filepath.Join(app, "service.mjs"), []byte(script), 0o644); err != nil {
		t.Fatal(err)
	}
	run := exec.Command(node, "service.mjs")
	run.Dir = app
	if b, err := run.CombinedOutput(); err != nil || strings.TrimSpace(string(b)) != "function function" {
		t.Errorf("importing the packed %s: %v\n%s; want function function", pkg.Name, err, b)
	}

	doc, err := os.ReadFile("../../docs/verifier.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "npm install /tmp/"+tarball) {
		t.Errorf("docs/verifier.md does not install %s, the tarball npm pack writes", tarball)
	}
}

// untar unpacks the npm tarball at path (its files under package/) into
// dst and returns their names.
func untar(t *testing.T, path, dst string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("npm pack wrote no %s: %v", filepath.Base(path), err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		name, ok := strings.CutPrefix(h.Name, "package/")
		if !ok || h.Typeflag != tar.TypeReg || !filepath.IsLocal(name) {
			t.Fatalf("unexpected entry %q in %s", h.Name, filepath.Base(path))
		}
		names = append(names, name)
		p := filepath.Join(dst, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
