package gateway

import (
	"errors"
	"fmt"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
)

// TestRefusedCredential: what counts against the failure limit is a
// credential refused as invalid or unknown, what a guesser meets; never a
// real session's end, a proof the request still owes, or an outage. The
// routes' own tests (internal/httpapi TestBrowserRoutes_AuthFailures) cover
// the common cases through HTTP; this table also covers those that need
// DBSC, DPoP or a dropped signing key to reach.
func TestRefusedCredential(t *testing.T) {
	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"forged", fmt.Errorf("sessiond: verify: %w: bad checksum", sessiond.ErrInvalidToken), true},
		{"not stored", fmt.Errorf("sessiond: verify: %w", sessiond.ErrNotFound), true},
		{"no credential", httpsession.ErrNoCredentials, false},
		{"expired", fmt.Errorf("sessiond: verify: %w", sessiond.ErrExpired), false},
		{"revoked", fmt.Errorf("sessiond: verify: %w", sessiond.ErrRevoked), false},
		{"idle timeout", sessiond.ErrIdleTimeout, false},
		{"absolute timeout", sessiond.ErrAbsoluteTimeout, false},
		{"refresh reused", fmt.Errorf("sessiond: refresh: %w", sessiond.ErrRefreshReused), false},
		{"retired signing key", fmt.Errorf("sessiond: verify: %w", sessiond.ErrKeyRetired), false},
		{"DPoP-bound token", httpsession.ErrKeyProofRequired, false},
		{"DBSC bound cookie to renew", httpsession.ErrDeviceProof, false},
		{"DBSC binding required", httpsession.ErrDeviceBindingRequired, false},
		{"challenge", sessiond.ErrChallenge, false},
		{"subject's refresh limit", &sessiond.RateLimitError{}, false},
		{"store unavailable", errors.Join(sessiond.ErrInvalidToken, sessiond.ErrStoreUnavailable), false},
		{"nothing", nil, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := refusedCredential(c.err); got != c.want {
				t.Errorf("refusedCredential(%v) = %v; want %v", c.err, got, c.want)
			}
		})
	}
}
