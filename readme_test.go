package sessiond_test

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestREADME_LibraryIsTheExample: the README's library snippet is the body
// of Example in example_test.go, which go test compiles and runs, so the
// README cannot show code that does not build.
func TestREADME_LibraryIsTheExample(t *testing.T) {
	src, err := os.ReadFile("example_test.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "example_test.go", src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	var body string
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Name.Name == "Example" && fn.Recv == nil {
			body = string(src[fset.Position(fn.Body.Lbrace).Offset+1 : fset.Position(fn.Body.Rbrace).Offset])
		}
	}
	if body == "" {
		t.Fatal("example_test.go has no func Example")
	}
	if i := strings.Index(body, "\t// Output:"); i >= 0 {
		body = body[:i]
	}
	var want strings.Builder
	for _, line := range strings.Split(strings.Trim(body, "\n"), "\n") {
		want.WriteString(strings.TrimPrefix(line, "\t") + "\n")
	}

	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(readme)
	i := strings.Index(s, "<!-- library:")
	if i < 0 {
		t.Fatal("README.md has no <!-- library: --> marker before its library snippet")
	}
	s = s[i:]
	open := strings.Index(s, "\n```go\n")
	if open < 0 {
		t.Fatal("README.md: no ```go block after the library marker")
	}
	s = s[open+len("\n```go\n"):]
	got := s[:strings.Index(s, "```")]
	if got != want.String() {
		t.Errorf("README.md's library snippet differs from the body of Example in example_test.go:\nREADME:\n%s\nExample:\n%s", got, want.String())
	}
}

// TestModule_Tidy: go.mod and go.sum are what `go mod tidy` makes them, so
// a fresh clone builds without a surprise edit.
func TestModule_Tidy(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the go command")
	}
	cmd := exec.Command("go", "mod", "tidy", "-diff")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if stdout.Len() > 0 {
		t.Fatalf("go mod tidy -diff is not empty; run go mod tidy:\n%s", &stdout)
	}
	if err != nil { // no diff, but tidy could not run (no network for a missing module)
		t.Skipf("go mod tidy -diff could not run: %v\n%s", err, &stderr)
	}
}
