package verifier_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	// Not shorter: on a machine under a load of 30 a verifier (or this
	// server) sat unscheduled for 200 ms at times, failing fetches that
	// had kept their pace (the Node SDK's test found the same).
	const timeout = 500 * time.Millisecond
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
	// trickled is that snapshot with 800 more revocations (about 100 KB),
	// enough that at Trickled's rate it takes over twice the timeout
	// (within the 64 KiB a verifier allows outside the entries, white
	// space could not be).
	var snap stream.Snapshot
	if err := json.Unmarshal(body, &snap); err != nil {
		t.Fatal(err)
	}
	const extra = 800
	for i := range extra {
		snap.Revocations = append(snap.Revocations, stream.Revoked{SessionID: fmt.Sprintf("trickled-%04d", i), Subject: "kim",
			RevokedAt: s.clock.Now(), Reason: string(sessiond.ReasonLogout), Until: s.clock.Now().Add(life.Access)})
	}
	trickled, err := json.Marshal(snap)
	if err != nil {
		t.Fatal(err)
	}
	if writes := len(trickled) / (2 << 10); writes < 2*20 {
		t.Fatalf("the trickled snapshot is %d writes of 2 KiB; want at least 40, two timeouts", writes)
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
			// 2 KiB each twentieth of the timeout: ten times the 4 KiB
			// each timeout asked for, so that a verifier bounding the
			// whole transfer fails, not a loaded machine's late wake-up
			// (at twice the rate, one did).
			for b := trickled; len(b) > 0; b = b[min(2<<10, len(b)):] {
				if _, err := w.Write(b[:min(2<<10, len(b))]); err != nil || rc.Flush() != nil {
					return
				}
				time.Sleep(timeout / 20)
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
		}, "snapshot: less than 4 KiB for 500ms"},
		{"Stalled", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(body[:len(body)/2])
			_ = http.NewResponseController(w).Flush()
			wait(r)
		}, "snapshot: less than 4 KiB for 500ms"},
		// The whole document, then neither more nor the body's end: not
		// data after the document, a wait that ran out.
		{"StalledAtEnd", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(body)
			_ = http.NewResponseController(w).Flush()
			wait(r)
		}, "snapshot: less than 4 KiB for 500ms"},
		// The connection lost mid-body, or before the body's end after
		// the whole document: the read's error, as docs/verifier.md
		// quotes it (the Node SDK's "cut" cases), not data after the
		// document or a document that is not one.
		{"CutInItsMiddle", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(body[:len(body)/2])
			_ = http.NewResponseController(w).Flush()
			panic(http.ErrAbortHandler) // the connection closed without the body's end
		}, "snapshot: unexpected EOF"},
		{"CutAtItsEnd", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(body)
			_ = http.NewResponseController(w).Flush()
			panic(http.ErrAbortHandler)
		}, "snapshot: unexpected EOF"},
		{"NoBody", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_ = http.NewResponseController(w).Flush()
			wait(r)
		}, "snapshot: no bytes for 500ms"},
		{"NoHeaders", func(_ http.ResponseWriter, r *http.Request) { wait(r) }, "snapshot: no answer for 500ms"},
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
			if st := v.Status(); st.Revoked != len(snap.Revocations) {
				t.Errorf("Status().Revoked = %d; want %d, the whole snapshot", st.Revoked, len(snap.Revocations))
			}
			if _, err := v.Verify(context.Background(), tok); !errors.Is(err, sessiond.ErrRevoked) {
				t.Errorf("Verify(revoked in the snapshot) = %v; want ErrRevoked", err)
			}
		})
	}
}
