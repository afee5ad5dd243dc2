package sessiond

import (
	"cmp"
	"context"
	"time"
)

// RevocationPager is an optional Store extension: what Revocations
// returns, read a bounded page at a time in one order, so that what one
// read holds does not grow with how many sessions were revoked. The
// revocation stream's snapshot (GET /v1/revocations/snapshot) reads the
// store through it, a page between two writes of the document, and leaves
// out the kill switch's revocations (their watermark covers them). Without
// it the snapshot reads Revocations whole: after a mass logout of 1,000,000
// sessions, hundreds of MB held for each snapshot being answered
// (docs/PERFORMANCE.md, "Revocation snapshot").
//
// Every store sessiond ships implements it. sessiondtest.TestRevocationPager
// is its conformance suite, which TestStore runs when a store implements
// it.
type RevocationPager interface {
	// PageRevocations returns the next revocations after q.After, in the
	// order of CompareRevocations (RevokedAt, then SessionID), of those
	// Revocations(ctx, q.Since) returns, leaving out those whose Reason
	// is q.Except when it is set. A page holds at most q.Limit of them, and
	// may hold fewer, even none, before the walk ends; Done reports that
	// it has ended. Next is where the following page starts (pass it as
	// q.After): at or past the last revocation returned, before any not
	// yet returned.
	//
	// A walk is not one snapshot: a revocation present for the whole walk
	// is returned once; one made, or collected, meanwhile may or may not
	// be. q.Limit outside 1 to MaxPageLimit, or a malformed q.Except, is
	// ErrInvalidArgument (CheckRevocationQuery).
	PageRevocations(ctx context.Context, q RevocationQuery) (RevocationPage, error)
}

// RevocationQuery asks RevocationPager.PageRevocations for one page of a
// walk.
type RevocationQuery struct {
	Since  time.Time        // as Revocations' since
	Except RevokeReason     // left out when set; "": none left out
	After  RevocationCursor // the Next of the page before; zero: the start
	Limit  int              // revocations returned at most: 1 to MaxPageLimit
}

// RevocationCursor is a position in the order of revocations: after it
// come those revoked after At, and those revoked at At whose SessionID is
// greater than ID (with ID "", every one revoked at At). The zero cursor
// is the start of a walk.
type RevocationCursor struct {
	At time.Time
	ID SessionID
}

// Precedes reports whether r comes after c: a walk on from c returns it.
func (c RevocationCursor) Precedes(r Revocation) bool {
	if d := r.RevokedAt.Compare(c.At); d != 0 {
		return d > 0
	}
	return r.SessionID > c.ID
}

// CursorOf is the position of r: the next page starts after it.
func CursorOf(r Revocation) RevocationCursor {
	return RevocationCursor{At: r.RevokedAt, ID: r.SessionID}
}

// RevocationPage is one page of a walk through the revocations.
type RevocationPage struct {
	Revocations []Revocation // in CompareRevocations order; empty, not nil, when none
	Next        RevocationCursor
	Done        bool // nothing follows Next
}

// CompareRevocations orders revocations by RevokedAt, then SessionID: the
// order of RevocationPager's walks, and the one every store sessiond ships
// returns Revocations in.
func CompareRevocations(a, b Revocation) int {
	if c := a.RevokedAt.Compare(b.RevokedAt); c != 0 {
		return c
	}
	return cmp.Compare(a.SessionID, b.SessionID)
}

// maxReasonLen bounds RevocationQuery.Except: every reason sessiond writes
// is a short word.
const maxReasonLen = 64

// CheckRevocationQuery checks what RevocationPager.PageRevocations is
// given: Limit 1 to MaxPageLimit; Except empty or 1 to 64 bytes of
// printable ASCII. After is any position: its ID may be any string a
// store holds (the cursor comes from a page, whatever shape the store's IDs
// have; a store that cannot hold an ID, PostgreSQL one with NUL or not
// UTF-8, refuses it as ErrInvalidArgument).
func CheckRevocationQuery(q RevocationQuery) error {
	if q.Limit < 1 || q.Limit > MaxPageLimit {
		return argError("limit", "must be 1 to %d, got %d", MaxPageLimit, q.Limit)
	}
	if q.Except != "" {
		return checkKey("except", string(q.Except), maxReasonLen)
	}
	return nil
}
