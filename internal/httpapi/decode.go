package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
	"github.com/sessiond/sessiond/internal/jsonbody"
)

// hasMediaType reports whether the request's Content-Type is want
// (parameters such as charset are allowed).
func hasMediaType(r *http.Request, want string) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == want
}

// checkJSONType refuses a request Content-Type other than application/json,
// or one declaring a charset other than utf-8: JSON between systems is
// UTF-8 (RFC 8259 §8.1), and a body declared in another charset would be
// read otherwise than its sender wrote it. The status is that of any other
// wrong content type.
func checkJSONType(ct string) error {
	if err := jsonbody.CheckType(ct); err != nil {
		return badRequest(err.Error())
	}
	return nil
}

// checkContentCoding refuses a body sent with a content coding (gzip, br…),
// which the API does not decode: read as it is, a compressed body would be
// answered as malformed JSON (400), and one only declared compressed would
// be read otherwise than a proxy that decodes it reads it. 415 with
// Accept-Encoding: identity tells a coding problem from a media type one
// (RFC 9110 §15.5.16, §12.5.3; RFC 7694). identity itself is no coding.
func checkContentCoding(w http.ResponseWriter, r *http.Request) error {
	if jsonbody.Coded(r.Header) {
		w.Header().Set("Accept-Encoding", "identity")
		return &requestError{status: http.StatusUnsupportedMediaType, code: apitype.CodeInvalidRequest,
			detail: "content codings are not supported: send the body without Content-Encoding"}
	}
	return nil
}

func (s *server) tooLarge() error {
	return &requestError{status: http.StatusRequestEntityTooLarge, code: apitype.CodePayloadTooLarge,
		detail: fmt.Sprintf("request body is over the limit of %d bytes", s.maxBody)}
}

// decodeJSON reads exactly one JSON object from the body into dst, strictly:
// the content type must be application/json (in UTF-8), unknown fields,
// null where dst holds no pointer, trailing data, invalid UTF-8, lone
// surrogate escapes, and duplicate or case-variant keys are refused
// (checkJSON), and the body is cut at MaxBodyBytes. Errors name the field
// at fault and never quote a value.
func (s *server) decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	bp := bodyPool.Get().(*[]byte)
	defer bodyPool.Put(bp)
	body, err := s.readJSON(w, r, bp)
	if err != nil {
		return err
	}
	return s.decodeStrict(body, dst)
}

// decodeVerify is decodeJSON for the verify body, trying the one-pass
// reader first (decodeVerifyBody); what it declines takes the strict path.
func (s *server) decodeVerify(w http.ResponseWriter, r *http.Request, req *verifyRequest) error {
	bp := bodyPool.Get().(*[]byte)
	defer bodyPool.Put(bp)
	body, err := s.readJSON(w, r, bp)
	if err != nil {
		return err
	}
	if decodeVerifyBody(body, req) {
		return nil
	}
	// encoding/json takes its target as an interface, so it escapes: the
	// rare bodies the flat parser leaves get one on the heap, and the
	// caller's req stays on its stack.
	slow := new(verifyRequest)
	err = s.decodeStrict(body, slow)
	*req = *slow
	return err
}

// readJSON checks the content coding and type and reads the body, cut at
// MaxBodyBytes, into the pooled buffer bp.
func (s *server) readJSON(w http.ResponseWriter, r *http.Request, bp *[]byte) ([]byte, error) {
	if err := checkContentCoding(w, r); err != nil {
		return nil, err
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		if err := checkJSONType(ct); err != nil {
			return nil, err
		}
	}
	if r.ContentLength > s.maxBody {
		return nil, s.tooLarge()
	}
	var body []byte
	var err error
	if r.ContentLength >= 0 {
		// The length is declared and within the limit, and net/http
		// reads no further than it; the limit is still enforced here for
		// a body that is not net/http's (a test's).
		body, err = readBody(r.Body, (*bp)[:0], s.maxBody)
	} else {
		body, err = readBody(http.MaxBytesReader(w, r.Body, s.maxBody), (*bp)[:0], -1)
	}
	*bp = body[:0]
	if err != nil {
		return nil, s.jsonError(err)
	}
	if err := s.bodyInTime(r); err != nil {
		return nil, err
	}
	return body, nil
}

// errBodyTooSlow: the request's body arrived after its deadline
// (deadline.go) had passed, or so close to it that its store calls would
// have almost no time: answered 408 before any is made, rather than 503
// as if the store had not answered.
var errBodyTooSlow = &requestError{status: http.StatusRequestTimeout, code: apitype.CodeInvalidRequest,
	detail: "the request body took too long to arrive; send it again"}

// bodyInTime refuses a request whose body was read only after its
// deadline passed, or with less than minStoreTime of it left (a slow
// client, not a slow store). The deadline cannot simply start once the
// body is in: net/http's write timeout runs from the request's start, and
// the answer has to be written before it.
func (s *server) bodyInTime(r *http.Request) error {
	ctx := r.Context()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errBodyTooSlow
	}
	if dl, ok := ctx.Deadline(); ok && s.bound > 0 && time.Until(dl) < minStoreTime(s.bound) {
		return errBodyTooSlow
	}
	return nil
}

// decodeStrict decodes body into dst with every check of decodeJSON.
func (s *server) decodeStrict(body []byte, dst any) error {
	want := shapeOf(reflect.TypeOf(dst))
	err := checkJSON(body, want)
	if err == nil {
		// checkJSON has refused unknown fields and trailing data already.
		if err := json.Unmarshal(body, dst); err != nil {
			return s.unmarshalError(body, want, err)
		}
		return nil
	}
	if !errors.Is(err, errJSONSyntax) {
		return err
	}
	// Not JSON: encoding/json says where and how.
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(new(any)); err != nil {
		return s.jsonError(err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return badRequest("request body must hold one JSON object and nothing after it")
	}
	return badRequest("request body is not valid JSON")
}

// bodyPool holds the buffers request bodies are read into; decoding
// copies what it keeps, so a buffer is reused once decoded.
var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// readBody appends all of r to b; with limit ≥ 0, a body longer than
// limit is an *http.MaxBytesError.
func readBody(r io.Reader, b []byte, limit int64) ([]byte, error) {
	start := len(b)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if limit >= 0 && int64(len(b)-start) > limit {
			return b, &http.MaxBytesError{Limit: limit}
		}
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// unknownFieldPrefix starts encoding/json's error for an unknown field,
// which has no error type of its own.
const unknownFieldPrefix = "json: unknown field "

func (s *server) jsonError(err error) error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return s.tooLarge()
	}
	if te, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		if te.Field == "" {
			return badRequest("request body must be a JSON object")
		}
		return badRequest(fmt.Sprintf("wrong type for %q: want %s", te.Field, jsonKind(te.Type)))
	}
	if se, ok := errors.AsType[*json.SyntaxError](err); ok {
		return badRequest(fmt.Sprintf("request body is not valid JSON (at byte %d)", se.Offset))
	}
	switch msg := err.Error(); {
	case errors.Is(err, io.EOF):
		return badRequest("request body is empty")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("request body is not valid JSON (unexpected end)")
	case strings.HasPrefix(msg, unknownFieldPrefix):
		name := strings.TrimPrefix(msg, unknownFieldPrefix) // already quoted by encoding/json
		if len(name) > 66 {
			return badRequest("unknown field (name too long to repeat)")
		}
		return badRequest("unknown field " + name)
	}
	return &requestError{status: http.StatusBadRequest, code: apitype.CodeInvalidRequest,
		detail: "request body could not be read", cause: err}
}

// unmarshalError words err, what json.Unmarshal of body (of shape want)
// returned. An error of a type's own UnmarshalJSON (time.Time's
// *time.ParseError, say) names no field, so the value at fault is found by
// reading each such value of body alone.
func (s *server) unmarshalError(body []byte, want *shape, err error) error {
	if _, ok := errors.AsType[*json.UnmarshalTypeError](err); !ok {
		if path, own, ok := ownFault(body, want); ok {
			return &requestError{status: http.StatusBadRequest, code: apitype.CodeInvalidRequest,
				detail: fmt.Sprintf("invalid value for %q: want %s", strings.TrimPrefix(path, "."), ownKind(own)), cause: err}
		}
	}
	return s.jsonError(err)
}

// ownFault returns the path (".a.b[2]") to the first value of data, a JSON
// value of shape want, whose type's own UnmarshalJSON refuses it, and that
// type.
func ownFault(data []byte, want *shape) (path string, own reflect.Type, ok bool) {
	switch {
	case want == nil:
	case want.own != nil:
		if json.Unmarshal(data, reflect.New(want.own).Interface()) != nil {
			return "", want.own, true
		}
	case want.fields != nil:
		var members map[string]json.RawMessage
		if json.Unmarshal(data, &members) != nil {
			return "", nil, false
		}
		for _, name := range slices.Sorted(maps.Keys(members)) {
			if path, own, ok := ownFault(members[name], want.fields[name]); ok {
				return "." + name + path, own, true
			}
		}
	case want.elem != nil:
		var elems []json.RawMessage
		if json.Unmarshal(data, &elems) != nil {
			return "", nil, false
		}
		for i, e := range elems {
			if path, own, ok := ownFault(e, want.elem); ok {
				return fmt.Sprintf("[%d]%s", i, path), own, true
			}
		}
	}
	return "", nil, false
}

// ownKind names what a type with its own UnmarshalJSON reads.
func ownKind(t reflect.Type) string {
	if t == reflect.TypeFor[time.Time]() {
		return "an RFC 3339 time"
	}
	return "a value of its documented format"
}

// jsonKind names the JSON type a Go type decodes from.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "another type"
}

// parseForm reads an application/x-www-form-urlencoded body (the /oauth2
// routes). Only the body counts: a token in the query string is ignored,
// as tokens never belong in URLs.
func (s *server) parseForm(w http.ResponseWriter, r *http.Request) (url.Values, error) {
	if err := checkContentCoding(w, r); err != nil {
		return nil, err
	}
	if !hasMediaType(r, "application/x-www-form-urlencoded") {
		return nil, badRequest("content type must be application/x-www-form-urlencoded")
	}
	if r.ContentLength > s.maxBody {
		return nil, s.tooLarge()
	}
	r.Body = http.MaxBytesReader(w, r.Body, s.maxBody)
	if err := r.ParseForm(); err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return nil, s.tooLarge()
		}
		return nil, &requestError{status: http.StatusBadRequest, code: apitype.CodeInvalidRequest,
			detail: "request body is not a valid form", cause: err}
	}
	if err := s.bodyInTime(r); err != nil {
		return nil, err
	}
	return r.PostForm, nil
}

// onlyParams refuses a query parameter other than those named
// (queryparams.go says why).
func onlyParams(vals url.Values, names ...string) error {
	for k := range vals {
		if !slices.Contains(names, k) {
			return badRequest(fmt.Sprintf("unknown query parameter %q (this route takes %s)", sessiond.CleanText(k, 64), paramList(names)))
		}
	}
	return nil
}

func paramList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// oneValue returns the one value of a query or form parameter, "" when it
// is absent. A parameter given twice is refused on every route (RFC 6749
// §3.1 has it so for /oauth2): a proxy or firewall that reads the last
// value would see another request than the one served, which reads the
// first.
func oneValue(vals url.Values, name string) (string, error) {
	switch v := vals[name]; len(v) {
	case 0:
		return "", nil
	case 1:
		return v[0], nil
	}
	return "", badRequest(fmt.Sprintf("%s: must be given at most once", name))
}

// filterValue is oneValue for a filter of GET /v1/events, which is refused
// when given empty: read as absent, ?subject= would list every subject's
// events and ?until= every event, where the caller named a filter (a
// template with an empty variable, say). An empty cursor, limit or state
// stays the default (the first page), and the /oauth2 forms keep RFC 6749
// §3.1's rule that an empty parameter is an omitted one.
func filterValue(q url.Values, name string) (string, error) {
	v, err := oneValue(q, name)
	if err != nil {
		return "", err
	}
	if _, given := q[name]; given && v == "" {
		return "", badRequest(fmt.Sprintf("%s: must not be empty (leave it out for none)", name))
	}
	return v, nil
}

// queryLimit reads the limit parameter of a listing, def when it is
// absent: the same bounds and message on every list route.
func queryLimit(q url.Values, def int) (int, error) {
	v, err := oneValue(q, "limit")
	if err != nil {
		return 0, err
	}
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	// Only the canonical spelling: the OpenAPI type is integer, and +5 or
	// 05 are strings another implementation of the API may refuse.
	if err != nil || n < 1 || n > 1000 || strconv.Itoa(n) != v {
		return 0, badRequest("limit must be an integer from 1 to 1000")
	}
	return n, nil
}
