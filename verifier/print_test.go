package verifier_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/verifier"
	"github.com/sessiond/sessiond/verifier/stream"
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

// TestMaxLeeway: the wire format's bound on a verifier's leeway is the
// one the server keeps revocations for (sessiond.MaxVerifierLeeway), and
// the one Options.Leeway accepts.
func TestMaxLeeway(t *testing.T) {
	if stream.MaxLeeway != sessiond.MaxVerifierLeeway {
		t.Errorf("stream.MaxLeeway %v != sessiond.MaxVerifierLeeway %v", stream.MaxLeeway, sessiond.MaxVerifierLeeway)
	}
	_, err := verifier.New(context.Background(), verifier.Options{URL: "http://127.0.0.1:1", APIKey: "k", Issuer: "i", Audience: "a", Leeway: stream.MaxLeeway + time.Nanosecond})
	if ae, ok := errors.AsType[*sessiond.ArgumentError](err); !ok || ae.Field != "Leeway" {
		t.Errorf("New with a leeway past stream.MaxLeeway = %v; want an argument error on Leeway", err)
	}
}

// TestVerifier_PrintsItsServerOnly: a Verifier printed any way names its
// server's host and nothing else. The default formats walked every field
// while the follower goroutine wrote some (its cursor on each revocation
// and heartbeat): a data race, which -race reports here, and a torn
// string could crash the printer.
func TestVerifier_PrintsItsServerOnly(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	v, _ := s.newVerifier(nil)
	want := "verifier.Verifier{" + strings.TrimPrefix(s.srv.URL, "http://") + "}"
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 20 {
			id, _ := s.token("alice")
			if err := s.m.Revoke(context.Background(), id, sessiond.ReasonAdmin); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for printing := true; printing; {
		select {
		case <-done:
			printing = false
		default:
		}
		var buf bytes.Buffer
		fmt.Fprintf(&buf, "%v|%+v|%#v", v, v, v)
		if got := buf.String(); got != strings.Repeat(want+"|", 2)+want {
			t.Fatalf("printed %q; want %q three times", got, want)
		}
		buf.Reset()
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("x", "verifier", v)
		if !strings.Contains(buf.String(), `"verifier":"`+want+`"`) {
			t.Fatalf("slog printed %s; want %s", buf.String(), want)
		}
	}
}
