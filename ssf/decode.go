package ssf

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
)

// decode reads the JSON object of a request body into v, with member
// names matched exactly (exactNames).
func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return &RequestError{http.StatusRequestEntityTooLarge, "invalid_request", "body too large"}
		}
		return badRequest("body could not be read")
	}
	return unmarshalExact(body, v)
}

// unmarshalExact is json.Unmarshal of one JSON object into v, refusing a
// member whose name differs from one of v's only in letter case. JSON
// member names are case-sensitive, and SSF 1.0 and RFC 8936 spell each
// one exactly ("maxEvents", "stream_id"); encoding/json would take
// "MAXEVENTS" for maxEvents, or "STREAM_ID" for stream_id, where a reader
// that follows the specification ignores it as unknown: two readers of
// one body would act differently, so the body is refused (400), as the
// rest of the API refuses it. A member name sessiond does not know at all
// is still ignored: SSF lets a receiver send back what the transmitter
// supplied.
func unmarshalExact(data []byte, v any) error {
	if err := exactNames(data, reflect.TypeOf(v)); err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return badRequest("body is not the expected JSON object")
	}
	return nil
}

// exactNames checks the member names of data, a JSON value decoded into
// t, at every depth t describes (structs, and the elements of slices);
// what does not parse is left to json.Unmarshal to refuse. A
// json.RawMessage is checked where it is decoded.
func exactNames(data []byte, t reflect.Type) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch {
	case t == reflect.TypeFor[json.RawMessage]():
		return nil
	case t.Kind() == reflect.Slice:
		e := t.Elem()
		for e.Kind() == reflect.Pointer {
			e = e.Elem()
		}
		if e.Kind() != reflect.Struct && e.Kind() != reflect.Slice {
			return nil // a list of strings (ack, events_requested): no names in it
		}
		var elems []json.RawMessage
		if json.Unmarshal(data, &elems) != nil {
			return nil
		}
		for _, x := range elems {
			if err := exactNames(x, t.Elem()); err != nil {
				return err
			}
		}
		return nil
	case t.Kind() != reflect.Struct:
		return nil
	}
	var members map[string]json.RawMessage
	if json.Unmarshal(data, &members) != nil {
		return nil
	}
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = f.Type
	}
	for k, raw := range members {
		if ft, ok := fields[k]; ok {
			if err := exactNames(raw, ft); err != nil {
				return err
			}
			continue
		}
		for name := range fields {
			if strings.EqualFold(k, name) {
				// The known name, not the request's: a detail never
				// quotes what the request holds.
				return badRequest("a member name differs from " + name + " only in letter case (member names are case-sensitive)")
			}
		}
	}
	return nil
}
