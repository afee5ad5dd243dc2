package verifier_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/verifier"
)

// TestVerifier_PrintsNoAPIKey: a Verifier printed the ways a careless log
// line would shows no API key.
func TestVerifier_PrintsNoAPIKey(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	v, _ := s.newVerifier(nil)
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%v\n%+v\n%#v\n", v, v, v)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("x", "verifier", v)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "verifier", v)
	if strings.Contains(buf.String(), string(apiKey)) {
		t.Errorf("the Verifier printed its API key:\n%s", buf.String())
	}
}

// TestVerify_NilOption: a nil VerifyOption (an option variable left unset)
// is no option, not a panic on the request path.
func TestVerify_NilOption(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	v, _ := s.newVerifier(nil)
	_, tok := s.token("alice")
	var opt verifier.VerifyOption
	c, err := v.Verify(context.Background(), tok, opt)
	if err != nil || c.Subject != "alice" {
		t.Fatalf("Verify with a nil option = %+v, %v; want alice's claims", c, err)
	}
}
