package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/sessiond/sessiond/internal/jsonbody"
)

// encoding/json (v1) is lenient where an API must not be: it replaces
// invalid UTF-8 and lone surrogate escapes with U+FFFD (so "\xffalice" and
// "\ud800alice" become one subject), lets the last of duplicate keys win
// and matches keys to fields case-insensitively ({"subject":"alice",
// "Subject":"mallory"} is mallory). checkJSON reads the body once before
// encoding/json does and refuses all of that, at every depth, claims
// included: the decoder then only ever sees input it reads unambiguously.

// maxJSONDepth bounds nesting; a deeper body is refused before it can
// cost a deep recursion.
const maxJSONDepth = 64

// errJSONSyntax: the scanner met something that is not JSON. The caller
// lets encoding/json describe the fault.
var errJSONSyntax = errors.New("json syntax")

// shape is what checkJSON expects of a value: for a struct, the exact JSON
// names of its fields; for a slice or array, the shape of its elements;
// and whether it may be null. Inside a value of no fields and no elem (a
// map, the claims, a type that reads itself) anything goes: its members
// are checked with a nil shape.
type shape struct {
	fields map[string]*shape // nil: not a struct
	elem   *shape            // of a slice or array
	// null: JSON null is a value of this type (a pointer or an
	// interface). Elsewhere encoding/json would take null for absent, so
	// checkJSON refuses it: a field the API documents as nullable is a
	// pointer.
	null bool
	// own is the type, when it reads itself (UnmarshalJSON: time.Time,
	// json.RawMessage); its errors name no field (ownFault finds it).
	own reflect.Type
}

var shapes sync.Map // reflect.Type → *shape

// shapeOf returns the shape of values decoded into t, or into what t
// points to: a request body is a value, never null.
func shapeOf(t reflect.Type) *shape {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if s, ok := shapes.Load(t); ok {
		return s.(*shape)
	}
	s, _ := shapes.LoadOrStore(t, buildShape(t, 0))
	return s.(*shape)
}

var unmarshalerType = reflect.TypeFor[json.Unmarshaler]()

func buildShape(t reflect.Type, depth int) *shape {
	null := t.Kind() == reflect.Pointer || t.Kind() == reflect.Interface
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if depth > 8 {
		return nil
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		return &shape{null: null, own: t}
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return &shape{elem: buildShape(t.Elem(), depth+1), null: null}
	case reflect.Struct:
		s := &shape{fields: map[string]*shape{}, null: null}
		addFields(s, t, depth)
		return s
	}
	return &shape{null: null} // a scalar, or a map: its members are free
}

func addFields(s *shape, t reflect.Type, depth int) {
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			addFields(s, f.Type, depth)
			continue
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		s.fields[name] = buildShape(f.Type, depth+1)
	}
}

// checkJSON checks one JSON value in data against want: strings (keys
// included) must be valid UTF-8 with no lone surrogate escape, no object
// may hold two keys that are equal or differ only in case, an object
// decoded into a struct may only use its fields' exact names, and null
// stands only where want says it may (never for the value itself). It
// returns a requestError, or errJSONSyntax when data is not JSON at all.
func checkJSON(data []byte, want *shape) error {
	c := checker{data: data}
	c.skipSpace()
	if err := c.value(want, 0); err != nil {
		return err
	}
	c.skipSpace()
	if c.pos != len(c.data) {
		return errJSONSyntax
	}
	return c.fault
}

type checker struct {
	data []byte
	pos  int
	keys [][]byte // scratch for the keys of the objects being read, as a stack
	// path leads to the value being read, through the fields and
	// elements of typed values: it names a null refused.
	path []pathStep
	// fault is the first key that is no field of its struct, or null
	// where a value must be: reported once the whole body is known to be
	// readable.
	fault error
}

// pathStep is a field name, or with a nil name an element's index.
type pathStep struct {
	name  []byte
	index int
}

// refuseNull notes a null at c.path where a value must be.
func (c *checker) refuseNull() {
	if c.fault != nil {
		return
	}
	if len(c.path) == 0 {
		c.fault = badRequest("request body must be a JSON object")
		return
	}
	var b strings.Builder
	for i, p := range c.path {
		switch {
		case p.name == nil:
			fmt.Fprintf(&b, "[%d]", p.index)
		case i > 0:
			b.WriteByte('.')
			fallthrough
		default:
			b.Write(p.name)
		}
	}
	c.fault = badRequest(b.String() + ": must not be null")
}

func (c *checker) skipSpace() { c.pos = skipJSONSpace(c.data, c.pos) }

// skipJSONSpace returns the index of the first byte of b from i on that is
// not JSON white space (len(b) when there is none): both readers of
// request bodies skip it the same way.
func skipJSONSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

func (c *checker) value(want *shape, depth int) error {
	if depth > maxJSONDepth {
		return badRequest(fmt.Sprintf("request body is nested more than %d levels deep", maxJSONDepth))
	}
	if c.pos >= len(c.data) {
		return errJSONSyntax
	}
	switch ch := c.data[c.pos]; {
	case ch == '{':
		return c.object(want, depth)
	case ch == '[':
		var elem *shape
		if want != nil {
			elem = want.elem
		}
		if c.open(']') {
			return nil
		}
		if elem == nil {
			return c.elements(nil, depth)
		}
		c.path = append(c.path, pathStep{})
		err := c.elements(elem, depth)
		c.path = c.path[:len(c.path)-1]
		return err
	case ch == '"':
		_, _, err := c.str()
		return err
	default:
		// A number or literal: its bytes are ASCII or it is not JSON;
		// encoding/json checks the grammar.
		start := c.pos
		for c.pos < len(c.data) {
			b := c.data[c.pos]
			if b == ',' || b == '}' || b == ']' || b == ' ' || b == '\t' || b == '\n' || b == '\r' {
				break
			}
			if b >= utf8.RuneSelf || b == '"' || b == '{' || b == '[' {
				return errJSONSyntax
			}
			c.pos++
		}
		if c.pos == start {
			return errJSONSyntax
		}
		if want != nil && !want.null && string(c.data[start:c.pos]) == "null" {
			c.refuseNull()
		}
		return nil
	}
}

// elements reads the elements of an array after its opening bracket;
// with elem, the last step of c.path is theirs.
func (c *checker) elements(elem *shape, depth int) error {
	for i := 0; ; i++ {
		if elem != nil {
			c.path[len(c.path)-1].index = i
		}
		c.skipSpace()
		if err := c.value(elem, depth+1); err != nil {
			return err
		}
		if more, err := c.next(']'); !more {
			return err
		}
	}
}

func (c *checker) object(want *shape, depth int) error {
	base := len(c.keys)          // this object's keys are c.keys[base:]; an error ends the scan
	var folded map[string]string // fold → key, once the object has many
	if c.open('}') {
		return nil
	}
	for {
		c.skipSpace()
		if c.pos >= len(c.data) || c.data[c.pos] != '"' {
			return errJSONSyntax
		}
		raw, escaped, err := c.str()
		if err != nil {
			return err
		}
		key := raw[1 : len(raw)-1] // no copy: the common case
		if escaped {
			var k string
			if err := json.Unmarshal(raw, &k); err != nil {
				return errJSONSyntax
			}
			key = []byte(k)
		}
		// Few keys (every request shape): compare each pair. Many (a
		// large claims object): index them by their case fold.
		if folded == nil && len(c.keys)-base >= 16 {
			folded = make(map[string]string, 64)
			for _, k := range c.keys[base:] {
				folded[jsonbody.Key(string(k))] = string(k)
			}
		}
		if folded != nil {
			f := jsonbody.Key(string(key))
			if prev, ok := folded[f]; ok {
				return sameKey(prev, string(key))
			}
			folded[f] = string(key)
		} else {
			for _, prev := range c.keys[base:] {
				if bytes.EqualFold(prev, key) {
					return sameKey(string(prev), string(key))
				}
			}
		}
		c.keys = append(c.keys, key)
		var sub *shape
		if want != nil && want.fields != nil {
			s, ok := want.fields[string(key)]
			if !ok && c.fault == nil {
				c.fault = badRequest("unknown field " + quoteName(string(key)))
			}
			sub = s
		}
		c.skipSpace()
		if c.pos >= len(c.data) || c.data[c.pos] != ':' {
			return errJSONSyntax
		}
		c.pos++
		c.skipSpace()
		if sub != nil {
			c.path = append(c.path, pathStep{name: key})
		}
		err = c.value(sub, depth+1)
		if sub != nil {
			c.path = c.path[:len(c.path)-1]
		}
		if err != nil {
			return err
		}
		more, err := c.next('}')
		if err != nil {
			return err
		}
		if !more {
			c.keys = c.keys[:base]
			return nil
		}
	}
}

// open steps over the opening bracket at c.pos and the space after it, and
// reports whether the array or object is empty: then its closing bracket
// end is stepped over too.
func (c *checker) open(end byte) (empty bool) {
	c.pos++
	c.skipSpace()
	if c.pos < len(c.data) && c.data[c.pos] == end {
		c.pos++
		return true
	}
	return false
}

// next steps over what follows a member of an array or object: a comma
// (more members follow) or the closing bracket end; anything else is a
// syntax error.
func (c *checker) next(end byte) (more bool, err error) {
	c.skipSpace()
	if c.pos >= len(c.data) {
		return false, errJSONSyntax
	}
	switch c.data[c.pos] {
	case ',':
		c.pos++
		return true, nil
	case end:
		c.pos++
		return false, nil
	}
	return false, errJSONSyntax
}

// str reads a string starting at the opening quote and returns its raw
// bytes, quotes included, and whether it holds an escape.
func (c *checker) str() (raw []byte, escaped bool, err error) {
	start := c.pos
	c.pos++
	for c.pos < len(c.data) {
		b := c.data[c.pos]
		switch {
		case b == '"':
			c.pos++
			return c.data[start:c.pos], escaped, nil
		case b == '\\':
			escaped = true
			if c.pos+1 >= len(c.data) {
				return nil, false, errJSONSyntax
			}
			if c.data[c.pos+1] != 'u' {
				c.pos += 2
				continue
			}
			r, ok := c.hex4(c.pos + 2)
			if !ok {
				return nil, false, errJSONSyntax
			}
			c.pos += 6
			switch {
			case r >= 0xDC00 && r <= 0xDFFF:
				return nil, false, errBadUnicode
			case r >= 0xD800 && r <= 0xDBFF:
				// A high surrogate must be followed by a low one.
				if c.pos+1 >= len(c.data) || c.data[c.pos] != '\\' || c.data[c.pos+1] != 'u' {
					return nil, false, errBadUnicode
				}
				lo, ok := c.hex4(c.pos + 2)
				if !ok {
					return nil, false, errJSONSyntax
				}
				if lo < 0xDC00 || lo > 0xDFFF {
					return nil, false, errBadUnicode
				}
				c.pos += 6
			}
		case b < 0x20:
			return nil, false, errJSONSyntax
		case b < utf8.RuneSelf:
			c.pos++
		default:
			r, size := utf8.DecodeRune(c.data[c.pos:])
			if r == utf8.RuneError && size <= 1 {
				return nil, false, errBadUnicode
			}
			c.pos += size
		}
	}
	return nil, false, errJSONSyntax
}

func (c *checker) hex4(at int) (rune, bool) {
	if at+4 > len(c.data) {
		return 0, false
	}
	var r rune
	for _, b := range c.data[at : at+4] {
		switch {
		case b >= '0' && b <= '9':
			r = r<<4 | rune(b-'0')
		case b >= 'a' && b <= 'f':
			r = r<<4 | rune(b-'a'+10)
		case b >= 'A' && b <= 'F':
			r = r<<4 | rune(b-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

// errBadUnicode refuses a string encoding/json would silently rewrite.
var errBadUnicode = badRequest("request body holds a string that is not valid UTF-8 (an invalid byte sequence or a lone surrogate escape)")

// quoteName quotes a field name for an error detail, or stands in for one
// too long (or too odd) to repeat.
func quoteName(name string) string {
	if len(name) > 64 || strings.ContainsFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) {
		return "(name not repeated)"
	}
	return fmt.Sprintf("%q", name)
}

func sameKey(prev, key string) error {
	if prev == key {
		return badRequest("duplicate field " + quoteName(key))
	}
	return badRequest("fields " + quoteName(prev) + " and " + quoteName(key) + " differ only in case")
}
