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
