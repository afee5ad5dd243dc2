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
	"github.com/sessiond/sessiond/internal/httpapi"
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
		resp, body := f.do(c, "POST", "/console/sessions/revoke-all", url.Values{"subject": {"alice"}, "confirm": {"yes"}}, "same-origin")
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, want) {
			t.Errorf("revoke-all failing part way: %d; want 503 and %q in:\n%s", resp.StatusCode, want, body)
		}
	}
	if live, _ := store.List(t.Context(), "alice", f.clock.Now()); len(live) != 1 {
		t.Errorf("%d sessions live after two walks that each revoked one; want 1", len(live))
	}
}

// TestConsole_IncidentFailureNamesTheRerunBound: a kill switch that failed
// once it had begun says, beside its count, the bound to run it again
// with, since sent again as it was it would be a new incident at its own
// time; one that failed before it began does not.
func TestConsole_IncidentFailureNamesTheRerunBound(t *testing.T) {
	bound := time.Date(2026, 12, 7, 3, 4, 5, 123456000, time.UTC)
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"begun", &sessiond.RevokeMatchingError{IssuedBefore: bound, Err: sessiond.ErrStoreUnavailable}, true},
		{"not begun", sessiond.ErrStoreUnavailable, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixtureWith(t, func(_ *fixture, o *console.Options) {
				o.Incident = func(context.Context, httpapi.IncidentRequest) (int, error) { return 3, tc.err }
			})
			c := f.signedIn()
			form := url.Values{"scope": {"all"}, "reason": {"leak"}, "confirm": {"REVOKE"}}
			resp, body := f.do(c, "POST", "/console/incident", form, "same-origin")
			const want = "run it again with issued before 2026-12-07T03:04:05.123456Z"
			if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(body, "failed after revoking 3 session(s)") ||
				strings.Contains(body, want) != tc.want {
				t.Errorf("failed kill switch: %d, names the bound %t; want 503, %t\n%s", resp.StatusCode, strings.Contains(body, want), tc.want, body)
			}
		})
	}
}
