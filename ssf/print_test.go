package ssf_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/ssf"
)

// TestOptions_NoSecretOut: the receiver's bearer token and the poller's
// Authorization header, alone in their options or held by a Receiver or a
// Poller, print and log as REDACTED, never in clear (docs/library.md,
// "Secrets in logs").
func TestOptions_NoSecretOut(t *testing.T) {
	t.Parallel()
	const bearer, auth = "rcv-b3arer-t0ken", "Bearer p0ll-t0ken"
	o := ssf.Options{Name: "idp", Issuer: "https://idp.example", Audience: "https://rp.example",
		JWKSURL: "https://idp.example/jwks", BearerToken: bearer,
		Subject: ssf.SubjectRule{Format: ssf.FormatEmail, Template: "user:{value}"}}
	m, err := sessiond.New(t.Context(), sessiond.Options{Store: memstore.New(), Strategy: sessiond.StrategyDatabase})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	o.Revoker = m
	rc, err := ssf.New(o)
	if err != nil {
		t.Fatal(err)
	}
	po := ssf.PollOptions{URL: "https://idp.example/poll", Authorization: auth}
	p, err := rc.NewPoller(po)
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]any{"Options": o, "*Options": &o, "Receiver": rc,
		"PollOptions": po, "*PollOptions": &po, "Poller": p} {
		var buf bytes.Buffer
		fmt.Fprintf(&buf, "%v\n%+v\n%#v\n", v, v, v)
		if name == "Options" || name == "PollOptions" { // their Format takes every verb
			fmt.Fprintf(&buf, "%s\n%x\n%q\n%d\n", v, v, v, v)
		}
		slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "v", v, slog.Group("g", "v", v))
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "v", v)
		out := buf.String()
		for _, form := range []string{"b3arer", "p0ll", fmt.Sprintf("%x", "b3arer"), fmt.Sprintf("%x", "p0ll")} {
			if strings.Contains(out, form) {
				t.Errorf("%s: a secret (%q) came out:\n%s", name, form, out)
			}
		}
		if !strings.HasPrefix(name, "*") && (name == "Options" || name == "PollOptions") &&
			(!strings.Contains(out, "idp.example") || !strings.Contains(out, "REDACTED")) {
			t.Errorf("%s: want the options shown with the secret REDACTED:\n%s", name, out)
		}
	}
	// Every field is printed: a field added to the options must be added
	// to their printed form too.
	for _, v := range []any{o, po} {
		out := fmt.Sprintf("%+v", v)
		ty := reflect.TypeOf(v)
		for i := range ty.NumField() {
			if !strings.Contains(out, ty.Field(i).Name+":") {
				t.Errorf("%%+v of %s lacks the field %s: %s", ty, ty.Field(i).Name, out)
			}
		}
	}
}
