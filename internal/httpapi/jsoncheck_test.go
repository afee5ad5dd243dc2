package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzCheckJSON: whatever checkJSON accepts, encoding/json reads without
// rewriting a string (valid UTF-8 in, the same text out) and without
// meeting a key twice in one object, even ignoring case.
func FuzzCheckJSON(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"a":1}`, `{"a":"\u00e9\ud83d\ude00"}`, `{"a":{"b":[1,{"c":null}]}}`,
		`{"a":1,"A":2}`, `{"a":"\ud800"}`, "{\"a\":\"\xff\"}", `{"a":1,"a":1}`, `[{"x":true}]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		err := checkJSON(data, nil)
		if err != nil {
			return
		}
		var v any
		if json.Unmarshal(data, &v) != nil {
			return // not JSON; decodeJSON lets encoding/json say so
		}
		if !utf8.Valid(data) {
			t.Fatalf("accepted invalid UTF-8 %q", data)
		}
		walk(t, v)
		// No string was rewritten: re-encoding what was read, unescaped,
		// keeps every U+FFFD the input had and adds none.
		out, _ := json.Marshal(v)
		if got, want := bytes.Count(out, []byte("\ufffd"))+bytes.Count(out, []byte(`\ufffd`)), strings.Count(string(data), "\ufffd")+strings.Count(strings.ToLower(string(data)), `\ufffd`); got != want {
			t.Fatalf("%q read with %d U+FFFD; input had %d", data, got, want)
		}
	})
}

// walk fails when an object read by encoding/json holds two keys equal
// but for case. (Exact duplicates collapse in the map; the test below
// covers them.)
func walk(t *testing.T, v any) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k, x := range v {
			for _, prev := range keys {
				if strings.EqualFold(prev, k) {
					t.Fatalf("keys %q and %q both accepted", prev, k)
				}
			}
			keys = append(keys, k)
			walk(t, x)
		}
	case []any:
		for _, x := range v {
			walk(t, x)
		}
	}
}

func TestCheckJSON_DuplicatesAreCounted(t *testing.T) {
	for _, s := range []string{`{"a":1,"a":2}`, `{"a":{"b":1,"B":2}}`, `[{"k":1},{"k":1,"K":1}]`} {
		if err := checkJSON([]byte(s), nil); err == nil || errors.Is(err, errJSONSyntax) {
			t.Errorf("checkJSON(%s) = %v; want a duplicate refused", s, err)
		}
	}
	type inner struct {
		IP string `json:"ip"`
	}
	type outer struct {
		Subject string          `json:"subject"`
		Client  inner           `json:"client"`
		Claims  json.RawMessage `json:"claims"`
		List    []inner         `json:"list"`
	}
	sh := shapeOf(reflect.TypeFor[*outer]())
	for s, ok := range map[string]bool{
		`{"subject":"a","client":{"ip":"x"},"claims":{"Subject":1},"list":[{"ip":"y"}]}`: true,
		`{"Subject":"a"}`:              false,
		`{"client":{"IP":"x"}}`:        false,
		`{"list":[{"ip":"","Ip":""}]}`: false,
		`{"list":[{"iP":""}]}`:         false,
	} {
		if err := checkJSON([]byte(s), sh); (err == nil) != ok {
			t.Errorf("checkJSON(%s) = %v; want ok %v", s, err, ok)
		}
	}
}

// BenchmarkCheckJSON is the strict check alone on a verify request body.
func BenchmarkCheckJSON(b *testing.B) {
	body := []byte(`{"access_token":"eyJhbGciOiJFZERTQSIsImtpZCI6Ik1iaDV6RTI0LTl1RTlkV3lmdHQ5VUEiLCJ0eXAiOiJhdCtqd3QifQ.eyJpc3MiOiJodHRwczovL3Nlc3Npb25kLnRlc3QiLCJzdWIiOiJhbGljZSJ9.v8z9_m3kPZLerBxIoPYZxA-HBndG8xbUDsaOKcZ5H-UD1MaMGHWwxlbrHbETdssjD4C9bTDPIoV8xXUG1HQQBw","client":{"ip":"203.0.113.7","user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}}`)
	sh := shapeOf(reflect.TypeFor[*verifyRequest]())
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if err := checkJSON(body, sh); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckJSON_Unmarshal is the decoding that follows the check,
// for scale.
func BenchmarkCheckJSON_Unmarshal(b *testing.B) {
	body := []byte(`{"access_token":"eyJhbGciOiJFZERTQSIsImtpZCI6Ik1iaDV6RTI0LTl1RTlkV3lmdHQ5VUEiLCJ0eXAiOiJhdCtqd3QifQ.eyJpc3MiOiJodHRwczovL3Nlc3Npb25kLnRlc3QiLCJzdWIiOiJhbGljZSJ9.v8z9_m3kPZLerBxIoPYZxA-HBndG8xbUDsaOKcZ5H-UD1MaMGHWwxlbrHbETdssjD4C9bTDPIoV8xXUG1HQQBw","client":{"ip":"203.0.113.7","user_agent":"Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0"}}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		var req verifyRequest
		if err := json.Unmarshal(body, &req); err != nil {
			b.Fatal(err)
		}
	}
}
