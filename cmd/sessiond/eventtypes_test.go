package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
)

// TestEventTypes_Complete: every EventType constant declared in the module
// is one `events --type` accepts, so a new event cannot be unqueryable.
func TestEventTypes_Complete(t *testing.T) {
	fset := token.NewFileSet()
	declared := map[string]string{}
	err := filepath.WalkDir("../..", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "node_modules" || d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && d.Name() != "." && d.Name() != "..") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			g, ok := decl.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, spec := range g.Specs {
				vs := spec.(*ast.ValueSpec)
				if !isEventType(vs.Type) {
					continue
				}
				for i, v := range vs.Values {
					if lit, ok := v.(*ast.BasicLit); ok && lit.Kind == token.STRING {
						s, _ := strconv.Unquote(lit.Value)
						declared[s] = p + ": " + vs.Names[i].Name
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(declared) < 6 {
		t.Fatalf("found only %d EventType constants; the scan is broken", len(declared))
	}
	for typ, where := range declared {
		if !slices.Contains(eventTypes, sessiond.EventType(typ)) {
			t.Errorf("%s declares event type %q, which `sessiond events --type` does not know: add it to eventTypes", where, typ)
		}
	}
}

func isEventType(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name == "EventType"
	case *ast.SelectorExpr:
		return x.Sel.Name == "EventType"
	}
	return false
}
