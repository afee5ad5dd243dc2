package httpapi

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
)

// TestProblemFor_Logins: the login errors a keyed login can end with are
// answered as what they are. A login superseded by a later one with its
// Idempotency-Key is the draft's 409, not a store failure (503
// store_unavailable, an ERROR request line and a tick of the store-error
// count would say the store failed when it did not).
func TestProblemFor_Logins(t *testing.T) {
	s := &server{}
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("sessiond: create session: %w", sessiond.ErrLoginSuperseded), http.StatusConflict, apitype.CodeIdempotencyKeySuperseded},
		{fmt.Errorf("sessiond: create session: %w", sessiond.ErrIdempotencyKeyReused), http.StatusUnprocessableEntity, apitype.CodeIdempotencyKeyReused},
		{fmt.Errorf("sessiond: create session: %w", sessiond.ErrLimitReached), http.StatusConflict, apitype.CodeLimitReached},
		{fmt.Errorf("sessiond: create session: %w", sessiond.ErrConflict), http.StatusServiceUnavailable, apitype.CodeStoreUnavailable},
	} {
		status, code, detail := s.problemFor(tc.err)
		if status != tc.status || code != tc.code || detail == "" {
			t.Errorf("problemFor(%v) = %d %s %q; want %d %s with a detail", tc.err, status, code, detail, tc.status, tc.code)
		}
	}
}
