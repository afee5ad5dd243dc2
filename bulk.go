package sessiond

import (
	"context"
	"time"
)

// RevokeFilter selects the sessions an incident revocation ends. At least
// one of All, Subjects, IssuedBefore must be set; set ones combine with AND.
type RevokeFilter struct {
	All          bool
	Subjects     []string
	IssuedBefore time.Time // sessions created before this time
	// NoSubjects: the caller does not need the subjects; a store may
	// return none (collecting a million of them costs a store that walks
	// every session a good part of the revocation). It selects nothing.
	NoSubjects bool
}

// BulkRevoker is implemented by stores that can revoke many sessions at
// once (the incident kill switch). Every store sessiond ships implements it.
type BulkRevoker interface {
	// RevokeMatching revokes every live session (at `at`) that f selects,
	// with reason, and returns how many it revoked and the distinct
	// subjects they belonged to. Already revoked sessions are not counted,
	// so running it twice revokes nothing the second time.
	RevokeMatching(ctx context.Context, f RevokeFilter, at time.Time, reason RevokeReason) (int, []string, error)
}
