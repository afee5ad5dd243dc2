package memstore

import (
	"context"
	"slices"

	"github.com/sessiond/sessiond"
)

var _ sessiond.RevocationPager = (*Store)(nil)

// revocationOrder keeps the revoked sessions' positions in the walk's
// order (sessiond.CompareRevocations), so that a page starts with a binary
// search instead of a sort of every revocation. Revocations mostly come
// in order (at the time they are made) and are appended; the ones that do
// not (a subject's sessions share one time, in no order of ID) wait after
// sorted until the next page sorts and merges them. A deleted session's
// position stays until compact drops it (a page skips it meanwhile). Its
// fields are guarded by Store.mu.
type revocationOrder struct {
	keys   []sessiond.RevocationCursor
	sorted int // keys[:sorted] are in order
	stale  int // positions of deleted sessions among keys
}

// add appends r's position; s.mu is held for writing.
func (o *revocationOrder) add(r sessiond.Revocation) {
	k := sessiond.CursorOf(r)
	if o.sorted == len(o.keys) && (o.sorted == 0 || o.keys[o.sorted-1].Precedes(r)) {
		o.sorted++
	}
	o.keys = append(o.keys, k)
}

// inOrder reports whether every position is in order.
func (o *revocationOrder) inOrder() bool { return o.sorted == len(o.keys) }

// order sorts the positions added out of order and merges them in;
// s.mu is held for writing.
func (o *revocationOrder) order() {
	if o.inOrder() {
		return
	}
	tail := slices.Clone(o.keys[o.sorted:])
	slices.SortFunc(tail, compareCursors)
	head := o.keys[:o.sorted]
	merged := make([]sessiond.RevocationCursor, 0, len(o.keys))
	for len(head) > 0 && len(tail) > 0 {
		if compareCursors(tail[0], head[0]) < 0 {
			merged, tail = append(merged, tail[0]), tail[1:]
		} else {
			merged, head = append(merged, head[0]), head[1:]
		}
	}
	merged = append(append(merged, head...), tail...)
	o.keys, o.sorted = merged, len(merged)
}

// compact drops the positions of deleted sessions once they are half of
// them; s.mu is held for writing.
func (o *revocationOrder) compact(revoked map[sessiond.SessionID]*record) {
	if o.stale < 1024 || o.stale < len(o.keys)/2 {
		return
	}
	o.order()
	o.keys = slices.DeleteFunc(o.keys, func(k sessiond.RevocationCursor) bool {
		rec, ok := revoked[k.ID]
		return !ok || !rec.s.RevokedAt.Equal(k.At)
	})
	o.keys = slices.Clip(o.keys)
	o.sorted, o.stale = len(o.keys), 0
}

func compareCursors(a, b sessiond.RevocationCursor) int {
	return sessiond.CompareRevocations(sessiond.Revocation{RevokedAt: a.At, SessionID: a.ID},
		sessiond.Revocation{RevokedAt: b.At, SessionID: b.ID})
}

// pageScan bounds the positions one page looks at, per revocation it may
// return: a page over a long run of left-out revocations (an incident's)
// ends there and the next goes on from it.
const pageScan = 16

// PageRevocations returns a page of the walk through Revocations' entries
// (sessiond.RevocationPager), looking at no more than 16 positions per
// revocation of q.Limit.
func (s *Store) PageRevocations(ctx context.Context, q sessiond.RevocationQuery) (sessiond.RevocationPage, error) {
	const op = "page revocations"
	if err := s.rlock(ctx, op, sessiond.CheckRevocationQuery(q)); err != nil {
		return sessiond.RevocationPage{}, err
	}
	unlock := s.mu.RUnlock
	if !s.revOrder.inOrder() {
		// Sorting writes the positions: take the write lock for it (and
		// the page), as a read that finds the store changed does.
		s.mu.RUnlock()
		if err := s.lock(ctx, op); err != nil {
			return sessiond.RevocationPage{}, err
		}
		unlock = s.mu.Unlock
		s.revOrder.order()
	}
	defer unlock()
	from := q.After
	if start := (sessiond.RevocationCursor{At: q.Since}); compareCursors(from, start) < 0 {
		from = start // revoked at or after since
	}
	keys := s.revOrder.keys
	i, _ := slices.BinarySearchFunc(keys, from, compareCursors)
	for i < len(keys) && compareCursors(keys[i], from) <= 0 {
		i++ // from itself: the walk goes on after it
	}
	page := sessiond.RevocationPage{Revocations: []sessiond.Revocation{}, Next: q.After}
	for scanned := 0; i < len(keys) && len(page.Revocations) < q.Limit && scanned < pageScan*q.Limit; i++ {
		scanned++
		k := keys[i]
		page.Next = k
		rec, ok := s.revoked[k.ID]
		if !ok || !rec.s.RevokedAt.Equal(k.At) || !rec.s.ExpiresAt.After(q.Since) ||
			(q.Except != "" && rec.s.RevokeReason == q.Except) {
			continue
		}
		page.Revocations = append(page.Revocations, rec.revocation())
	}
	page.Done = i == len(keys)
	return page, nil
}
