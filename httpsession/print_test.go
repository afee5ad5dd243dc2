package httpsession_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/httpsession"
)

// TestDBSCOptions_PrintsNoKey: DBSCOptions, alone or in Options, printed the
// ways a careless log line would show every field but not the Key.
func TestDBSCOptions_PrintsNoKey(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte("d6k!"), 8)
	o := httpsession.DBSCOptions{Policy: httpsession.DBSCOptional, Key: key, CookieName: "bound"}
	for name, v := range map[string]any{"DBSCOptions": o, "*DBSCOptions": &o, "Options": httpsession.Options{DBSC: o}} {
		var buf bytes.Buffer
		fmt.Fprintf(&buf, "%v\n%+v\n%#v\n", v, v, v)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "v", v)
		out := buf.String()
		for _, form := range []string{"d6k!", fmt.Sprint(key[:4])[1:12]} {
			if strings.Contains(out, form) {
				t.Errorf("%s: the key (%q) came out:\n%s", name, form, out)
			}
		}
		if !strings.Contains(out, "REDACTED") {
			t.Errorf("%s: want the key shown as REDACTED:\n%s", name, out)
		}
	}
	// Every field is printed: a field added to DBSCOptions must be added
	// to its printed form too.
	out := fmt.Sprintf("%+v", o)
	ty := reflect.TypeOf(o)
	for i := range ty.NumField() {
		if !strings.Contains(out, ty.Field(i).Name+":") {
			t.Errorf("%%+v of DBSCOptions lacks the field %s: %s", ty.Field(i).Name, out)
		}
	}
}
