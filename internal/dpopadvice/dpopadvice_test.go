package dpopadvice_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/sessiond/sessiond/dpop"
	"github.com/sessiond/sessiond/internal/dpopadvice"
)

// TestFor: the texts are a contract of the API's problem detail and the
// verifier's 401 body, matched through the wrapping dpop.Verify adds.
func TestFor(t *testing.T) {
	refused := func(reason error) error { return fmt.Errorf("%w: %w", dpop.ErrInvalidProof, reason) }
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"iat", refused(dpop.ErrIssuedAt), "the DPoP proof's iat is outside the accepted window: the client's clock is off; make the proof with the server's time (the Date header of this answer)"},
		{"replayed", refused(dpop.ErrReplayed), "the DPoP proof was used before: make a new proof for each request, a retry included"},
		{"another reason", refused(dpop.ErrSignature), ""},
		{"not a refusal", errors.New("replay cache down"), ""},
		{"nil", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := dpopadvice.For(tc.err); got != tc.want {
				t.Errorf("For(%v) = %q; want %q", tc.err, got, tc.want)
			}
		})
	}
}
