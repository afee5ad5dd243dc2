// Package dpopadvice words the refusals of a DPoP proof that an honest
// client fixes itself, once for the server's API (its problem detail) and
// the Go verifier (its 401 body), so that a client reads the same advice
// from both.
package dpopadvice

import (
	"errors"

	"github.com/sessiond/sessiond/dpop"
)

// For returns the advice for a proof refused with err, or "" when the
// reason is not one to name. Two are named: an iat out of the window (a
// device's clock off by hours; the answer's Date header gives the
// server's time) and a proof sent twice (a request resent as it was).
// Naming them tells a forger nothing RFC 9449 does not.
func For(err error) string {
	switch {
	case errors.Is(err, dpop.ErrIssuedAt):
		return "the DPoP proof's iat is outside the accepted window: the client's clock is off; make the proof with the server's time (the Date header of this answer)"
	case errors.Is(err, dpop.ErrReplayed):
		return "the DPoP proof was used before: make a new proof for each request, a retry included"
	}
	return ""
}
