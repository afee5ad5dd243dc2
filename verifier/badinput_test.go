package verifier_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/verifier"
	"github.com/sessiond/sessiond/verifier/stream"
)

// TestVerifier_BadStream: whatever a broken or hostile server sends on the
// stream, the verifier does not panic, logs, and fails closed: a valid
// token is rejected with ErrStale until the stream is healthy again.
func TestVerifier_BadStream(t *testing.T) {
	t.Parallel()
	cursor := stream.CursorAt(time.Now())
	for name, c := range map[string]struct {
		status      int
		contentType string
		body        string
	}{
		"HTML page":          {200, "text/html; charset=utf-8", "<!doctype html><html><body>Welcome to nginx!</body></html>"},
		"HTML as a stream":   {200, "text/event-stream", "<!doctype html>\n<html><body>oops</body></html>\n\n"},
		"garbage JSON":       {200, "text/event-stream", "event: revoked\nid: " + cursor + "\ndata: {\"session_id\": \n\n"},
		"JSON of wrong type": {200, "text/event-stream", "event: revoked\nid: " + cursor + "\ndata: [1,2,3]\n\n"},
		"missing fields":     {200, "text/event-stream", "event: revoked\nid: " + cursor + "\ndata: {\"subject\":\"x\"}\n\n"},
		"watermark both":     {200, "text/event-stream", "event: watermark\nid: " + cursor + "\ndata: {\"all\":true,\"subject\":\"x\",\"issued_before\":\"2030-01-01T00:00:00Z\"}\n\n"},
		"truncated event":    {200, "text/event-stream", "event: revoked\nid: " + cursor + "\ndata: {\"session_id\":\"s1\",\"until\":\"2030-01-0"},
		"truncated block":    {200, "text/event-stream", "event: revoked\nid: " + cursor + "\ndata: {\"session_id\":\"s1\",\"until\":\"2030-01-01T00:00:00Z\"}\n"},
		"unknown event":      {200, "text/event-stream", "event: revoked_v2\nid: " + cursor + "\ndata: {}\n\n"},
		"event without id":   {200, "text/event-stream", "event: revoked\ndata: {\"session_id\":\"s1\",\"until\":\"2030-01-01T00:00:00Z\"}\n\n"},
		"bad id":             {200, "text/event-stream", "event: revoked\nid: 42\ndata: {\"session_id\":\"s1\",\"until\":\"2030-01-01T00:00:00Z\"}\n\n"},
		"message event":      {200, "text/event-stream", "data: hello\n\n"},
		"unknown field":      {200, "text/event-stream", "evnt: revoked\n\n"},
		"binary":             {200, "text/event-stream", "\x00\xff\xfe\x01garbage\n\n"},
		"huge line":          {200, "text/event-stream", "data: " + strings.Repeat("a", stream.MaxLine+10) + "\n\n"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, nil)
			var hits atomic.Int64
			s.setHook(func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != stream.StreamPath {
					return false
				}
				hits.Add(1)
				w.Header().Set("Content-Type", c.contentType)
				w.WriteHeader(c.status)
				w.Write([]byte(c.body))
				return true
			})
			_, tok := s.token("ivy")
			v, logs := s.newVerifier(nil)
			eventually(t, "stale after bad stream input", func() bool {
				_, err := v.Verify(context.Background(), tok)
				return errors.Is(err, verifier.ErrStale)
			})
			if !strings.Contains(logs.String(), "level=ERROR") {
				t.Errorf("nothing logged at error level:\n%.2000s", logs)
			}
			// It keeps trying, with backoff.
			eventually(t, "reconnect", func() bool { return hits.Load() >= 2 })
			// Once the server is healthy again, so is the verifier.
			s.setHook(nil)
			eventually(t, "recovery", func() bool {
				_, err := v.Verify(context.Background(), tok)
				return err == nil
			})
		})
	}
}

// TestVerifier_BadSnapshot: New fails on a snapshot it cannot trust.
func TestVerifier_BadSnapshot(t *testing.T) {
	t.Parallel()
	for name, c := range map[string]struct {
		contentType, body string
	}{
		"HTML":          {"text/html", "<html></html>"},
		"garbage":       {"application/json", `{"revocations": [`},
		"no cursor":     {"application/json", `{"revocations":[],"watermarks":[]}`},
		"bad cursor":    {"application/json", `{"revocations":[],"watermarks":[],"cursor":"x"}`},
		"bad entry":     {"application/json", `{"revocations":[{"subject":"a"}],"watermarks":[],"cursor":"` + stream.CursorAt(time.Now()) + `"}`},
		"bad watermark": {"application/json", `{"revocations":[],"watermarks":[{"subject":"a"}],"cursor":"` + stream.CursorAt(time.Now()) + `"}`},
		"null lists":    {"application/json", `{"cursor":"` + stream.CursorAt(time.Now()) + `"}`},
	} {
		s := newServer(t, nil)
		s.setHook(func(w http.ResponseWriter, r *http.Request) bool {
			if r.URL.Path != stream.SnapshotPath {
				return false
			}
			w.Header().Set("Content-Type", c.contentType)
			w.Write([]byte(c.body))
			return true
		})
		if _, err := verifier.New(context.Background(), verifier.Options{URL: s.srv.URL, APIKey: apiKey, Issuer: issuer, Audience: audience}); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
	// A JWKS that is not one.
	s := newServer(t, nil)
	s.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/.well-known/jwks.json" {
			return false
		}
		w.Header().Set("Content-Type", "text/html")
		w.Write([]byte("<html>"))
		return true
	})
	if _, err := verifier.New(context.Background(), verifier.Options{URL: s.srv.URL, APIKey: apiKey, Issuer: issuer, Audience: audience}); err == nil {
		t.Error("HTML JWKS: New succeeded")
	}
}

// TestVerifier_Reset: after `event: reset` the verifier loads the snapshot
// and resumes from its cursor, losing nothing.
func TestVerifier_Reset(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	var resets atomic.Int64
	s.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != stream.StreamPath || resets.Load() > 0 {
			return false
		}
		resets.Add(1)
		w.Header().Set("Content-Type", "text/event-stream")
		stream.WriteEvent(w, stream.EventReset, stream.CursorAt(time.Now()), stream.Reset{Reason: "cursor_expired"})
		return true
	})
	sid, tok := s.token("judy")
	snapshots := atomic.Int64{}
	prev := s.hook()
	s.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == stream.SnapshotPath {
			snapshots.Add(1)
		}
		return prev(w, r)
	})
	v, _ := s.newVerifier(nil)
	eventually(t, "snapshot reloaded after reset", func() bool { return snapshots.Load() >= 2 })
	s.m.Revoke(context.Background(), sid, sessiond.ReasonLogout)
	eventually(t, "revocation after reset", func() bool {
		_, err := v.Verify(context.Background(), tok)
		return errors.Is(err, sessiond.ErrRevoked)
	})
}

// TestVerifier_OneSpellingPerToken: a token has exactly one spelling, as
// at the server (docs/jwt.md rules 2 and 3): line breaks, which
// encoding/base64 skips even in strict mode, other whitespace, padding,
// non-zero trailing bits and extra or empty segments make another string
// that decodes to the same bytes, and each is refused, although the real
// token is in the cache. The server refuses every one of them too; the
// real token still verifies.
func TestVerifier_OneSpellingPerToken(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	ctx := context.Background()
	_, tok := s.token("lee")
	v, _ := s.newVerifier(nil)
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Fatalf("control: Verify(token) = %v", err)
	}
	i := strings.LastIndexByte(tok, '.')
	at := i + 10 // inside the signature
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, tok[len(tok)-1])
	for name, variant := range map[string]string{
		"LF in the signature":    tok[:at] + "\n" + tok[at:],
		"CR in the signature":    tok[:at] + "\r" + tok[at:],
		"CRLF in the signature":  tok[:at] + "\r\n" + tok[at:],
		"three LFs":              tok[:at] + "\n\n\n" + tok[at:],
		"LF at the end":          tok + "\n",
		"LF in the header":       tok[:20] + "\n" + tok[20:],
		"space in the signature": tok[:at] + " " + tok[at:],
		"tab in the signature":   tok[:at] + "\t" + tok[at:],
		"padding":                tok + "==",
		"non-zero trailing bits": tok[:len(tok)-1] + string(alphabet[last^1]),
		"fourth segment":         tok + ".e30",
		"empty signature":        tok[:i+1],
		"empty payload":          tok[:strings.IndexByte(tok, '.')+1] + tok[i:],
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := s.m.Verify(ctx, sessiond.Secret(variant), sessiond.Client{}); !errors.Is(err, sessiond.ErrInvalidToken) {
				t.Fatalf("harness: the server's Verify = %v; want ErrInvalidToken", err)
			}
			if c, err := v.Verify(ctx, variant); !errors.Is(err, sessiond.ErrInvalidToken) {
				t.Errorf("Verify = %+v, %v; want ErrInvalidToken (the server refuses this spelling)", c, err)
			}
		})
	}
	if _, err := v.Verify(ctx, tok); err != nil {
		t.Errorf("Verify(token) after its variants = %v", err)
	}
}

// TestVerifier_JWKSUnknownKeyType: a key of a type the verifier does not
// know in the JWK set (a future key type, a proxy's addition) is skipped,
// as the Node verifier skips it (RFC 7517 §5); it used to fail the whole
// set, and with it New and every later token.
func TestVerifier_JWKSUnknownKeyType(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	s.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/.well-known/jwks.json" {
			return false
		}
		body, err := s.ring.JWKS()
		if err != nil {
			t.Error(err)
			return false
		}
		var set map[string][]json.RawMessage
		if err := json.Unmarshal(body, &set); err != nil {
			t.Error(err)
			return false
		}
		set["keys"] = append([]json.RawMessage{json.RawMessage(`{"kty":"XYZ","kid":"future","use":"sig"}`)}, set["keys"]...)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(set)
		return true
	})
	_, tok := s.token("nina")
	v, _ := s.newVerifier(nil) // fails the test if New fails
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Errorf("Verify with an unknown key type beside the real key: %v", err)
	}
}
