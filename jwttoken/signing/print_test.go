package signing_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/memstore"
)

// printed is v the ways a careless log line prints it.
func printed(v any) string {
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%v\n%+v\n%#v\n", v, v, v)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "v", v)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "v", v)
	return buf.String()
}

// TestPrint_NoSecrets: a KEK, and the Keys of an HS256 ring, print neither
// the KEK nor the HS256 secret, in any form (%v of a []byte is its
// decimal bytes, %x its hex).
func TestPrint_NoSecrets(t *testing.T) {
	t.Parallel()
	raw := bytes.Repeat([]byte{0xa7}, signing.KEKSize)
	kek, err := signing.ParseKEK([]byte(base64.StdEncoding.EncodeToString(raw)))
	if err != nil {
		t.Fatal(err)
	}
	secret := bytes.Repeat([]byte{0xb3}, jwttoken.MinHMACSecret)
	keys, err := signing.Open(context.Background(), memstore.New(), signing.Options{
		Algorithm: jwttoken.HS256, HMACSecret: secret, MaxTokenLifetime: time.Hour, KEK: kek,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	for name, v := range map[string]any{"*KEK": kek, "KEK": *kek, "*Keys": keys, "Options": signing.Options{HMACSecret: secret, KEK: kek}} {
		out := printed(v)
		for _, b := range [][]byte{raw, secret} {
			for _, form := range []string{fmt.Sprint(b[:4])[1:12], fmt.Sprintf("%x", b[:4]), base64.StdEncoding.EncodeToString(b)[:8]} {
				if strings.Contains(out, form) {
					t.Errorf("%s printed a secret (%q):\n%s", name, form, out)
				}
			}
		}
	}
	// Every field of Options is printed: a field added to Options must be
	// added to its printed form too.
	out := fmt.Sprintf("%+v", signing.Options{})
	ty := reflect.TypeOf(signing.Options{})
	for i := range ty.NumField() {
		if !strings.Contains(out, ty.Field(i).Name+":") {
			t.Errorf("%%+v of Options lacks the field %s: %s", ty.Field(i).Name, out)
		}
	}
}
