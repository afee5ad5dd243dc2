package ssf

import (
	"errors"
	"reflect"
	"testing"
)

// TestExactNames_Embedded: encoding/json promotes the fields of an
// embedded struct (an unexported type's included, and through a pointer)
// and never reads the embedded type's own name; exactNames must see the
// same names, or a case variant of a promoted one slips through ("METHOD"
// taken for method) while the type's name is refused.
func TestExactNames_Embedded(t *testing.T) {
	type inner struct {
		Method string `json:"method"`
		Shadow string `json:"id"` // the outer id wins, as in encoding/json
	}
	type Exported struct {
		URL string `json:"endpoint_url"`
	}
	type Named struct {
		Value string `json:"value"`
	}
	type outer struct {
		inner
		*Exported
		Named `json:"named"`
		ID    []struct {
			inner
		} `json:"id"`
	}
	tests := []struct {
		name, body string
		refused    bool
	}{
		{"promoted name, exact", `{"method":"x","endpoint_url":"y"}`, false},
		{"promoted name in other letters", `{"METHOD":"x"}`, true},
		{"promoted through a pointer, in other letters", `{"Endpoint_URL":"y"}`, true},
		{"embedded type's name is no member", `{"inner":1,"exported":2,"Inner":3}`, false},
		{"embedded with a tag is a member", `{"named":{"value":"v"}}`, false},
		{"embedded with a tag, in other letters", `{"NAMED":{}}`, true},
		{"inside a tagged embedded struct", `{"named":{"VALUE":"v"}}`, true},
		{"promoted inside a list's elements", `{"id":[{"method":"a"},{"Method":"b"}]}`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := exactNames([]byte(tc.body), reflect.TypeFor[outer]())
			if _, ok := errors.AsType[*RequestError](err); ok != tc.refused || (err != nil) != tc.refused {
				t.Errorf("exactNames(%s) = %v; want refused %v", tc.body, err, tc.refused)
			}
		})
	}
}

// TestWellFormed: a lone surrogate escape is found wherever it stands in a
// string, and nothing else is taken for one (an escaped backslash before
// "u", a pair, other escapes).
func TestWellFormed(t *testing.T) {
	tests := []struct {
		name, data string
		want       bool
	}{
		{"plain", `{"a":"b"}`, true},
		{"other escapes", `{"a":"\n\t\"\\\/\b\f\r\u0041"}`, true},
		{"pair", `{"a":"\ud83d\ude00"}`, true},
		{"pair, upper-case hex", `{"a":"\uD83D\uDE00x"}`, true},
		{"pair in a name", `{"\ud83d\ude00":1}`, true},
		{"escaped backslash before u", `{"a":"\\ud800"}`, true},
		{"three backslashes", `{"a":"\\\ud83d\ude00"}`, true},
		{"replacement character escaped", `{"a":"\ufffd"}`, true},
		{"high alone", `{"a":"\ud800"}`, false},
		{"high then text", `{"a":"\ud800x"}`, false},
		{"high then another escape", `{"a":"\ud800\n"}`, false},
		{"high then high", `{"a":"\ud800\ud800"}`, false},
		{"low alone", `{"a":"\udc00"}`, false},
		{"low then high", `{"a":"\udc00\ud800"}`, false},
		{"high at the end of the data", `"\ud800`, false},
		{"three backslashes, lone", `{"a":"\\\ud800"}`, false},
		{"in a name", `{"\udfff":1}`, false},
		{"invalid UTF-8", "{\"a\":\"\xff\"}", false},
		{"surrogate encoded in UTF-8", "{\"a\":\"\xed\xa0\x80\"}", false},
	}
	for _, tc := range tests {
		if got := wellFormed([]byte(tc.data)); got != tc.want {
			t.Errorf("%s: wellFormed(%s) = %v; want %v", tc.name, tc.data, got, tc.want)
		}
	}
}
