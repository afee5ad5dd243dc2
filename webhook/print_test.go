package webhook_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/webhook"
)

// TestEndpoint_NoSecretOut: an Endpoint (alone or in Options) printed or
// marshalled shows its Secret as REDACTED, never the key.
func TestEndpoint_NoSecretOut(t *testing.T) {
	t.Parallel()
	key := bytes.Repeat([]byte("k3y!"), 8)
	ep := webhook.Endpoint{Name: "crm", URL: "https://crm.example/hook", Secret: key, MaxAttempts: 3}
	opts := webhook.Options{Outbox: memstore.New(), Endpoints: []webhook.Endpoint{ep}}
	d, err := webhook.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{"Endpoint": ep, "*Endpoint": &ep, "Options": opts, "Dispatcher": d} {
		var buf bytes.Buffer
		fmt.Fprintf(&buf, "%v\n%+v\n%#v\n", v, v, v)
		slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "v", v)
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "v", v)
		if j, err := json.Marshal(ep); err == nil {
			buf.Write(j)
		}
		out := buf.String()
		for _, form := range []string{"k3y!", fmt.Sprint(key[:4])[1:12], fmt.Sprintf("%x", key[:4]), base64.StdEncoding.EncodeToString(key)[:8]} {
			if strings.Contains(out, form) {
				t.Errorf("%s: the secret (%q) came out:\n%s", name, form, out)
			}
		}
		if name != "Dispatcher" && (!strings.Contains(out, "crm.example") || !strings.Contains(out, "REDACTED")) {
			t.Errorf("%s: want the endpoint shown with its secret REDACTED:\n%s", name, out)
		}
	}
	// Every field is printed: a field added to Endpoint must be added to
	// its printed form too.
	out := fmt.Sprintf("%+v", ep)
	ty := reflect.TypeOf(ep)
	for i := range ty.NumField() {
		if !strings.Contains(out, ty.Field(i).Name+":") {
			t.Errorf("%%+v of Endpoint lacks the field %s: %s", ty.Field(i).Name, out)
		}
	}
}
