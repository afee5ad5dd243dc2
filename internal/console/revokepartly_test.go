package console_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/console"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"
)

// batchStore revokes a subject's sessions a batch of one at a time, as
// redisstore does 128 at a time, and fails from its second batch on.
type batchStore struct{ *memstore.Store }

func (s batchStore) RevokeSubjectBatch(ctx context.Context, subject string, except sessiond.SessionID, at time.Time,
	reason sessiond.RevokeReason, cursor string, _ int, _ func([]sessiond.Revocation, []sessiond.Client, bool) sessiond.ChangeRecords) (
	[]sessiond.Revocation, []sessiond.Client, string, error) {
	if cursor != "" {
		return nil, nil, "", fmt.Errorf("batch store: %w", sessiond.ErrStoreUnavailable)
	}
	live, err := s.List(ctx, subject, at)
	if err != nil {
		return nil, nil, "", err
	}
	for _, sess := range live {
		if sess.ID == except {
			continue
		}
		if _, err := s.Revoke(ctx, sess.ID, at, reason); err != nil {
			return nil, nil, "", err
		}
		return []sessiond.Revocation{{SessionID: sess.ID, Subject: subject, RevokedAt: at, ExpiresAt: sess.ExpiresAt, Reason: reason}},
			[]sessiond.Client{sess.Client}, "next", nil
	}
	return nil, nil, "", nil
}

// TestConsole_RevokeFailsPartWay: revoking a subject's sessions on a store
// that revokes them in batches and fails after the first says how many it
// had revoked (they stay revoked), as the kill switch's page does, not
// only that it failed.
func TestConsole_RevokeFailsPartWay(t *testing.T) {
	store := batchStore{memstore.New()}
	var mgr *sessiond.Manager
	f := newFixtureWith(t, func(f *fixture, o *console.Options) {
		var err error
		mgr, err = sessiond.New(t.Context(), sessiond.Options{Strategy: sessiond.StrategyDatabase, Store: store,
			Opaque: opaquetoken.Codec{}, Clock: f.clock})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mgr.Close() })
		o.Manager = mgr
	})
	for range 3 {
		if _, err := mgr.Create(t.Context(), "alice", sessiond.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	c := f.signedIn()
	// Twice: each walk revokes one session before its store fails.
	for range 2 {
		const want = "Revoking failed after 1 session(s) were revoked (they stay revoked; revoking again ends the rest); see the server log."
		resp, body := f.do(c, "POST", "/console/sessions/revoke-all", url.Values{"subject": {"alice"}}, "same-origin")
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, want) {
			t.Errorf("revoke-all failing part way: %d; want 503 and %q in:\n%s", resp.StatusCode, want, body)
		}
	}
	if live, _ := store.List(t.Context(), "alice", f.clock.Now()); len(live) != 1 {
		t.Errorf("%d sessions live after two walks that each revoked one; want 1", len(live))
	}
}
