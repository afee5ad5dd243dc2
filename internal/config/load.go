package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"unicode/utf8"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
)

// MaxFileBytes bounds the size of a configuration file. Real files are a
// few kilobytes; the YAML parser's time grows with the square of the number
// of keys in one mapping, so the bound also bounds start-up time (a
// few seconds for a pathological file of this size).
const MaxFileBytes = 128 << 10

// ErrSyntax marks a file that is not YAML, or whose top level is not a
// mapping: nothing in it can be trusted as a setting. Callers tell it apart
// from an unreadable file (an *os.PathError) and from field errors.
var ErrSyntax = errors.New("invalid YAML")

// FieldError is one problem with one key: unknown, of the wrong type, or
// holding a value that cannot be parsed. Path is the dotted key path (or,
// from ApplyEnv, the environment variable's name); Line and Column are
// 1-based and zero when there is no position.
type FieldError struct {
	Path   string
	Line   int
	Column int
	Msg    string

	unknown bool // an unknown key rather than a bad value
}

// UnknownKey reports whether the error is about a key that does not exist
// (SD-SCHEMA-001) rather than a bad value (SD-SCHEMA-002).
func (e *FieldError) UnknownKey() bool { return e.unknown }

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:%d: ", e.Line, e.Column)
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Document is the parsed file: where each key sits, and what was wrong
// with it. The validator uses it to give findings a line and column.
// A nil *Document is valid and knows no positions.
type Document struct {
	name    string
	pos     map[string]position
	errs    []*FieldError
	refused map[string]bool // paths whose value was refused, not applied
}

type position struct {
	line, col int
}

// Name returns the file name the document was parsed under.
func (d *Document) Name() string {
	if d == nil {
		return ""
	}
	return d.name
}

// Has reports whether the dotted path is written in the file. List items
// are addressed by index: "webhooks.0.url".
func (d *Document) Has(path string) bool {
	if d == nil {
		return false
	}
	_, ok := d.pos[path]
	return ok
}

// Position returns the line and column of path: its value when it is a
// scalar, its key otherwise. When the key is absent (its default applies)
// it returns the position of the nearest parent that is present, and 0, 0
// when there is none (or d is nil).
func (d *Document) Position(path string) (line, col int) {
	if d == nil {
		return 0, 0
	}
	for {
		if p, ok := d.pos[path]; ok {
			return p.line, p.col
		}
		i := strings.LastIndexByte(path, '.')
		if i < 0 {
			break
		}
		path = path[:i]
	}
	if p, ok := d.pos[""]; ok {
		return p.line, p.col
	}
	return 0, 0
}

// Refused reports whether the value written at path, or at a key or list
// item above it, was refused (of the wrong type or unparsable), so that
// the default stands in its place. A finding about such a path would be
// about the default, not the file: the field error already reports it.
func (d *Document) Refused(path string) bool {
	if d == nil || len(d.refused) == 0 {
		return false
	}
	for {
		if d.refused[path] {
			return true
		}
		i := strings.LastIndexByte(path, '.')
		if i < 0 {
			return false
		}
		path = path[:i]
	}
}

// Errors returns the field errors found while parsing, in file order.
func (d *Document) Errors() []*FieldError {
	if d == nil {
		return nil
	}
	return append([]*FieldError(nil), d.errs...)
}

func (d *Document) err() error {
	if len(d.errs) == 0 {
		return nil
	}
	errs := make([]error, len(d.errs))
	for i, e := range d.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

// Load reads and parses the file at path. See Parse for the results; a
// file that cannot be read gives an error wrapping the *os.PathError, and
// one that is not a regular file (a FIFO, a device, a socket) an error
// wrapping ErrSecretNotRegular, naming it.
func Load(path string) (Config, *Document, error) {
	data, err := readConfigFile(path)
	if err != nil {
		return Default(), nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path)
}

// readConfigFile reads the file at path, at most MaxFileBytes. It is
// opened without blocking and refused unless it is a regular file: opening
// a FIFO for reading otherwise waits for a writer, forever if none comes,
// and serve would wait there with SIGTERM trapped. A directory is left to
// the read, which fails as it always did ("is a directory").
func readConfigFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err // an *fs.PathError: names the file
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if m := st.Mode(); !m.IsRegular() && !m.IsDir() {
		return nil, NotRegularError(path, m)
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileBytes {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, MaxFileBytes)
	}
	return data, nil
}

// Parse decodes data strictly on top of Default. name is used in messages.
//
// When data is not YAML, or its top level is not a mapping, the error
// wraps ErrSyntax and the Document is nil. Otherwise the Document is
// always returned, and the error, if any, joins one *FieldError per
// unknown key, wrong type or bad value (all of them, not just the first);
// such keys keep their default in the returned Config.
func Parse(data []byte, name string) (Config, *Document, error) {
	cfg := Default()
	if len(data) > MaxFileBytes {
		return cfg, nil, fmt.Errorf("%s: larger than %d bytes", name, MaxFileBytes)
	}
	// A byte order mark may start a YAML stream (YAML 1.2 §5.2); editors
	// on Windows write one. Left in, it would join the first key's name.
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	if line, col, c, ok := invalidUTF8(data); ok {
		// The parser would turn the byte into U+FFFD and carry on, so a
		// value would silently differ from what the file holds.
		return cfg, nil, fmt.Errorf("%s:%d:%d: %w: byte 0x%02X is not UTF-8; save the file as UTF-8", name, line, col, ErrSyntax, c)
	}
	if err := checkNesting(data); err != nil {
		return cfg, nil, fmt.Errorf("%s: %w: %v", name, ErrSyntax, err)
	}
	f, err := parseYAML(data)
	if err != nil {
		return cfg, nil, syntaxError(name, err)
	}
	doc := &Document{name: name, pos: map[string]position{}}
	var body ast.Node
	for _, dn := range f.Docs {
		if dn == nil || dn.Body == nil {
			continue
		}
		if body != nil {
			tk := dn.Body.GetToken()
			doc.fail("", tk, false, "a config file holds one YAML document; this one is ignored")
			break
		}
		body = dn.Body
	}
	doc.pos[""] = position{1, 1}
	if body == nil {
		return cfg, doc, nil
	}
	tk := body.GetToken()
	inner := body
	for {
		if a, ok := inner.(*ast.AnchorNode); ok && a.Value != nil {
			inner = a.Value
			continue
		}
		if t, ok := inner.(*ast.TagNode); ok && t.Value != nil {
			inner = t.Value
			continue
		}
		break
	}
	switch inner.(type) {
	case *ast.MappingNode:
	case *ast.NullNode:
		return cfg, doc, doc.err()
	default:
		p := tokenPos(tk)
		return cfg, nil, fmt.Errorf("%s:%d:%d: %w: the top level must be a mapping of keys, got %s",
			name, p.line, p.col, ErrSyntax, describe(inner))
	}
	(&decoder{doc: doc}).decode("", body, reflect.ValueOf(&cfg).Elem())
	sort.SliceStable(doc.errs, func(i, j int) bool {
		a, b := doc.errs[i], doc.errs[j]
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Column < b.Column
	})
	return cfg, doc, doc.err()
}

// invalidUTF8 finds the first byte of data that is not part of valid
// UTF-8, with its 1-based line and column (in characters); ok is false
// when data is valid UTF-8.
func invalidUTF8(data []byte) (line, col int, c byte, ok bool) {
	if utf8.Valid(data) {
		return 0, 0, 0, false
	}
	line, col = 1, 1
	for i := 0; i < len(data); {
		r, n := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && n == 1 {
			return line, col, data[i], true
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i += n
	}
	return 0, 0, 0, false // unreachable: utf8.Valid said otherwise
}

// maxNesting bounds how deeply collections may nest. A config file needs
// five levels; the YAML parser's time grows with the square of the depth,
// so a pathological file could otherwise stall start-up for hours.
const maxNesting = 64

// checkNesting rejects input nested deeper than maxNesting in flow style
// ([ { ) or in sequence indicators on one line (- - -). It is a
// conservative scan: quotes and comments are skipped, block indentation is
// not counted (its depth is bounded by the line length).
func checkNesting(data []byte) error {
	depth, dashes := 0, 0
	lineStart := true
	var quote byte
	for i := 0; i < len(data); i++ {
		c := data[i]
		if quote != 0 {
			switch {
			case quote == '"' && c == '\\':
				i++
			case c == quote:
				quote = 0
			}
			continue
		}
		switch c {
		case '\n':
			lineStart, dashes = true, 0
			continue
		case '#':
			if i == 0 || data[i-1] == ' ' || data[i-1] == '\t' || data[i-1] == '\n' {
				for i < len(data) && data[i] != '\n' {
					i++
				}
				i--
				continue
			}
		case '"', '\'':
			if i == 0 || strings.IndexByte(" \t\n[{,:-", data[i-1]) >= 0 {
				quote = c
			}
		case '[', '{':
			depth++
		case ']', '}':
			depth = max(0, depth-1)
		case '-':
			if lineStart && (i+1 == len(data) || data[i+1] == ' ' || data[i+1] == '\t') {
				dashes++
			}
		}
		if c != ' ' && c != '\t' && c != '-' {
			lineStart = false
		}
		if depth > maxNesting || dashes > maxNesting {
			return fmt.Errorf("collections nested deeper than %d levels", maxNesting)
		}
	}
	return nil
}

// parseYAML runs the YAML parser. A panic inside the third-party parser is
// turned into a syntax error so that no input can crash the server.
func parseYAML(data []byte) (f *ast.File, err error) {
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("yaml parser failed: %v", r)
		}
	}()
	return parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
}

func syntaxError(name string, err error) error {
	var ye yaml.Error
	if errors.As(err, &ye) {
		if tk := ye.GetToken(); tk != nil && tk.Position != nil {
			return fmt.Errorf("%s:%d:%d: %w: %s", name, tk.Position.Line, tk.Position.Column, ErrSyntax, ye.GetMessage())
		}
		return fmt.Errorf("%s: %w: %s", name, ErrSyntax, ye.GetMessage())
	}
	return fmt.Errorf("%s: %w: %v", name, ErrSyntax, err)
}

func tokenPos(tk *token.Token) position {
	if tk == nil || tk.Position == nil {
		return position{}
	}
	return position{tk.Position.Line, tk.Position.Column}
}

func (d *Document) fail(path string, tk *token.Token, unknown bool, format string, args ...any) {
	p := tokenPos(tk)
	d.errs = append(d.errs, &FieldError{
		Path: path, Line: p.line, Column: p.col,
		Msg: fmt.Sprintf(format, args...), unknown: unknown,
	})
}

// refuse records that the value at path could not be applied: the error,
// and the path, so that the validator says nothing more about the default
// left in its place (Document.Refused).
func (dec *decoder) refuse(path string, tk *token.Token, format string, args ...any) {
	dec.doc.fail(path, tk, false, format, args...)
	if dec.doc.refused == nil {
		dec.doc.refused = map[string]bool{}
	}
	dec.doc.refused[path] = true
}

// decoder walks the YAML tree against the Config type by reflection,
// recording positions and collecting every error instead of stopping at the
// first.
type decoder struct {
	doc *Document
	tag string // the YAML tag of the node resolve last returned, if any
}

var (
	anomalyRuleType = reflect.TypeFor[AnomalyRule]()
	webhookType     = reflect.TypeFor[Webhook]()
)

// resolve strips anchors and the !!str tag. It reports aliases, merge keys
// and other tags as errors: they are rarely needed in a config file and
// make it harder to see what a key is set to.
func (dec *decoder) resolve(path string, n ast.Node) (node ast.Node, asString, ok bool) {
	dec.tag = ""
	for {
		switch x := n.(type) {
		case *ast.AnchorNode:
			if x.Value == nil {
				return &ast.NullNode{}, false, true
			}
			n = x.Value
		case *ast.TagNode:
			tag := ""
			if x.Start != nil {
				tag = x.Start.Value
			}
			dec.tag = tag
			switch tag {
			case "!!str":
				asString = true
			case "!!map", "!!seq", "!!int", "!!bool", "!!null":
			default:
				dec.refuse(path, x.GetToken(), "YAML tag %s is not supported here", tag)
				return nil, false, false
			}
			if x.Value == nil {
				return &ast.NullNode{}, asString, true
			}
			n = x.Value
		case *ast.AliasNode:
			dec.refuse(path, x.GetToken(), "YAML aliases are not supported; write the value out")
			return nil, false, false
		case nil:
			return &ast.NullNode{}, false, true
		default:
			return n, asString, true
		}
	}
}

func (dec *decoder) decode(path string, n ast.Node, v reflect.Value) {
	n, asString, ok := dec.resolve(path, n)
	if !ok {
		return
	}
	tk := n.GetToken()
	t := v.Type()
	switch {
	case t == durationType:
		dec.duration(path, n, asString, v)
	case t.Kind() == reflect.Struct:
		if t == anomalyRuleType {
			v.SetZero()
		}
		switch m := n.(type) {
		case *ast.MappingNode:
			dec.mapping(path, m, v)
		case *ast.NullNode:
		default:
			dec.refuse(path, tk, "expected a mapping of keys, got %s", describe(n))
		}
	case t.Kind() == reflect.Slice:
		switch s := n.(type) {
		case *ast.SequenceNode:
			out := reflect.MakeSlice(t, len(s.Values), len(s.Values))
			for i, item := range s.Values {
				ip := joinPath(path, strconv.Itoa(i))
				if item != nil {
					dec.doc.pos[ip] = nodePos(item)
				}
				if t.Elem() == webhookType {
					out.Index(i).Set(reflect.ValueOf(DefaultWebhook()))
				}
				dec.decode(ip, item, out.Index(i))
			}
			v.Set(out)
		case *ast.NullNode:
			v.Set(reflect.MakeSlice(t, 0, 0))
		default:
			dec.refuse(path, tk, "expected a list, got %s", describe(n))
		}
	case t.Kind() == reflect.Bool:
		b, ok := n.(*ast.BoolNode)
		if !ok || asString {
			hint := ""
			if s, isStr := n.(*ast.StringNode); isStr {
				switch {
				case dec.tag == "!!bool":
					// The tag asks for a boolean, but this loader keeps a
					// quoted value a string: say so, not "YAML 1.2".
					hint = " (the !!bool tag does not turn a quoted value into a boolean here; write true or false without quotes or tag)"
				default:
					switch strings.ToLower(s.Value) {
					case "yes", "no", "on", "off", "y", "n", "true", "false":
						hint = " (YAML 1.2 reads it as a string; write true or false, unquoted)"
					}
				}
			}
			dec.refuse(path, tk, "expected true or false, got %s%s", describe(n), hint)
			return
		}
		v.SetBool(b.Value)
	case t.Kind() >= reflect.Int && t.Kind() <= reflect.Int64:
		in, ok := n.(*ast.IntegerNode)
		if !ok || asString {
			dec.refuse(path, tk, "expected an integer, got %s", describe(n))
			return
		}
		var i int64
		switch x := in.Value.(type) {
		case int64:
			i = x
		case uint64:
			if x > 1<<62 {
				dec.refuse(path, tk, "integer %d is out of range", x)
				return
			}
			i = int64(x)
		default:
			dec.refuse(path, tk, "expected an integer, got %s", describe(n))
			return
		}
		if v.OverflowInt(i) {
			dec.refuse(path, tk, "integer %d is out of range", i)
			return
		}
		v.SetInt(i)
	case t == replicaCountType:
		// "auto" or a number: an unquoted integer is that number.
		_, isInt := n.(*ast.IntegerNode)
		s, ok := scalarString(n, asString || isInt)
		if !ok {
			dec.refuse(path, tk, "expected auto or a number, got %s", describe(n))
			return
		}
		v.SetString(s)
	case t.Kind() == reflect.String:
		s, ok := scalarString(n, asString)
		if !ok {
			dec.refuse(path, tk, "expected a string, got %s (quote it if it is meant as text)", describe(n))
			return
		}
		v.SetString(s)
	default:
		// Unreachable with the Config type: every field kind is handled.
		panic(fmt.Sprintf("config: unsupported field type %s at %s", t, path))
	}
}

func (dec *decoder) duration(path string, n ast.Node, asString bool, v reflect.Value) {
	tk := n.GetToken()
	var text string
	switch x := n.(type) {
	case *ast.NullNode:
		v.SetInt(0)
		return
	case *ast.StringNode:
		text = x.Value
	case *ast.IntegerNode:
		if asString {
			text = tk.Value
			break
		}
		if x.Value == uint64(0) || x.Value == int64(0) {
			v.SetInt(0)
			return
		}
		dec.refuse(path, tk, "a duration needs a unit: write %q, %q or %q rather than %s", tk.Value+"s", tk.Value+"m", tk.Value+"h", tk.Value)
		return
	default:
		dec.refuse(path, tk, "expected a duration such as 15m, got %s", describe(n))
		return
	}
	d, err := ParseDuration(text)
	if err != nil {
		dec.refuse(path, tk, "%v", err)
		return
	}
	v.SetInt(int64(d))
}

func (dec *decoder) mapping(path string, m *ast.MappingNode, v reflect.Value) {
	t := v.Type()
	fields := map[string]int{}
	var names []string
	for i := range t.NumField() {
		if name := yamlName(t.Field(i)); name != "" {
			fields[name] = i
			names = append(names, name)
		}
	}
	seen := map[string]bool{}
	for _, mv := range m.Values {
		if mv == nil || mv.Key == nil {
			continue
		}
		ktk := mv.Key.GetToken()
		key, ok := keyString(mv.Key)
		if !ok {
			if _, merge := mv.Key.(*ast.MergeKeyNode); merge {
				dec.doc.fail(path, ktk, false, "YAML merge keys (<<) are not supported: write the keys out in %s", orTop(path))
			} else {
				dec.doc.fail(path, ktk, false, "unsupported key %s: keys are plain names", describe(mv.Key))
			}
			continue
		}
		kp := joinPath(path, key)
		i, known := fields[key]
		if !known {
			dec.doc.fail(kp, ktk, true, "%s", unknownKeyMsg(path, key, names))
			continue
		}
		if seen[key] {
			dec.doc.fail(kp, ktk, false, "duplicate key; the first value is used")
			continue
		}
		seen[key] = true
		dec.doc.pos[kp] = valuePos(mv)
		dec.decode(kp, mv.Value, v.Field(i))
	}
}

// valuePos is where a finding about a key points: at the value when it is
// a scalar on the same line, at the key otherwise.
func valuePos(mv *ast.MappingValueNode) position {
	kp := tokenPos(mv.Key.GetToken())
	val := mv.Value
	for {
		switch x := val.(type) {
		case *ast.AnchorNode:
			val = x.Value
			continue
		case *ast.TagNode:
			val = x.Value
			continue
		}
		break
	}
	switch val.(type) {
	case nil, *ast.MappingNode, *ast.SequenceNode, *ast.NullNode, *ast.LiteralNode:
		return kp
	}
	if vp := tokenPos(val.GetToken()); vp.line == kp.line {
		return vp
	}
	return kp
}

// nodePos is where a node starts; a block mapping's own token is its first
// ':' so the first key is used instead.
func nodePos(n ast.Node) position {
	if a, ok := n.(*ast.AnchorNode); ok && a.Value != nil {
		n = a.Value
	}
	if m, ok := n.(*ast.MappingNode); ok && len(m.Values) > 0 && m.Values[0].Key != nil {
		return tokenPos(m.Values[0].Key.GetToken())
	}
	return tokenPos(n.GetToken())
}

func keyString(k ast.MapKeyNode) (string, bool) {
	switch x := k.(type) {
	case *ast.StringNode:
		return x.Value, true
	case *ast.IntegerNode, *ast.BoolNode, *ast.FloatNode, *ast.NullNode:
		return x.GetToken().Value, true
	}
	return "", false
}

func scalarString(n ast.Node, asString bool) (string, bool) {
	switch x := n.(type) {
	case *ast.StringNode:
		return x.Value, true
	case *ast.LiteralNode:
		if x.Value == nil {
			return "", true
		}
		return x.Value.Value, true
	case *ast.NullNode:
		return "", true
	case *ast.IntegerNode, *ast.FloatNode, *ast.BoolNode, *ast.InfinityNode, *ast.NanNode:
		if asString {
			return x.GetToken().Value, true
		}
	}
	return "", false
}

// describe names a node's kind (and a short value) for messages.
func describe(n ast.Node) string {
	short := func(s string) string {
		if len(s) > 40 {
			s = s[:40] + "…"
		}
		return strconv.Quote(s)
	}
	switch x := n.(type) {
	case nil, *ast.NullNode:
		return "null"
	case *ast.MappingNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	case *ast.StringNode:
		return "string " + short(x.Value)
	case *ast.LiteralNode:
		return "a block string"
	case *ast.BoolNode:
		return "boolean " + x.GetToken().Value
	case *ast.IntegerNode:
		return "integer " + x.GetToken().Value
	case *ast.FloatNode, *ast.InfinityNode, *ast.NanNode:
		return "number " + x.GetToken().Value
	case *ast.MappingKeyNode:
		return "a complex key"
	case *ast.MergeKeyNode:
		return "merge key <<"
	}
	return "a " + strings.ToLower(n.Type().String())
}

func orTop(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

func unknownKeyMsg(parent, key string, valid []string) string {
	where := ""
	if parent != "" {
		where = " in " + parent
	}
	if s := suggest(key, valid); s != "" {
		return fmt.Sprintf("unknown key %q%s (did you mean %q?)", key, where, s)
	}
	// A key at this level that the name begins (secret → secret_file)
	// beats a closer spelling elsewhere (secret → cookie.secure).
	if s := prefixOf(key, valid); s != "" {
		return fmt.Sprintf("unknown key %q%s (did you mean %q?)", key, where, s)
	}
	if s := suggestPath(key); s != "" {
		return fmt.Sprintf("unknown key %q%s (did you mean %q?)", key, where, s)
	}
	return fmt.Sprintf("unknown key %q%s; valid keys: %s", key, where, strings.Join(valid, ", "))
}

// suggest returns the candidate closest to key, or "" when none is close
// enough to be a likely typo. Case, '-' and '_' are ignored first, so
// "sameSite" and "same-site" both find "same_site".
func suggest(key string, candidates []string) string {
	nk := normalizeKey(key)
	if nk == "" {
		return ""
	}
	best, bestDist := "", 0
	for _, c := range candidates {
		nc := normalizeKey(c)
		if nc == nk {
			return c
		}
		d := levenshtein(nk, nc)
		if best == "" || d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := max(1, min(3, len([]rune(nk))/3))
	if best != "" && bestDist <= limit {
		return best
	}
	return ""
}

// prefixOf returns the one candidate that key is the start of (or that is
// the start of key), ignoring case, '-' and '_'; "" when none or several.
func prefixOf(key string, candidates []string) string {
	nk := normalizeKey(key)
	if len(nk) < 3 {
		return ""
	}
	found := ""
	for _, c := range candidates {
		nc := normalizeKey(c)
		if strings.HasPrefix(nc, nk) || len(nc) >= 3 && strings.HasPrefix(nk, nc) {
			if found != "" {
				return ""
			}
			found = c
		}
	}
	return found
}

// suggestPath finds a key of that name, or a close one, at another level
// ("secure" written at the top level is cookie.secure). It answers only
// when one key is the clear best match.
func suggestPath(key string) string {
	nk := normalizeKey(key)
	if nk == "" {
		return ""
	}
	best, bestDist, ties := "", 0, 0
	for _, k := range Keys() {
		leaf := k[strings.LastIndexByte(k, '.')+1:]
		d := levenshtein(nk, normalizeKey(leaf))
		switch {
		case best == "" || d < bestDist:
			best, bestDist, ties = k, d, 1
		case d == bestDist:
			ties++
		}
	}
	if ties != 1 || bestDist > max(0, min(3, len([]rune(nk))/3)) {
		return ""
	}
	return strings.ReplaceAll(best, "[]", ".N")
}

func normalizeKey(s string) string {
	s = strings.ToLower(s)
	return strings.Map(func(r rune) rune {
		if r == '_' || r == '-' || r == ' ' {
			return -1
		}
		return r
	}, s)
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return max(len(ra), len(rb))
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
