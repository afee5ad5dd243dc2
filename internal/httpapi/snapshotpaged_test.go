package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/verifier/stream"
)

// TestRevocationSnapshot_PagedIsWhole: on every store sessiond ships, the
// snapshot read a page at a time (RevocationStream.Page) is byte for byte
// the one read whole (Revocations, as before pages), gzipped or not: over
// pages, ties of one instant longer than a page (one subject's, several
// subjects'), the kill switch's revocations (left out) and a bulk
// revocation with another reason (kept), and revocations too old to send.
func TestRevocationSnapshot_PagedIsWhole(t *testing.T) {
	for _, tc := range eventLogs {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			st := tc.open(t).(sessiond.Store)
			p, ok := st.(sessiond.RevocationPager)
			if !ok {
				t.Fatalf("%T is not a RevocationPager", st)
			}
			want := fillSnapshot(t, st)
			var bodies [2][]byte
			for i, paged := range []bool{false, true} {
				e := newStreamEnv(t, func(rs *httpapi.RevocationStream) {
					rs.Revocations = st.Revocations
					if paged {
						rs.Page = p.PageRevocations
					}
				})
				e.marks = []stream.Watermark{{All: true, IssuedBefore: t0.Add(-30 * time.Second)}}
				identity, gzipped := getSnapshot(t, e.srv.URL, false), getSnapshot(t, e.srv.URL, true)
				if !bytes.Equal(identity, gzipped) {
					t.Errorf("paged %t: the gzipped snapshot is not the identity one", paged)
				}
				bodies[i] = identity
			}
			if !bytes.Equal(bodies[0], bodies[1]) {
				t.Errorf("snapshot read a page at a time (%d bytes) differs from the one read whole (%d bytes)", len(bodies[1]), len(bodies[0]))
			}
			var snap stream.Snapshot
			if err := json.Unmarshal(bodies[1], &snap); err != nil || len(snap.Revocations) != want {
				t.Errorf("snapshot: %d revocations, %v; want %d", len(snap.Revocations), err, want)
			}
		})
	}
}

// fillSnapshot stores the revocations of TestRevocationSnapshot_PagedIsWhole
// and returns how many of them a snapshot at t0 sends.
func fillSnapshot(t *testing.T, st sessiond.Store) int {
	t.Helper()
	ctx := t.Context()
	n := 0
	create := func(subject string, created time.Time) *sessiond.Session {
		s := sessiondtest.NewSession(subject, created)
		s.IdleExpiresAt, s.ExpiresAt = t0.Add(time.Hour), t0.Add(time.Hour)
		if err := st.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
		return s
	}
	revoke := func(s *sessiond.Session, at time.Time, reason sessiond.RevokeReason) {
		if _, err := st.Revoke(ctx, s.ID, at, reason); err != nil {
			t.Fatal(err)
		}
	}
	created := t0.Add(-10 * time.Minute)
	// 1,200 sessions of one subject in one instant: more than a page.
	for range 1200 {
		create("alice", created)
	}
	revs, err := st.RevokeSubject(ctx, "alice", "", t0.Add(-2*time.Minute), sessiond.ReasonLogout)
	if err != nil || len(revs) != 1200 {
		t.Fatalf("RevokeSubject(alice) = %d, %v", len(revs), err)
	}
	n += 1200
	// Apart, and 40 subjects in one instant.
	for i := range 300 {
		at := t0.Add(-time.Minute + time.Duration(i)*time.Millisecond)
		if i%10 == 0 {
			at = t0.Add(-90 * time.Second)
		}
		revoke(create(fmt.Sprintf("user%03d", i), created), at, sessiond.ReasonLogout)
		n++
	}
	revoke(create("old", created), t0.Add(-time.Hour), sessiond.ReasonLogout) // too old to send
	revoke(create("kim", created), t0.Add(-20*time.Second), sessiond.ReasonIncident)
	if br, ok := st.(sessiond.BulkRevoker); ok {
		for i := range 50 {
			create(fmt.Sprintf("early%02d", i), created.Add(-time.Minute))
		}
		if got, _, err := br.RevokeMatching(ctx, sessiond.RevokeFilter{IssuedBefore: created}, t0.Add(-45*time.Second), sessiond.ReasonAdmin); err != nil || got != 50 {
			t.Fatalf("RevokeMatching(issued before) = %d, %v", got, err)
		}
		n += 50
		for i := range 100 {
			create(fmt.Sprintf("live%03d", i), created)
		}
		if _, _, err := br.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, t0.Add(-30*time.Second), sessiond.ReasonIncident); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// getSnapshot returns the snapshot's body, asked for gzipped or not
// (and then decompressed).
func getSnapshot(t *testing.T, url string, gzipped bool) []byte {
	t.Helper()
	req := mustRequest(t, url+stream.SnapshotPath)
	if gzipped {
		req.Header.Set("Accept-Encoding", "gzip")
	}
	resp, err := (&http.Client{Transport: &http.Transport{DisableCompression: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body io.Reader = resp.Body
	if gzipped {
		z, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		body = z
	}
	b, err := io.ReadAll(body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("snapshot: status %d, %v", resp.StatusCode, err)
	}
	return b
}

// TestRevocationSnapshot_PageFails: a store that fails, or does not
// answer, on the first page is a problem answer (503 store_unavailable),
// as before pages; one that fails on a later page, after the status is
// sent, cuts the connection: the client sees an error, not a document
// that ends cleanly.
func TestRevocationSnapshot_PageFails(t *testing.T) {
	t.Parallel()
	revs := func(n int) []sessiond.Revocation {
		out := make([]sessiond.Revocation, n)
		for i := range out {
			out[i] = sessiond.Revocation{SessionID: sessiond.NewSessionID(), Subject: "kim", RevokedAt: t0, ExpiresAt: t0.Add(time.Hour),
				Reason: sessiond.ReasonLogout}
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		page   func(ctx context.Context, q sessiond.RevocationQuery) (sessiond.RevocationPage, error)
		status int
	}{
		{"FirstPageFails", func(context.Context, sessiond.RevocationQuery) (sessiond.RevocationPage, error) {
			return sessiond.RevocationPage{}, fmt.Errorf("teststore: %w", sessiond.ErrStoreUnavailable)
		}, http.StatusServiceUnavailable},
		{"FirstPageHangs", func(ctx context.Context, _ sessiond.RevocationQuery) (sessiond.RevocationPage, error) {
			<-ctx.Done()
			return sessiond.RevocationPage{}, ctx.Err()
		}, http.StatusServiceUnavailable},
		{"LaterPageFails", func(_ context.Context, q sessiond.RevocationQuery) (sessiond.RevocationPage, error) {
			if q.After.ID != "" {
				return sessiond.RevocationPage{}, fmt.Errorf("teststore: %w", sessiond.ErrStoreUnavailable)
			}
			page := revs(q.Limit)
			return sessiond.RevocationPage{Revocations: page, Next: sessiond.CursorOf(page[len(page)-1])}, nil
		}, http.StatusOK},
		{"LaterPageHangs", func(ctx context.Context, q sessiond.RevocationQuery) (sessiond.RevocationPage, error) {
			if q.After.ID != "" {
				<-ctx.Done()
				return sessiond.RevocationPage{}, ctx.Err()
			}
			page := revs(q.Limit)
			return sessiond.RevocationPage{Revocations: page, Next: sessiond.CursorOf(page[len(page)-1])}, nil
		}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			e := newStreamEnvOpts(t, authenticate, func(rs *httpapi.RevocationStream) { rs.Page = tc.page },
				func(o *httpapi.Options) { o.WriteTimeout = time.Second })
			resp, err := http.DefaultTransport.RoundTrip(mustRequest(t, e.srv.URL+stream.SnapshotPath))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("snapshot status %d (%s); want %d", resp.StatusCode, body, tc.status)
			}
			if tc.status != http.StatusOK {
				if !bytes.Contains(body, []byte("store_unavailable")) || resp.Header.Get("Retry-After") == "" {
					t.Errorf("snapshot answer %q, Retry-After %q; want store_unavailable with Retry-After", body, resp.Header.Get("Retry-After"))
				}
				return
			}
			if err == nil {
				t.Errorf("snapshot whose second page failed: %d bytes read to a clean end; want the connection cut", len(body))
			}
		})
	}
}
