package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/memstore"
)

// TestIncident_FailedPartWay: a kill switch whose store failed after some
// of its batches committed answers with the error's problem as before,
// and with the problem's revoked member saying how many sessions it had
// revoked (they stay revoked; the watermark already refuses the rest).
// Without a count, or with none revoked, the problem has no such member.
// The client returns the count with its *Error.
func TestIncident_FailedPartWay(t *testing.T) {
	for _, tc := range []struct {
		name   string
		n      int
		err    error
		status int
		code   string
	}{
		{"store gone part way", 256, fmt.Errorf("sessiond: revoke matching: %w", sessiond.ErrStoreUnavailable), http.StatusServiceUnavailable, "store_unavailable"},
		{"store gave up part way", 1, fmt.Errorf("sessiond: revoke matching: %w", sessiond.ErrConflict), http.StatusServiceUnavailable, "store_unavailable"},
		{"internal error part way", 50000, errors.New("pgstore: revoke matching: disk full"), http.StatusInternalServerError, "internal"},
		{"nothing revoked", 0, fmt.Errorf("sessiond: raise watermark: %w", sessiond.ErrStoreUnavailable), http.StatusServiceUnavailable, "store_unavailable"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
				o.Incident = func(context.Context, httpapi.IncidentRequest) (int, error) { return tc.n, tc.err }
			})
			r := e.postJSON("/v1/revocations", `{"all":true,"reason":"leak"}`)
			wantProblem(t, "POST /v1/revocations", r, tc.status, tc.code, "")
			got, present := r.problem(t)["revoked"]
			switch {
			case tc.n == 0 && present:
				t.Errorf("problem %s has revoked; want none when nothing was revoked", r.body)
			case tc.n > 0 && got != float64(tc.n):
				t.Errorf("problem %s: revoked = %v; want %d", r.body, got, tc.n)
			}
			n, err := e.c.RevokeIncident(t.Context(), client.Incident{All: true, Reason: "leak"})
			ce, ok := errors.AsType[*client.Error](err)
			if !ok || n != tc.n || ce.Revoked != tc.n || ce.Status != tc.status {
				t.Errorf("RevokeIncident = %d, %v; want %d with an *Error of status %d and Revoked %d", n, err, tc.n, tc.status, tc.n)
			}
		})
	}
}

// failingBatches revokes a subject's sessions one a batch, as redisstore
// does 128 a script, and fails with err from batch failAt on (0: the
// first); its cursor counts the batches of the walk.
type failingBatches struct {
	*memstore.Store
	failAt int
	err    error
}

func (s *failingBatches) RevokeSubjectBatch(ctx context.Context, subject string, except sessiond.SessionID, at time.Time,
	reason sessiond.RevokeReason, cursor string, _ int, _ func([]sessiond.Revocation, []sessiond.Client, bool) sessiond.ChangeRecords) (
	[]sessiond.Revocation, []sessiond.Client, string, error) {
	done, _ := strconv.Atoi(cursor)
	if done >= s.failAt {
		return nil, nil, "", s.err
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
			[]sessiond.Client{sess.Client}, strconv.Itoa(done + 1), nil
	}
	return nil, nil, "", nil
}

// oneTransaction is a store that revokes a subject in one transaction, as
// SQLite and PostgreSQL do, and whose RevokeSubject fails whole: nothing
// stays revoked.
type oneTransaction struct {
	*memstore.Store
	err error
}

func (s oneTransaction) RevokeSubject(context.Context, string, sessiond.SessionID, time.Time, sessiond.RevokeReason) ([]sessiond.Revocation, error) {
	return nil, s.err
}

// TestRevokeSubject_FailedPartWay: DELETE /v1/subjects/{subject}/sessions
// on a store that revokes in batches and fails after some answers the
// error's problem (503 for a store gone or a set that kept changing, 500
// otherwise) with the revoked member counting the batches that committed;
// one that failed in its first batch, or a store that revokes in one
// transaction (whose failure revokes nothing), answers without it. The
// client returns the count with its *Error. Each answer is checked against
// openapi.json.
func TestRevokeSubject_FailedPartWay(t *testing.T) {
	unavailable := fmt.Errorf("batch store: %w", sessiond.ErrStoreUnavailable)
	for _, tc := range []struct {
		name   string
		store  func(*memstore.Store) sessiond.Store
		status int
		code   string
		detail string
		want   int // the revoked member; 0: absent
	}{
		{"store gone after two batches", func(m *memstore.Store) sessiond.Store { return &failingBatches{m, 2, unavailable} },
			http.StatusServiceUnavailable, "store_unavailable", "the session store is unavailable", 2},
		{"set kept changing after one batch", func(m *memstore.Store) sessiond.Store {
			return &failingBatches{m, 1, fmt.Errorf("batch store: kept changing: %w", sessiond.ErrConflict)}
		}, http.StatusServiceUnavailable, "store_unavailable", "kept changing while they were revoked", 1},
		{"internal error after one batch", func(m *memstore.Store) sessiond.Store {
			return &failingBatches{m, 1, errors.New("batch store: disk full")}
		},
			http.StatusInternalServerError, "internal", "", 1},
		{"first batch failed", func(m *memstore.Store) sessiond.Store { return &failingBatches{m, 0, unavailable} },
			http.StatusServiceUnavailable, "store_unavailable", "", 0},
		{"one transaction failed", func(m *memstore.Store) sessiond.Store { return oneTransaction{m, unavailable} },
			http.StatusServiceUnavailable, "store_unavailable", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnvWith(t, sessiond.StrategyDatabase, func(o *sessiond.Options) {
				o.Store = tc.store(o.Store.(*memstore.Store))
			}, nil)
			for range 5 {
				if _, err := e.m.Create(t.Context(), "alice", sessiond.CreateOptions{}); err != nil {
					t.Fatal(err)
				}
			}
			r := e.do(http.MethodDelete, "/v1/subjects/alice/sessions", "", nil, nil)
			wantProblem(t, "DELETE /v1/subjects/alice/sessions", r, tc.status, tc.code, tc.detail)
			got, present := r.problem(t)["revoked"]
			if tc.want == 0 && present || tc.want > 0 && got != float64(tc.want) {
				t.Errorf("problem %s: revoked = %v (present %v); want %d (0: absent)", r.body, got, present, tc.want)
			}
			live, err := e.store.List(t.Context(), "alice", e.clock.Now())
			if err != nil || len(live) != 5-tc.want {
				t.Errorf("%d sessions live, %v; want %d: the count is what the store revoked", len(live), err, 5-tc.want)
			}
			// Again: the walk starts over and fails after as many batches.
			n, err := e.c.RevokeSubject(t.Context(), "alice", "")
			ce, ok := errors.AsType[*client.Error](err)
			if !ok || n != tc.want || ce.Revoked != tc.want || ce.Status != tc.status {
				t.Errorf("RevokeSubject = %d, %v; want %d with an *Error of status %d and Revoked %d", n, err, tc.want, tc.status, tc.want)
			}
		})
	}
}

// TestIncident_FailedNamesTheRerunBound: a kill switch that failed once it
// had begun answers, beside its revoked member, the bound it applied as
// issued_before (RFC 3339, to the nanosecond the Manager gave), which the
// client returns with its *Error; a failure before it began (the signing
// keys not retired) has none.
func TestIncident_FailedNamesTheRerunBound(t *testing.T) {
	bound := time.Date(2026, 3, 4, 5, 6, 7, 890123000, time.FixedZone("x", 3600))
	unavailable := fmt.Errorf("sessiond: revoke matching: %w", sessiond.ErrStoreUnavailable)
	for _, tc := range []struct {
		name string
		n    int
		err  error
		want string // the issued_before member; "": absent
	}{
		{"part way", 12, &sessiond.RevokeMatchingError{IssuedBefore: bound, Err: unavailable}, "2026-03-04T04:06:07.890123Z"},
		{"watermark not raised", 0, &sessiond.RevokeMatchingError{IssuedBefore: bound, Err: unavailable}, "2026-03-04T04:06:07.890123Z"},
		{"before it began", 0, unavailable, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
				o.Incident = func(context.Context, httpapi.IncidentRequest) (int, error) { return tc.n, tc.err }
			})
			r := e.postJSON("/v1/revocations", `{"all":true,"reason":"leak"}`)
			wantProblem(t, "POST /v1/revocations", r, http.StatusServiceUnavailable, "store_unavailable", "")
			if got, _ := r.problem(t)["issued_before"].(string); got != tc.want {
				t.Errorf("problem %s: issued_before = %q; want %q", r.body, got, tc.want)
			}
			n, err := e.c.RevokeIncident(t.Context(), client.Incident{All: true, Reason: "leak"})
			ce, ok := errors.AsType[*client.Error](err)
			if tc.want != "" && (!ok || n != tc.n || !ce.IssuedBefore.Equal(bound)) {
				t.Errorf("RevokeIncident = %d, %v; want %d with an *Error of IssuedBefore %v", n, err, tc.n, bound)
			}
			if tc.want == "" && (!ok || !ce.IssuedBefore.IsZero()) {
				t.Errorf("RevokeIncident = %d, %v; want an *Error without IssuedBefore", n, err)
			}
		})
	}
}
