package sessiond_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/sessiond/sessiond"

// pkg is what the import rules need of one package, as go list reports it.
type pkg struct {
	ImportPath string
	Standard   bool
	Deps       []string // every package it imports, directly or not
}

// goList runs go list -json with args and decodes its stream of packages.
func goList(t *testing.T, args ...string) []pkg {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list", "-json=ImportPath,Standard,Deps"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			return pkgs
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
}

// room returns the folder one level below the root that holds path (pgstore
// for pgstore, jwttoken for jwttoken/signing), or "" for the root and
// packages outside the module.
func room(path string) string {
	rest, ok := strings.CutPrefix(path, module+"/")
	if !ok {
		return ""
	}
	first, _, _ := strings.Cut(rest, "/")
	return first
}

// isAdapter reports whether path is an adapter: a package of the module in
// a folder one level below the root (memstore, pgstore, jwttoken,
// httpsession, webhook, client, sessiondtest…), sub-packages included
// (jwttoken/signing, verifier/stream belong to their adapter's room). The
// root, internal/, cmd/, examples/ and setup/ are not: internal/server and
// cmd/ wire adapters together for the server, setup does the same for
// library users (docs/library.md).
func isAdapter(path string) bool {
	r := room(path)
	// apitype is the wire vocabulary both ends of the API share, like the
	// root; setup exists to wire adapters together.
	return r != "" && r != "internal" && r != "cmd" && r != "examples" && r != "setup" && !isShared(path)
}

// isShared reports whether path is a package adapters may import: the wire
// vocabulary (apitype) and dpop, the RFC 9449 rules that the server, the
// verifier (resource servers) and the client all apply. A shared package
// imports no adapter itself.
func isShared(path string) bool {
	return path == module+"/apitype" || path == module+"/dpop"
}

// importRuleViolations returns, for the module's packages pkgs (with their
// transitive Deps) and the standard-library flag of every package std,
// each break of the house rules: the root imports only the standard
// library, and no adapter imports another adapter, directly or through an
// internal package (a sub-package may import its own adapter: signing
// imports jwttoken).
func importRuleViolations(pkgs []pkg, std map[string]bool) []string {
	var out []string
	for _, p := range pkgs {
		switch {
		case p.ImportPath == module:
			for _, d := range p.Deps {
				if !std[d] {
					out = append(out, "the root package imports "+d+", which is not in the standard library")
				}
			}
		case isAdapter(p.ImportPath), isShared(p.ImportPath):
			for _, d := range p.Deps {
				if isAdapter(d) && room(d) != room(p.ImportPath) {
					out = append(out, p.ImportPath+" imports the adapter "+d)
				}
			}
		}
	}
	return out
}

// TestImportRules enforces the package layout (STYLE.md): the root package
// is the shared vocabulary and needs nothing but the standard library, and
// adapters stay independent of each other.
func TestImportRules(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	rootDeps := goList(t, "-deps", module)
	std := make(map[string]bool, len(rootDeps))
	for _, p := range rootDeps {
		std[p.ImportPath] = p.Standard
	}
	pkgs := goList(t, module+"/...")
	if !slices.ContainsFunc(pkgs, func(p pkg) bool { return p.ImportPath == module+"/pgstore" }) {
		t.Fatalf("go list %s/... did not list pgstore; the check would see nothing", module)
	}
	for _, v := range importRuleViolations(pkgs, std) {
		t.Error(v)
	}
}

// TestImportRuleViolations checks the checker on graphs that break the rules.
func TestImportRuleViolations(t *testing.T) {
	std := map[string]bool{"fmt": true, "time": true, module + "/memstore": false, "github.com/jackc/pgx/v5": false}
	for _, c := range []struct {
		name string
		pkgs []pkg
		want int
	}{
		{"Clean", []pkg{
			{ImportPath: module, Deps: []string{"fmt", "time"}},
			{ImportPath: module + "/pgstore", Deps: []string{module, module + "/internal/migration", "github.com/jackc/pgx/v5"}},
			{ImportPath: module + "/internal/server", Deps: []string{module + "/pgstore", module + "/memstore"}},
			{ImportPath: module + "/cmd/sessiond", Deps: []string{module + "/internal/server"}},
			{ImportPath: module + "/setup", Deps: []string{module + "/jwttoken", module + "/anomaly"}},
		}, 0},
		{"RootImportsADriver", []pkg{{ImportPath: module, Deps: []string{"fmt", "github.com/jackc/pgx/v5"}}}, 1},
		{"RootImportsAnAdapter", []pkg{{ImportPath: module, Deps: []string{module + "/memstore"}}}, 1},
		{"AdapterImportsAdapter", []pkg{{ImportPath: module + "/webhook", Deps: []string{module, module + "/metrics"}}}, 1},
		{"AdapterImportsShared", []pkg{{ImportPath: module + "/verifier", Deps: []string{module, module + "/dpop", module + "/apitype"}}}, 0},
		{"SharedImportsAdapter", []pkg{{ImportPath: module + "/dpop", Deps: []string{module, module + "/jwttoken"}}}, 1},
		{"SubPackageImportsItsAdapter", []pkg{
			{ImportPath: module + "/jwttoken/signing", Deps: []string{module, module + "/jwttoken"}},
			{ImportPath: module + "/verifier", Deps: []string{module, module + "/verifier/stream"}},
		}, 0},
		{"SubPackageImportsAdapter", []pkg{{ImportPath: module + "/jwttoken/signing", Deps: []string{module, module + "/jwttoken", module + "/memstore"}}}, 1},
		{"AdapterImportsSubPackageOfAdapter", []pkg{{ImportPath: module + "/ssf", Deps: []string{module, module + "/jwttoken/signing", module + "/jwttoken"}}}, 2},
		{"AdapterImportsAdapterThroughInternal", []pkg{
			{ImportPath: module + "/jwttoken", Deps: []string{module + "/internal/server", module + "/memstore", module + "/pgstore"}},
		}, 2},
	} {
		if got := importRuleViolations(c.pkgs, std); len(got) != c.want {
			t.Errorf("%s: importRuleViolations = %q; want %d violations", c.name, got, c.want)
		}
	}
}
