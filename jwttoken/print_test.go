package jwttoken_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/jwttoken"
)

// TestRingOptions_PrintsNoSecret: RingOptions printed the ways a careless
// log line would show every field but not the HMAC secret.
func TestRingOptions_PrintsNoSecret(t *testing.T) {
	t.Parallel()
	secret := bytes.Repeat([]byte("h5c!"), 8)
	o := jwttoken.RingOptions{Algorithm: jwttoken.HS256, HMACSecret: secret}
	for name, v := range map[string]any{"RingOptions": o, "*RingOptions": &o} {
		var buf bytes.Buffer
		fmt.Fprintf(&buf, "%v\n%+v\n%#v\n", v, v, v)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "v", v)
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "v", v)
		out := buf.String()
		for _, form := range []string{"h5c!", fmt.Sprint(secret[:4])[1:12]} {
			if strings.Contains(out, form) {
				t.Errorf("%s: the secret (%q) came out:\n%s", name, form, out)
			}
		}
	}
	out := fmt.Sprintf("%+v", o)
	ty := reflect.TypeOf(o)
	for i := range ty.NumField() {
		if !strings.Contains(out, ty.Field(i).Name+":") {
			t.Errorf("%%+v of RingOptions lacks the field %s: %s", ty.Field(i).Name, out)
		}
	}
}
