package sessiond_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// testKits are the module's packages that no user runs in production: test
// kits, test harnesses and examples. Their log lines are not an operator's.
var testKits = []string{
	"sessiondtest", "browsertest", "consoletest", "gatewaytest", "examples/",
	"internal/servertest", "internal/jwttest", "internal/testenv",
	"internal/redisclustertest", "internal/delayproxy",
	"internal/storebench",
}

// unlistedLines are the WARN and ERROR messages that docs/operations.md's
// table does not list, each with why. Keep it short: an operator searches
// the docs for a line's msg, and a line not found there is a page at 3 a.m.
var unlistedLines = map[string]string{
	// The request line is ERROR for a 5xx; the section's first paragraph
	// explains it (TestLogDocs_RequestLineExplained).
	"request": "the section's first paragraph",
	// webhook/breaker.go sets this message together with slog.LevelInfo,
	// in the same statement as the WARN "webhook endpoint cooling down".
	"webhook endpoint delivers again": "INFO, logged through a computed level",
}

// netHTTPLines are the table's rows for lines net/http writes to a
// server's ErrorLog, which internal/server logs at WARN
// (slog.NewLogLogger), but for the lines a client causes, INFO
// (internal/server/httperrorlog.go): they are checked against the table,
// and are rows while some ErrorLog logs at WARN or above.
var netHTTPLines = map[string]bool{
	"http: Accept error: …": true,
}

// logCall is one call that logs at WARN or ERROR.
type logCall struct {
	pos   string // file:line
	level string // WARN, ERROR, or "WARN or ERROR" when the level is computed
	msg   string // the constant message, or the constant prefix of a computed one
	exact bool   // msg is the whole message
	parts string // every constant piece of the message, for a docs/ reference
	// stdlog: a *log.Logger at this level (slog.NewLogLogger), whose lines
	// another package writes (net/http's Server.ErrorLog)
	stdlog bool
}

// listedPkg is what the log scan needs of a package, as go list reports it.
type listedPkg struct {
	ImportPath string
	Dir        string
	Export     string
	GoFiles    []string
	Standard   bool
}

// warnErrorCalls type-checks every shipped package of the module and
// returns its calls to log/slog at level WARN or ERROR. It resolves calls
// through types, not names, so a wrapper field or a renamed import is
// found and an http.Error is not.
func warnErrorCalls(t *testing.T) []logCall {
	t.Helper()
	cmd := exec.Command("go", "list", "-export", "-deps", "-json=ImportPath,Dir,Export,GoFiles,Standard", "./...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	exports := map[string]string{}
	var own []listedPkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		exports[p.ImportPath] = p.Export
		if p.ImportPath == module || strings.HasPrefix(p.ImportPath, module+"/") {
			own = append(own, p)
		}
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		f, ok := exports[path]
		if !ok || f == "" {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(f)
	})
	var calls []logCall
	for _, p := range own {
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		if slices.ContainsFunc(testKits, func(k string) bool {
			return rel == k || strings.HasSuffix(k, "/") && strings.HasPrefix(rel, k) || strings.HasPrefix(rel, k+"/")
		}) || strings.Contains(rel, "zz_probe_") {
			continue
		}
		var files []*ast.File
		for _, name := range p.GoFiles {
			f, err := parser.ParseFile(fset, filepath.Join(p.Dir, name), nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			files = append(files, f)
		}
		found, err := scanPackage(fset, imp, p.ImportPath, files)
		if err != nil {
			t.Fatal(err)
		}
		calls = append(calls, found...)
	}
	return calls
}

// scan is one type-checked package.
type scan struct {
	fset    *token.FileSet
	info    *types.Info
	sources map[types.Object][]ast.Expr
}

// valueSources maps each variable, parameter and struct field of the
// package to every expression the package gives it: assignments,
// declarations, keyed struct literals and the arguments of calls to its
// own functions. A message kept in a variable (msg := "…"; if … { msg =
// "…" }), a field or a parameter is then every constant it can hold.
func valueSources(info *types.Info, files []*ast.File) map[types.Object][]ast.Expr {
	src := map[types.Object][]ast.Expr{}
	obj := func(e ast.Expr) types.Object {
		switch x := ast.Unparen(e).(type) {
		case *ast.Ident:
			if o := info.Defs[x]; o != nil {
				return o
			}
			return info.Uses[x]
		case *ast.SelectorExpr:
			return info.Uses[x.Sel]
		}
		return nil
	}
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.AssignStmt:
				if len(x.Lhs) == len(x.Rhs) {
					for i, l := range x.Lhs {
						if o := obj(l); o != nil {
							src[o] = append(src[o], x.Rhs[i])
						}
					}
				}
			case *ast.ValueSpec:
				if len(x.Names) == len(x.Values) {
					for i, name := range x.Names {
						if o := info.Defs[name]; o != nil {
							src[o] = append(src[o], x.Values[i])
						}
					}
				}
			case *ast.KeyValueExpr:
				if k, ok := x.Key.(*ast.Ident); ok {
					if v, ok := info.Uses[k].(*types.Var); ok && v.IsField() {
						src[v] = append(src[v], x.Value)
					}
				}
			case *ast.CallExpr:
				if fn, ok := obj(x.Fun).(*types.Func); ok && x.Ellipsis == token.NoPos {
					params := fn.Signature().Params()
					fixed := params.Len() // the parameters before a variadic one
					if fn.Signature().Variadic() {
						fixed--
					}
					for i, a := range x.Args[:min(fixed, len(x.Args))] {
						src[params.At(i)] = append(src[params.At(i)], a)
					}
				}
			}
			return true
		})
	}
	return src
}

// scanPackage type-checks one package's files and returns its WARN and
// ERROR calls.
func scanPackage(fset *token.FileSet, imp types.Importer, path string, files []*ast.File) ([]logCall, error) {
	info := &types.Info{
		Types: map[ast.Expr]types.TypeAndValue{},
		Uses:  map[*ast.Ident]types.Object{},
		Defs:  map[*ast.Ident]types.Object{},
	}
	conf := types.Config{Importer: imp}
	if _, err := conf.Check(path, fset, files, info); err != nil {
		return nil, fmt.Errorf("type-check %s: %w", path, err)
	}
	sc := &scan{fset: fset, info: info, sources: valueSources(info, files)}
	var calls []logCall
	for _, f := range files {
		called := map[ast.Expr]bool{} // the functions of the calls seen
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.CallExpr:
				called[ast.Unparen(x.Fun)] = true
				calls = append(calls, sc.slogCalls(x)...)
			case *ast.SelectorExpr:
				called[x.Sel] = true // judged with its selector
				if !called[x] {
					calls = append(calls, sc.slogValue(x)...)
				}
			case *ast.Ident:
				if !called[x] {
					calls = append(calls, sc.slogValue(x)...)
				}
			}
			return true
		})
	}
	return calls, nil
}

// slogValue returns a line with no constant message when e is one of
// log/slog's WARN or ERROR functions or methods taken as a value (warn :=
// log.Warn): the scan cannot follow the value to its calls and their
// messages, so it fails such a line rather than miss it.
func (s *scan) slogValue(e ast.Expr) []logCall {
	id, ok := e.(*ast.Ident)
	if sel, isSel := e.(*ast.SelectorExpr); isSel {
		id, ok = sel.Sel, true
	}
	if !ok {
		return nil
	}
	f, ok := s.info.Uses[id].(*types.Func)
	if !ok || f.Pkg() == nil || f.Pkg().Path() != "log/slog" {
		return nil
	}
	if recv := f.Signature().Recv(); recv != nil {
		if named, ok := types.Unalias(derefType(recv.Type())).(*types.Named); !ok || named.Obj().Name() != "Logger" {
			return nil
		}
	}
	level := map[string]string{
		"Warn": "WARN", "WarnContext": "WARN", "Error": "ERROR", "ErrorContext": "ERROR",
		"Log": "WARN or ERROR", "LogAttrs": "WARN or ERROR",
	}[f.Name()]
	if level == "" {
		return nil
	}
	return []logCall{{pos: relPos(s.fset.Position(e.Pos())), level: level}}
}

// slogCalls returns, when c logs through log/slog at WARN or ERROR, one
// logCall per message it can log.
func (s *scan) slogCalls(c *ast.CallExpr) []logCall {
	var id *ast.Ident
	switch fn := ast.Unparen(c.Fun).(type) {
	case *ast.SelectorExpr:
		id = fn.Sel
	case *ast.Ident:
		id = fn
	default:
		return nil
	}
	f, ok := s.info.Uses[id].(*types.Func)
	if !ok || f.Pkg() == nil || f.Pkg().Path() != "log/slog" {
		return nil
	}
	if recv := f.Signature().Recv(); recv != nil {
		if named, ok := types.Unalias(derefType(recv.Type())).(*types.Named); !ok || named.Obj().Name() != "Logger" {
			return nil // a Handler's or a Level's method
		}
	}
	level, msgArg := "", 0
	switch f.Name() {
	case "Warn":
		level = "WARN"
	case "Error":
		level = "ERROR"
	case "WarnContext":
		level, msgArg = "WARN", 1
	case "ErrorContext":
		level, msgArg = "ERROR", 1
	case "Log", "LogAttrs", "NewRecord", "NewLogLogger": // (ctx, level, msg…), (time, level, msg, pc), (handler, level)
		msgArg = 2
		tv := s.info.Types[c.Args[1]]
		if tv.Value == nil {
			level = "WARN or ERROR" // computed: it may be either
			break
		}
		v, _ := constant.Int64Val(tv.Value)
		switch {
		case v >= 8: // slog.LevelError
			level = "ERROR"
		case v >= 4: // slog.LevelWarn
			level = "WARN"
		default:
			return nil
		}
	default:
		return nil
	}
	if f.Name() == "NewLogLogger" {
		return []logCall{{pos: relPos(s.fset.Position(c.Pos())), level: level, stdlog: true}}
	}
	var out []logCall
	for _, m := range s.messages(c.Args[msgArg], map[types.Object]bool{}) {
		m.pos, m.level = relPos(s.fset.Position(c.Pos())), level
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
}

func derefType(t types.Type) types.Type {
	if p, ok := t.(*types.Pointer); ok {
		return p.Elem()
	}
	return t
}

// messages returns each message e can hold: a constant, or the constant
// start of a computed one ("" when it starts computed): a + chain's
// leading constants, a fmt.Sprintf's format up to its first verb, every
// value the package gives a variable, field or parameter.
func (s *scan) messages(e ast.Expr, seen map[types.Object]bool) []logCall {
	if tv := s.info.Types[e]; tv.Value != nil && tv.Value.Kind() == constant.String {
		v := constant.StringVal(tv.Value)
		return []logCall{{msg: v, exact: true, parts: v}}
	}
	switch x := ast.Unparen(e).(type) {
	case *ast.BinaryExpr:
		if x.Op != token.ADD {
			break
		}
		var out []logCall
		for _, l := range s.messages(x.X, seen) {
			for _, r := range s.messages(x.Y, seen) {
				m := logCall{msg: l.msg, exact: false, parts: l.parts + " " + r.parts}
				if l.exact {
					m.msg, m.exact = l.msg+r.msg, r.exact
				}
				out = append(out, m)
			}
		}
		return out
	case *ast.CallExpr:
		sel, ok := x.Fun.(*ast.SelectorExpr)
		if !ok || len(x.Args) == 0 {
			break
		}
		f, ok := s.info.Uses[sel.Sel].(*types.Func)
		if !ok || f.Pkg() == nil || f.Pkg().Path() != "fmt" || f.Name() != "Sprintf" {
			break
		}
		if tv := s.info.Types[x.Args[0]]; tv.Value != nil {
			format := constant.StringVal(tv.Value)
			if i := strings.IndexByte(format, '%'); i >= 0 {
				return []logCall{{msg: format[:i], parts: format}}
			}
			return []logCall{{msg: format, exact: len(x.Args) == 1, parts: format}}
		}
	case *ast.Ident, *ast.SelectorExpr:
		var o types.Object
		if id, ok := x.(*ast.Ident); ok {
			o = s.info.Uses[id]
		} else {
			o = s.info.Uses[x.(*ast.SelectorExpr).Sel]
		}
		if o == nil || seen[o] || len(s.sources[o]) == 0 {
			break
		}
		seen[o] = true
		var out []logCall
		for _, v := range s.sources[o] {
			for _, m := range s.messages(v, seen) {
				if m.exact && m.msg == "" {
					continue // a zero value: the call is guarded by msg != ""
				}
				out = append(out, m)
			}
		}
		delete(seen, o)
		if len(out) > 0 {
			return out
		}
	}
	return []logCall{{}}
}

func relPos(p token.Position) string {
	wd, _ := os.Getwd()
	if r, err := filepath.Rel(wd, p.Filename); err == nil {
		return fmt.Sprintf("%s:%d", r, p.Line)
	}
	return p.String()
}

// logTableRows returns the `msg` starts docs/operations.md's section "WARN
// and ERROR lines" lists (every backquoted text of a row's first cell),
// and the section's text.
func logTableRows(t *testing.T) ([]string, string) {
	t.Helper()
	b, err := os.ReadFile("docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	const heading = "### WARN and ERROR lines"
	_, section, ok := strings.Cut(string(b), heading)
	if !ok {
		t.Fatalf("docs/operations.md has no %q section", heading)
	}
	if i := strings.Index(section, "\n## "); i >= 0 {
		section = section[:i]
	}
	code := regexp.MustCompile("`([^`]+)`")
	var rows []string
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "| ") || len(cells) < 3 || strings.Contains(cells[1], "`msg`") {
			continue
		}
		for _, m := range code.FindAllStringSubmatch(cells[1], -1) {
			rows = append(rows, m[1])
		}
	}
	return rows, section
}

// rowMatches reports whether the table's row (a msg start, "…" standing
// for any text) finds the line: the operator who searches the table for
// the line's msg finds the row. A computed message matches a row that
// starts with its constant prefix, or that its prefix starts.
func rowMatches(row string, lc logCall) bool {
	pieces := strings.Split(row, "…")
	first := pieces[0]
	if first == "" {
		return false
	}
	if !lc.exact {
		return lc.msg != "" && (strings.HasPrefix(lc.msg, first) || strings.HasPrefix(first, lc.msg))
	}
	rest, ok := strings.CutPrefix(lc.msg, first)
	if !ok {
		return false
	}
	for _, p := range pieces[1:] {
		i := strings.Index(rest, p)
		if i < 0 {
			return false
		}
		rest = rest[i+len(p):]
	}
	return true
}

// pointsToDocs reports whether the line names the page that explains it,
// as the section says such lines do instead of having a row.
func pointsToDocs(lc logCall) bool {
	return regexp.MustCompile(`docs/[\w-]+\.md`).MatchString(lc.parts)
}

// logDocsProblems returns every WARN or ERROR line the table does not
// explain, and every row no line matches.
func logDocsProblems(calls []logCall, rows []string) []string {
	var out []string
	used := map[string]bool{}
	for _, lc := range calls {
		if lc.stdlog {
			for r := range netHTTPLines {
				used[r] = slices.Contains(rows, r)
			}
			continue
		}
		if _, ok := unlistedLines[lc.msg]; ok && lc.exact {
			used["allow:"+lc.msg] = true
			continue
		}
		found := false
		for _, r := range rows {
			if rowMatches(r, lc) {
				used[r], found = true, true
			}
		}
		if found || pointsToDocs(lc) {
			continue
		}
		if lc.msg == "" {
			out = append(out, fmt.Sprintf("%s: %s line with a computed message and no constant start: give it one, and a row in docs/operations.md", lc.pos, lc.level))
			continue
		}
		out = append(out, fmt.Sprintf("%s: %s %q has no row in docs/operations.md's \"WARN and ERROR lines\" table", lc.pos, lc.level, lc.msg))
	}
	for _, r := range rows {
		if !used[r] {
			out = append(out, fmt.Sprintf("docs/operations.md's \"WARN and ERROR lines\" table lists %q, which no WARN or ERROR line logs", r))
		}
	}
	for r := range netHTTPLines {
		if !slices.Contains(rows, r) {
			out = append(out, fmt.Sprintf("netHTTPLines lists %q, which the table has no row for", r))
		}
	}
	for m := range unlistedLines {
		if !used["allow:"+m] {
			out = append(out, fmt.Sprintf("unlistedLines allows %q, which no WARN or ERROR line logs", m))
		}
	}
	slices.Sort(out)
	return out
}

// TestLogDocs_EveryWarnAndErrorLineHasARow: an operator who sees a WARN or
// ERROR line finds its msg in docs/operations.md, with what it means and
// what to do, and the table names no line that no longer exists.
func TestLogDocs_EveryWarnAndErrorLineHasARow(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list -export and type-checks the module")
	}
	calls := warnErrorCalls(t)
	if len(calls) < 50 {
		t.Fatalf("found only %d WARN and ERROR lines; the scan is broken", len(calls))
	}
	rows, _ := logTableRows(t)
	for _, p := range logDocsProblems(calls, rows) {
		t.Error(p)
	}
	for _, p := range levelProblems(calls, logTableLevels(t)) {
		t.Error(p)
	}
}

// logTableLevels returns the level cell of the row of each `msg` start
// logTableRows returns.
func logTableLevels(t *testing.T) map[string]string {
	t.Helper()
	_, section := logTableRows(t)
	code := regexp.MustCompile("`([^`]+)`")
	levels := map[string]string{}
	for _, line := range strings.Split(section, "\n") {
		cells := strings.Split(line, "|")
		if !strings.HasPrefix(line, "| ") || len(cells) < 4 {
			continue
		}
		for _, m := range code.FindAllStringSubmatch(cells[1], -1) {
			levels[m[1]] += cells[2]
		}
	}
	return levels
}

// levelProblems returns every line whose row's level cell does not name
// the level the code logs it at: an operator who pages on ERROR reads the
// table to learn which lines can page.
func levelProblems(calls []logCall, levels map[string]string) []string {
	var out []string
	for _, lc := range calls {
		if lc.stdlog || lc.level == "" {
			continue
		}
		// A line's row is the longest that finds it: "console: revoke"
		// finds "console: revoke API key" too, which has its own.
		row := ""
		for r := range levels {
			if rowMatches(r, lc) && len(r) > len(row) {
				row = r
			}
		}
		if row == "" {
			continue // logDocsProblems reports it
		}
		cell := levels[row]
		ok := strings.Contains(cell, lc.level)
		if lc.level == "WARN or ERROR" {
			ok = strings.Contains(cell, "WARN") || strings.Contains(cell, "ERROR")
		}
		if !ok {
			out = append(out, fmt.Sprintf("%s: %s %q, but its row in docs/operations.md says %q", lc.pos, lc.level, lc.msg, strings.TrimSpace(cell)))
		}
	}
	slices.Sort(out)
	return out
}

// TestLogDocs_RequestLineExplained: the one allowed line, the request's, is
// explained where the section says.
func TestLogDocs_RequestLineExplained(t *testing.T) {
	_, section := logTableRows(t)
	if !strings.Contains(section, "`msg=\"request\"`") {
		t.Error(`the "WARN and ERROR lines" section no longer explains msg="request", which unlistedLines allows`)
	}
}

// TestLogDocs_ScanFindsEveryForm checks the scan on a package that logs in
// every way the module does, and in ways that are not WARN or ERROR lines.
func TestLogDocs_ScanFindsEveryForm(t *testing.T) {
	if testing.Short() {
		t.Skip("type-checks against the standard library's export data")
	}
	const src = `package p

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

type collector struct {
	log *slog.Logger
	msg string
}

const named = "named constant"

func f(ctx context.Context, l *slog.Logger, w http.ResponseWriter, name string, failed bool, lvl slog.Level) {
	slog.Warn("package func")
	l.Error("method")
	l.WarnContext(ctx, "with context")
	l.ErrorContext(ctx, named)
	l.Log(ctx, slog.LevelWarn, "log at warn")
	l.LogAttrs(ctx, slog.LevelError+1, "log attrs above error")
	l.Log(ctx, slog.LevelInfo, "log at info")
	l.Info("info")
	l.Debug("debug")
	l.Warn(name + " computed start")
	l.Warn("constant start " + name)
	l.Error(fmt.Sprintf("format %s", name))
	msg := "variable one"
	if failed {
		msg = "variable two"
	}
	l.Warn(msg)
	c := collector{log: l, msg: "field"}
	c.log.Error(c.msg)
	g(l, "parameter")
	warn := l.Warn // a method value: the scan cannot follow its calls
	warn("through a method value")
	logf := slog.Error
	logf("through a function value")
	_ = slog.NewRecord(time.Now(), lvl, "record at a computed level", 0)
	_ = slog.NewLogLogger(l.Handler(), slog.LevelWarn)
	_ = slog.NewLogLogger(l.Handler(), slog.LevelInfo)
	http.Error(w, "not a log line", http.StatusInternalServerError)
	_ = fmt.Errorf("not a log line either")
}

func g(l *slog.Logger, what string) { l.Warn(what) }
`
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "p.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	calls, err := scanPackage(fset, importer.ForCompiler(fset, "gc", nil), "p", []*ast.File{f})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range calls {
		line := fmt.Sprintf("%s %q exact=%v", c.level, c.msg, c.exact)
		if c.stdlog {
			line += " stdlog"
		}
		got = append(got, line)
	}
	want := []string{
		`WARN "package func" exact=true`,
		`ERROR "method" exact=true`,
		`WARN "with context" exact=true`,
		`ERROR "named constant" exact=true`,
		`WARN "log at warn" exact=true`,
		`ERROR "log attrs above error" exact=true`,
		`WARN "" exact=false`,
		`WARN "constant start " exact=false`,
		`ERROR "format " exact=false`,
		`WARN "variable one" exact=true`,
		`WARN "variable two" exact=true`,
		`ERROR "field" exact=true`,
		`WARN "" exact=false`,  // the method value
		`ERROR "" exact=false`, // the function value
		`WARN or ERROR "record at a computed level" exact=true`,
		`WARN "" exact=false stdlog`,
		`WARN "parameter" exact=true`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("scan found\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestLogDocsProblems checks the comparison on lines and rows made up: a
// new WARN line without a row fails, and so does a row of a line gone.
func TestLogDocsProblems(t *testing.T) {
	rows := []string{"store down", "feed lost…", "the shared … vanished, data lost…", "a migration …; rolled back"}
	// documented are lines every row above matches, one each.
	documented := func() []logCall {
		return []logCall{
			{pos: "a.go:1", level: "WARN", msg: "store down", exact: true},
			{pos: "a.go:2", level: "WARN", msg: "feed lost; reconnecting", exact: true},
			{pos: "a.go:3", level: "ERROR", msg: "the shared key set vanished, data lost: seeded", exact: true},
			{pos: "a.go:4", level: "WARN", msg: "a migration ", exact: false},
		}
	}
	for _, tc := range []struct {
		name  string
		calls []logCall
		want  int // problems
	}{
		{"every line has its row", documented(), 0},
		{"a new WARN line without a row", append(documented(),
			logCall{pos: "b.go:9", level: "WARN", msg: "something new", exact: true},
		), 1},
		{"a row whose line is gone", []logCall{
			{pos: "a.go:2", level: "WARN", msg: "feed lost; reconnecting", exact: true},
			{pos: "a.go:3", level: "ERROR", msg: "the shared key set vanished, data lost: seeded", exact: true},
			{pos: "a.go:4", level: "WARN", msg: "a migration ", exact: false},
		}, 1},
		{"a message that only starts like a row's", []logCall{
			{pos: "a.go:1", level: "WARN", msg: "store down", exact: true},
			{pos: "a.go:2", level: "WARN", msg: "feed lost; reconnecting", exact: true},
			{pos: "a.go:3", level: "ERROR", msg: "the shared key set vanished", exact: true},
			{pos: "a.go:4", level: "WARN", msg: "a migration ", exact: false},
		}, 2}, // the line, and the row it no longer matches
		{"a computed message with no constant start", append(documented(),
			logCall{pos: "a.go:5", level: "WARN", msg: "", exact: false},
		), 1},
		{"a line that names its docs page", append(documented(),
			logCall{pos: "a.go:5", level: "WARN", msg: "key in clear (docs/operations.md, keys at rest)", exact: true, parts: "key in clear (docs/operations.md, keys at rest)"},
		), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var problems []string
			for _, p := range logDocsProblems(tc.calls, rows) {
				if !strings.Contains(p, "unlistedLines") && !strings.Contains(p, "netHTTPLines") {
					problems = append(problems, p)
				}
			}
			if len(problems) != tc.want {
				t.Errorf("logDocsProblems = %d problems; want %d:\n%s", len(problems), tc.want, strings.Join(problems, "\n"))
			}
		})
	}
}
