package ssf

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"unicode/utf16"
	"unicode/utf8"

	josejson "github.com/go-jose/go-jose/v4/json"
	"github.com/sessiond/sessiond/internal/jsonbody"
)

// decode reads the JSON object of a request body into v, with member
// names matched exactly (exactNames).
//
// A body ServeHTTP refused by its headers (refusedBody) is that refusal.
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return &RequestError{http.StatusRequestEntityTooLarge, "invalid_request", "body too large"}
		}
		if re, ok := errors.AsType[*RequestError](err); ok {
			return re
		}
		return badRequest("body could not be read")
	}
	if err := requestNames(body); err != nil {
		return err
	}
	return unmarshalExact(body, v)
}

// maxDepth is the nesting sessiond's API takes in a request body (the
// body itself is level 0), and so the Transmitter used alone.
const maxDepth = 64

// requestNames refuses a request body that sessiond's API routes refuse
// before they hand it to the Transmitter, beyond what unmarshalExact
// checks: two member names of one object that differ only in letter case
// (as encoding/json folds them), names it does not read included, and
// nesting deeper than maxDepth. Invalid JSON is left to unmarshalExact.
func requestNames(data []byte) error {
	d := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		object bool
		key    bool // an object's next string is a member name
		names  map[string]bool
	}
	var stack []frame
	for {
		tok, err := d.Token()
		if err != nil {
			return nil // the end, or not JSON: unmarshalExact says which
		}
		top := len(stack) - 1
		if delim, ok := tok.(json.Delim); ok && (delim == '}' || delim == ']') {
			stack = stack[:top]
			if top > 0 && stack[top-1].object {
				stack[top-1].key = true
			}
			continue
		}
		if top >= 0 && stack[top].object && stack[top].key {
			name := jsonbody.Key(tok.(string))
			if stack[top].names[name] {
				return badRequest("two member names of an object differ only in letter case (member names are case-sensitive)")
			}
			stack[top].names[name] = true
			stack[top].key = false
			continue
		}
		// A value's level is len(stack), a scalar's as a container's: the
		// API refuses a number inside the 64th level as it does an array.
		if len(stack) > maxDepth {
			return badRequest(fmt.Sprintf("body is nested more than %d levels deep", maxDepth))
		}
		delim, open := tok.(json.Delim)
		switch {
		case open:
			stack = append(stack, frame{object: delim == '{', key: delim == '{', names: map[string]bool{}})
		case top >= 0 && stack[top].object:
			stack[top].key = true // a member's value read
		}
	}
}

// unmarshalExact is json.Unmarshal of one JSON object into v, refusing a
// member whose name differs from one of v's only in letter case. JSON
// member names are case-sensitive, and SSF 1.0 and RFC 8936 spell each
// one exactly ("maxEvents", "stream_id"); encoding/json would take
// "MAXEVENTS" for maxEvents, or "STREAM_ID" for stream_id, where a reader
// that follows the specification ignores it as unknown: two readers of
// one body would act differently, so the body is refused (400), as the
// rest of the API refuses it. So is, for the same reason, a body that
// holds one name twice in an object (distinctNames), is not valid UTF-8
// or holds a lone surrogate escape (wellFormed) or is not an object
// (null would be read as an empty one): sessiond's API routes refuse all
// of them before the Transmitter reads the body, and the Transmitter used
// alone as an http.Handler must read no body they refuse. A member name
// sessiond does not know at all is still ignored: SSF lets a receiver
// send back what the transmitter supplied.
func unmarshalExact(data []byte, v any) error {
	switch {
	case !wellFormed(data):
		return badRequest("body is not valid UTF-8 (an invalid byte sequence or a lone surrogate escape)")
	case !bytes.HasPrefix(bytes.TrimLeft(data, " \t\r\n"), []byte("{")):
		return badRequest("body is not a JSON object")
	case !distinctNames(data):
		return badRequest("an object of the body holds a member name twice")
	}
	if err := exactNames(data, reflect.TypeOf(v)); err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return badRequest("body is not the expected JSON object")
	}
	return nil
}

// wellFormed reports whether data, JSON text, is valid UTF-8 and holds no
// lone surrogate escape ("\ud800" without its pair, or "\udc00" alone).
// encoding/json reads both as U+FFFD, so "\ud800bob", "\udfffbob" and
// "\xffbob" are one string to it and three, or a refusal, to another
// reader (RFC 8259 §8.2; RFC 7493 §2.1 forbids them). A backslash outside
// a string makes data invalid JSON, refused anyway.
func wellFormed(data []byte) bool {
	if !utf8.Valid(data) {
		return false
	}
	for i := 0; i < len(data); i++ {
		if data[i] != '\\' {
			continue
		}
		i++ // the escaped character: "\\" is skipped whole
		r, ok := hex4(data[i:])
		switch {
		case !ok:
		case utf16.IsSurrogate(r) && r >= 0xdc00:
			return false // a low surrogate that follows no high one
		case utf16.IsSurrogate(r):
			low, ok := hex4(data[min(i+6, len(data)):])
			if !ok || i+5 >= len(data) || data[i+5] != '\\' || !utf16.IsSurrogate(low) || low < 0xdc00 {
				return false
			}
			i += 10
		default:
			i += 4
		}
	}
	return true
}

// hex4 is the code unit of an escape "u" followed by four hex digits at the
// start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 5 || b[0] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range b[1:5] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// distinctNames reports whether no object in data, at any depth, holds a
// member name twice ("iss" and "\u0069ss" are one name), or data is not
// valid JSON at all (left to json.Unmarshal to refuse). RFC 8259 §4 leaves
// open which of two a reader takes: encoding/json keeps the last, others
// the first or refuse. go-jose's JSON package, which reads every JOSE
// header here, refuses them; with UseNumber it fails valid JSON for no
// other reason.
func distinctNames(data []byte) bool {
	if !json.Valid(data) {
		return true
	}
	d := josejson.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	var v any
	return d.Decode(&v) == nil
}

// exactNames checks the member names of data, a JSON value decoded into
// t, at every depth t describes (structs, and the elements of slices);
// what does not parse is left to json.Unmarshal to refuse. A
// json.RawMessage is checked where it is decoded.
func exactNames(data []byte, t reflect.Type) error {
	if name := caseVariant(data, t); name != "" {
		// The known name, not the request's: a detail never quotes what
		// the request holds.
		return badRequest("a member name differs from " + name + " only in letter case (member names are case-sensitive)")
	}
	return nil
}

// caseVariant is exactNames' check: the known name that a member name of
// data differs from only in letter case (as encoding/json folds it), or
// "" when none does.
func caseVariant(data []byte, t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeFor[json.RawMessage]():
		return ""
	case t.Kind() == reflect.Slice:
		e := t.Elem()
		for e.Kind() == reflect.Pointer {
			e = e.Elem()
		}
		if e.Kind() != reflect.Struct && e.Kind() != reflect.Slice {
			return "" // a list of strings (ack, events_requested): no names in it
		}
		var elems []json.RawMessage
		if json.Unmarshal(data, &elems) != nil {
			return ""
		}
		for _, x := range elems {
			if name := caseVariant(x, t.Elem()); name != "" {
				return name
			}
		}
		return ""
	case t.Kind() != reflect.Struct:
		return ""
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(data, &members) != nil {
		return ""
	}
	fields := map[string]reflect.Type{}
	jsonFields(t, fields)
	for k, raw := range members {
		if ft, ok := fields[k]; ok {
			if name := caseVariant(raw, ft); name != "" {
				return name
			}
			continue
		}
		for name := range fields {
			if strings.EqualFold(k, name) {
				return name
			}
		}
	}
	return ""
}

// jsonFields adds to fields the member names encoding/json reads into a
// struct of type t, with their types: the fields of an embedded struct
// without a name of its own are promoted (an unexported type's, or one
// embedded by pointer, included), and never shadow a name t has itself.
func jsonFields(t reflect.Type, fields map[string]reflect.Type) {
	var embedded []reflect.Type
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case f.Anonymous && name == "" && ft.Kind() == reflect.Struct:
			embedded = append(embedded, ft)
			continue
		case !f.IsExported():
			continue
		case name == "":
			name = f.Name
		}
		fields[name] = f.Type
	}
	for _, e := range embedded {
		promoted := map[string]reflect.Type{}
		jsonFields(e, promoted)
		for name, ft := range promoted {
			if _, ok := fields[name]; !ok {
				fields[name] = ft
			}
		}
	}
}
