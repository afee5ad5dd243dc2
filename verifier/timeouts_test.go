package verifier_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/verifier"
	"github.com/sessiond/sessiond/verifier/stream"
)

// TestNew_SlowSnapshot: Options.HTTPClient's Timeout bounds the wait for
// an answer's headers and for each read of its body, not the whole
// transfer: a snapshot trickled over several times the timeout loads; one
// whose bytes stop for longer than the timeout fails within about it, and
// says so, as does a server that sends no headers.
func TestNew_SlowSnapshot(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	s := newServer(t, nil)
	sid, tok := s.token("kim")
	if err := s.m.Revoke(context.Background(), sid, sessiond.ReasonLogout); err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodGet, s.srv.URL+stream.SnapshotPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("snapshot: %d, %v", resp.StatusCode, err)
	}
	// wait blocks for ten times the timeout, or until the client is gone.
	wait := func(r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(10 * timeout):
		}
	}
	for _, tc := range []struct {
		name  string
		serve func(w http.ResponseWriter, r *http.Request)
		err   string // "": New succeeds
	}{
		{"Trickled", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			rc := http.NewResponseController(w)
			// 2 KiB each quarter timeout (twice the 4 KiB each timeout
			// asked for), white space first: the body takes several
			// times the timeout.
			padded := append([]byte(strings.Repeat(" ", 48<<10)), body...)
			for b := padded; len(b) > 0; b = b[min(2<<10, len(b)):] {
				if _, err := w.Write(b[:min(2<<10, len(b))]); err != nil || rc.Flush() != nil {
					return
				}
				time.Sleep(timeout / 4)
			}
		}, ""},
		{"TrickledForever", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			rc := http.NewResponseController(w)
			// A byte each quarter timeout, never ending: bytes keep
			// coming, far too few of them.
			for b := []byte(`{"revocations":[`); r.Context().Err() == nil; b = []byte(" ") {
				if _, err := w.Write(b); err != nil || rc.Flush() != nil {
					return
				}
				time.Sleep(timeout / 4)
			}
		}, "snapshot: less than 4 KiB for 200ms"},
		{"Stalled", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(body[:len(body)/2])
			_ = http.NewResponseController(w).Flush()
			wait(r)
		}, "snapshot: less than 4 KiB for 200ms"},
		{"NoBody", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_ = http.NewResponseController(w).Flush()
			wait(r)
		}, "snapshot: no bytes for 200ms"},
		{"NoHeaders", func(_ http.ResponseWriter, r *http.Request) { wait(r) }, "snapshot: no answer for 200ms"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.setHook(func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != stream.SnapshotPath {
					return false
				}
				tc.serve(w, r)
				return true
			})
			defer s.setHook(nil)
			// Bounded here only so that a verifier that never gives up
			// fails the test rather than hanging it.
			ctx, cancel := context.WithTimeout(context.Background(), 50*timeout)
			defer cancel()
			v, err := verifier.New(ctx, verifier.Options{URL: s.srv.URL, APIKey: apiKey, Issuer: issuer,
				Audience: audience, Clock: s.clock, Logger: slog.New(slog.DiscardHandler), HTTPClient: &http.Client{Timeout: timeout}})
			if tc.err != "" {
				if err == nil {
					v.Close()
					t.Fatalf("New = nil error; want %q", tc.err)
				}
				if !strings.Contains(err.Error(), tc.err) {
					t.Errorf("New = %v; want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("New = %v; want the trickled snapshot loaded", err)
			}
			defer v.Close()
			if _, err := v.Verify(context.Background(), tok); !errors.Is(err, sessiond.ErrRevoked) {
				t.Errorf("Verify(revoked in the snapshot) = %v; want ErrRevoked", err)
			}
		})
	}
}
