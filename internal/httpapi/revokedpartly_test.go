package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/httpapi"
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
