package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
)

// conflictingSubjects is a store whose subject revocations keep finding
// the sessions changed (a store that must see the same set twice, under
// a storm of logins) and give up.
type conflictingSubjects struct{ *memstore.Store }

func (conflictingSubjects) RevokeSubjectRecorded(context.Context, string, sessiond.SessionID, time.Time, sessiond.RevokeReason,
	func([]sessiond.Revocation) sessiond.ChangeRecords) ([]sessiond.Revocation, error) {
	return nil, fmt.Errorf("revoke subject: sessions to revoke kept changing: %w", sessiond.ErrConflict)
}

func (conflictingSubjects) RevokeSubject(context.Context, string, sessiond.SessionID, time.Time, sessiond.RevokeReason) ([]sessiond.Revocation, error) {
	return nil, fmt.Errorf("revoke subject: sessions to revoke kept changing: %w", sessiond.ErrConflict)
}

// TestRevokeSubject_ConflictIsRetry: a subject revocation the store gave
// up on (nothing revoked) answers 503 with Retry-After, for the caller to
// try again, not a 500 internal error.
func TestRevokeSubject_ConflictIsRetry(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, sessiond.StrategyHybrid, func(o *sessiond.Options) {
		o.Store = conflictingSubjects{o.Store.(*memstore.Store)}
	}, nil)
	r := e.do(http.MethodDelete, "/v1/subjects/alice/sessions", "", nil, map[string]string{"Authorization": "Bearer " + apiKey})
	wantProblem(t, "revoke subject on conflict", r, http.StatusServiceUnavailable, "store_unavailable", "retry")
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}
