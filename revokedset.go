package sessiond

import (
	"sync"
	"time"
)

// revokedSet is the in-process set of revoked session IDs the hybrid
// strategy checks on every verify. An entry is dropped once no access token
// of its session can still be live, so the set holds at most one access
// lifetime's worth of revocations.
//
// A nil *revokedSet is an empty set that ignores additions: the flows
// without one (database, jwt) need no checks at their call sites.
type revokedSet struct {
	access time.Duration // the access-token lifetime
	leeway time.Duration // the signer's clock-skew allowance

	mu sync.RWMutex
	m  map[SessionID]time.Time // session ID → when the entry may be dropped
	// pruneAt is the size at which an addition first drops the entries
	// past their time: twice what the last such prune kept, at least
	// revokedPruneFloor. CollectGarbage prunes too, but a node whose
	// collector is off (Options.GCInterval negative: another node
	// collects) still hears every revocation of the cluster, and without
	// this its set would grow with every logout for as long as it runs.
	// Doubling keeps the scans' cost amortized constant per addition.
	pruneAt int
}

// revokedPruneFloor: below this many entries (about 400 KB) an addition
// never scans the set.
const revokedPruneFloor = 4096

func newRevokedSet(access, leeway time.Duration) *revokedSet {
	return &revokedSet{access: access, leeway: leeway, m: make(map[SessionID]time.Time), pruneAt: revokedPruneFloor}
}

// MaxVerifierLeeway is the largest clock-skew allowance a token verifier
// may take (the Go and Node verifiers refuse more; stream.MaxLeeway is the
// same value in their wire format package): such a verifier accepts a
// token that long past its expiry, so a revocation must stay known (in
// the store, for the snapshot it loads) that long too.
const MaxVerifierLeeway = time.Minute

// RevokeWriteMargin is how long a revocation may take to commit after the
// time it is dated (Revocation.RevokedAt, stamped when it starts). A
// refresh that commits before the revocation does issues an access token
// dated after RevokedAt, so whatever remembers a revocation while its
// session's access tokens live must remember it this much longer. A store
// write that slow has timed out long before.
const RevokeWriteMargin = time.Minute

// RevocationHorizon is when no access token of a session revoked at
// revokedAt can verify any more, for tokens living access and checked with
// leeway: an access lifetime after the revocation could have committed,
// capped by the session's own end (sessionExpires, when known), plus the
// leeway and a second. Until then a verifier that checks signatures alone
// must keep the revocation.
func RevocationHorizon(revokedAt, sessionExpires time.Time, access, leeway time.Duration) time.Time {
	u := revokedAt.Add(RevokeWriteMargin + access)
	if !sessionExpires.IsZero() && sessionExpires.Before(u) {
		u = sessionExpires
	}
	return u.Add(leeway + time.Second)
}

// note adds revocation r, unless every access token of its session has
// already expired at now.
func (r *revokedSet) note(rev Revocation, now time.Time) {
	if r == nil {
		return
	}
	if drop := RevocationHorizon(rev.RevokedAt, rev.ExpiresAt, r.access, r.leeway); drop.After(now) {
		r.add(rev.SessionID, drop, now)
	}
}

// since is how far back revocations can still matter at now: what a node
// reloads from the store to rebuild the set.
func (r *revokedSet) since(now time.Time) time.Time {
	return now.Add(-RevokeWriteMargin - r.access - r.leeway - time.Second)
}

func (r *revokedSet) add(id SessionID, dropAt, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if old, ok := r.m[id]; !ok || dropAt.After(old) {
		r.m[id] = dropAt
	}
	if len(r.m) >= r.pruneAt {
		r.pruneLocked(now)
	}
}

func (r *revokedSet) has(id SessionID) bool {
	if r == nil {
		return false
	}
	r.mu.RLock()
	_, ok := r.m[id]
	r.mu.RUnlock()
	return ok
}

// prune drops entries whose drop time is before now and returns how many remain.
func (r *revokedSet) prune(now time.Time) int {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pruneLocked(now)
}

func (r *revokedSet) pruneLocked(now time.Time) int {
	for id, t := range r.m {
		if t.Before(now) {
			delete(r.m, id)
		}
	}
	r.pruneAt = max(2*len(r.m), revokedPruneFloor)
	return len(r.m)
}

func (r *revokedSet) len() int {
	if r == nil {
		return 0
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.m)
}
