package verifier_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/verifier"
	"github.com/sessiond/sessiond/verifier/stream"
)

// largeSnapshot is a server whose snapshot holds n logouts besides the
// store's own revocations, as after a mass sign-out of a large site.
func largeSnapshot(t *testing.T, n int) *server {
	t.Helper()
	var s *server
	s = newServer(t, func(rs *httpapi.RevocationStream) {
		store := rs.Revocations
		rs.Revocations = func(ctx context.Context, since time.Time) ([]sessiond.Revocation, error) {
			own, err := store(ctx, since)
			if err != nil {
				return nil, err
			}
			now := s.clock.Now()
			out := make([]sessiond.Revocation, 0, n+len(own))
			for i := range n {
				out = append(out, sessiond.Revocation{SessionID: sessiond.SessionID(fmt.Sprintf("mass-%07d", i)), Subject: "user-12345678",
					RevokedAt: now.Add(-time.Duration(i) * life.Access / time.Duration(2*n)), ExpiresAt: now.Add(life.Absolute), Reason: sessiond.ReasonLogout})
			}
			return append(out, own...), nil
		}
	})
	return s
}

// TestVerifier_LargeSnapshot: a snapshot of 500,000 revocations (85 MB of
// JSON, over the 64 MiB that earlier verifiers refused) loads, gzipped
// as the transport asks, and the verifier refuses a token it lists.
func TestVerifier_LargeSnapshot(t *testing.T) {
	if testing.Short() {
		t.Skip("500,000 revocations")
	}
	const n = 500_000
	s := largeSnapshot(t, n)
	id, tok := s.token("lena")
	if err := s.m.Revoke(t.Context(), id, sessiond.ReasonLogout); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var accept []string
	s.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == stream.SnapshotPath {
			mu.Lock()
			accept = append(accept, r.Header.Get("Accept-Encoding"))
			mu.Unlock()
		}
		return false
	})
	for _, c := range []struct {
		name     string
		compress bool
	}{{"gzip", true}, {"identity", false}} {
		// No client timeout: how long 85 MB takes on a loaded machine is
		// no part of what is tested.
		v, _ := s.newVerifier(func(o *verifier.Options) {
			o.HTTPClient = &http.Client{Transport: &http.Transport{DisableCompression: !c.compress}}
		})
		if st := v.Status(); st.Revoked != n+1 || st.Snapshots != 1 {
			t.Errorf("%s: status %+v; want %d revoked", c.name, st, n+1)
		}
		if _, err := v.Verify(t.Context(), tok); err == nil {
			t.Errorf("%s: a token of a session in the snapshot is accepted", c.name)
		}
		v.Close()
	}
	mu.Lock()
	defer mu.Unlock()
	if len(accept) != 2 || accept[0] != "gzip" || accept[1] != "" {
		t.Errorf("Accept-Encoding of the snapshot requests %q; want gzip, then none", accept)
	}
}

// TestVerifier_MaxSnapshotEntries: a snapshot of more entries than
// MaxSnapshotEntries (revocations and watermarks) is refused, naming the
// option; one of exactly that many loads.
func TestVerifier_MaxSnapshotEntries(t *testing.T) {
	t.Parallel()
	s := largeSnapshot(t, 999)
	s.setMarks([]stream.Watermark{{Subject: "mo", IssuedBefore: s.clock.Now()}})
	for _, c := range []struct {
		max int
		ok  bool
	}{{1000, true}, {999, false}} {
		v, err := verifier.New(t.Context(), verifier.Options{URL: s.srv.URL, APIKey: apiKey, Issuer: issuer, Audience: audience,
			MaxSnapshotEntries: c.max})
		if err == nil {
			v.Close()
		}
		if c.ok && err != nil {
			t.Errorf("MaxSnapshotEntries %d: %v", c.max, err)
		}
		if !c.ok && (err == nil || !strings.Contains(err.Error(), "MaxSnapshotEntries")) {
			t.Errorf("MaxSnapshotEntries %d: New = %v; want a refusal naming the option", c.max, err)
		}
	}
	if _, err := verifier.New(t.Context(), verifier.Options{URL: s.srv.URL, APIKey: apiKey, Issuer: issuer, Audience: audience,
		MaxSnapshotEntries: -1}); err == nil {
		t.Error("MaxSnapshotEntries -1 accepted")
	}
}

// TestVerifier_HostileSnapshot: a server that never ends its snapshot,
// or sends one entry without end, is refused once the bound is reached:
// the verifier holds at most MaxSnapshotEntries entries and 64 KiB of
// undecoded JSON, never the document.
func TestVerifier_HostileSnapshot(t *testing.T) {
	t.Parallel()
	entry := `{"session_id":"ses_%d","subject":"a","revoked_at":"2026-01-01T00:00:00Z","reason":"logout","until":"2099-01-01T00:00:00Z"}`
	for _, c := range []struct {
		name, start string
		repeat      func(i int) string
		want        string
		limit       int // repeats before the server ends the document; 0: none
	}{
		{"endless entries", `{"revocations":[`, func(i int) string {
			if i == 0 {
				return fmt.Sprintf(entry, i)
			}
			return "," + fmt.Sprintf(entry, i)
		}, "more entries than MaxSnapshotEntries", 0},
		{"endless session ID", `{"revocations":[{"session_id":"`, func(int) string { return strings.Repeat("a", 4096) }, "an element over 65536 bytes", 0},
		{"endless whitespace", `{"revocations":[`, func(int) string { return strings.Repeat(" ", 4096) }, "an element over 65536 bytes", 0},
		{"endless unknown member", `{"padding":[`, func(int) string { return strings.Repeat("1,", 2048) }, "an element over 65536 bytes", 0},
		{"endless cursor", `{"revocations":[],"watermarks":[],"cursor":"`, func(int) string { return strings.Repeat("a", 4096) }, "an element over 65536 bytes", 0},
		// The members besides the entries are 64 KiB in all, not each (a
		// limit: without the bound the document ends, unexpectedly).
		{"endless members", `{`, func(i int) string { return fmt.Sprintf(`"padding%d":0,`, i) }, "an element over 65536 bytes", 100_000},
		{"endless repeated member", `{`, func(int) string { return `"revocations":[],` }, "an element over 65536 bytes", 100_000},
		// A repeated member's entries count with the earlier ones'.
		{"repeated entries", `{`, func(i int) string {
			var b strings.Builder
			b.WriteString(`"revocations":[`)
			for j := range 4000 {
				if j > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, entry, j)
			}
			b.WriteString(`],`)
			return b.String()
		}, "more entries than MaxSnapshotEntries", 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t, nil)
			s.setHook(func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path != stream.SnapshotPath {
					return false
				}
				w.Header().Set("Content-Type", "application/json")
				if _, err := w.Write([]byte(c.start)); err != nil {
					return true
				}
				// Until the verifier hangs up.
				for i := 0; r.Context().Err() == nil && (c.limit == 0 || i < c.limit); i++ {
					if _, err := w.Write([]byte(c.repeat(i))); err != nil {
						break
					}
				}
				return true
			})
			_, err := verifier.New(t.Context(), verifier.Options{URL: s.srv.URL, APIKey: apiKey, Issuer: issuer, Audience: audience,
				HTTPClient: &http.Client{}, MaxSnapshotEntries: 10_000})
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("New = %v; want %q", err, c.want)
			}
		})
	}
}
