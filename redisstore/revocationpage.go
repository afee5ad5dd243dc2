package redisstore

import (
	"cmp"
	"container/heap"
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

var _ sessiond.RevocationPager = (*Store)(nil)

// revFields are the fields of a session hash a revocation needs.
var revFields = [...]string{fSubject, fExpires, fRevokedAt, fReason}

// readRevoked reads the sessions refs name (tag and ID each, as the
// revocation and expiry indexes hold them), revocationsBatch a round trip,
// and returns the revocation of each that is revoked, in refs' order, and
// the refs whose session is gone (or that name none).
func (s *Store) readRevoked(ctx context.Context, refs []string) ([]sessiond.Revocation, []string, error) {
	out := make([]sessiond.Revocation, 0, len(refs))
	var gone []string
	for chunk := range slices.Chunk(refs, revocationsBatch) {
		cmds := make(rueidis.Commands, 0, len(chunk))
		ids := make([]sessiond.SessionID, 0, len(chunk))
		read := make([]string, 0, len(chunk))
		for _, m := range chunk {
			tag, id, ok := parseRef(m)
			if !ok {
				gone = append(gone, m)
				continue
			}
			cmds = append(cmds, s.client.B().Hmget().Key(s.sessKey(tag, id)).Field(revFields[:]...).Build())
			ids, read = append(ids, id), append(read, m)
		}
		if len(cmds) == 0 {
			continue
		}
		for i, r := range s.client.DoMulti(ctx, cmds...) {
			f, err := r.ToArray()
			if err != nil {
				return nil, nil, err
			}
			if len(f) != len(revFields) {
				return nil, nil, errCorrupt
			}
			var v [len(revFields)]string
			var present [len(revFields)]bool
			for j := range f {
				v[j], present[j] = field(&f[j])
			}
			if !present[1] { // no absolute expiry: the session is gone
				gone = append(gone, read[i])
				continue
			}
			exp, err1 := decTime(v[1])
			revoked, err2 := decTime(v[2])
			if err1 != nil || err2 != nil {
				return nil, nil, errCorrupt
			}
			if !revoked.IsZero() {
				out = append(out, sessiond.Revocation{SessionID: ids[i], Subject: v[0], RevokedAt: revoked, ExpiresAt: exp,
					Reason: sessiond.RevokeReason(v[3])})
			}
		}
	}
	return out, gone, nil
}

// revChunk is how many members of the revocation index a step of a page
// reads (revPageScript).
const revChunk = 512

// revPageScript returns members of the revocation index with their scores
// (µs), ARGV[4] at most, in the index's order (score, then member bytes):
// from score ARGV[2] on (ARGV[1] "from"), or after member ARGV[3] of score
// ARGV[2] (ARGV[1] "after"; rank_after finds where it was when it has
// left the index). It writes nothing, and runs read-only.
//
//	KEYS: revocation index
//	ARGV: "from" or "after", score (µs), member, count
//	→ {member, score, member, score, ...}
var revPageScript = rueidis.NewLuaScriptReadOnly(rankAfterFn + `
local idx, n = KEYS[1], tonumber(ARGV[4])
if ARGV[1] == 'from' then
  return redis.call('ZRANGE', idx, ARGV[2], '+inf', 'BYSCORE', 'LIMIT', 0, n, 'WITHSCORES')
end
local from = redis.call('ZRANK', idx, ARGV[3])
if from then from = from + 1 else from = rank_after(idx, ARGV[3], ARGV[2]) end
return redis.call('ZRANGE', idx, from, from + n - 1, 'WITHSCORES')
`)

// revMember is a member of the revocation index: a session's tag and ID,
// and its revocation time (µs).
type revMember struct {
	ref string
	at  int64
}

func (m revMember) id() sessiond.SessionID { _, id, _ := parseRef(m.ref); return id }

// PageRevocations returns a page of the walk through Revocations' entries
// (sessiond.RevocationPager). The revocation index is ordered by time,
// then by member (the subject's tag, then the ID), not by ID: the members
// of one instant are sorted by ID in Go, a read of the index never ending
// inside an instant; an instant of more than a read is read on alone,
// through the index when one subject's sessions make it (their members
// are in order of ID) and otherwise whole, keeping only the page's worth
// with the lowest IDs. A bulk revocation's instant (its sessions are not
// in the index one by one) is read as Revocations reads it, through every
// session of the expiry index, once per page it reaches into. Every step
// is a command, a read-only script of at most revChunk members, or a
// pipeline of revocationsBatch reads of session hashes.
func (s *Store) PageRevocations(ctx context.Context, q sessiond.RevocationQuery) (sessiond.RevocationPage, error) {
	const op = "page revocations"
	if err := ctxErr(ctx, op, sessiond.CheckRevocationQuery(q)); err != nil {
		return sessiond.RevocationPage{}, err
	}
	w := &revWalk{s: s, ctx: ctx, q: q, since: micros(q.Since),
		page: sessiond.RevocationPage{Revocations: []sessiond.Revocation{}, Next: q.After}}
	err := w.run()
	if len(w.gone) > 0 {
		dctx, cancel := detached(ctx)
		if err := s.drop(dctx, w.gone); err != nil {
			s.log.Warn("redisstore: trim revocation index", "err", err.Error())
		}
		cancel()
	}
	if err != nil {
		return sessiond.RevocationPage{}, s.fail(op, err)
	}
	return w.page, nil
}

// revWalk is one page of a walk.
type revWalk struct {
	s     *Store
	ctx   context.Context
	q     sessiond.RevocationQuery
	since int64   // µs, rounded down: where the index is read from
	bulk  []int64 // the instants of bulk revocations ahead, in order
	page  sessiond.RevocationPage
	gone  []string // members whose session is gone
}

func (w *revWalk) need() int { return w.q.Limit - len(w.page.Revocations) }

// keep reports whether r is one of the walk's: as Revocations lists it
// (compared with since to the nanosecond, as Revocations compares), and
// not of the reason left out.
func (w *revWalk) keep(r sessiond.Revocation) bool {
	return !r.RevokedAt.Before(w.q.Since) && r.ExpiresAt.After(w.q.Since) && (w.q.Except == "" || r.Reason != w.q.Except)
}

// emit adds r to the page, which it reports full.
func (w *revWalk) emit(r sessiond.Revocation) bool {
	w.page.Revocations = append(w.page.Revocations, r)
	w.page.Next = sessiond.CursorOf(r)
	return w.need() == 0
}

func (w *revWalk) run() error {
	from := max(w.since, micros(w.q.After.At))
	if err := w.readBulk(from); err != nil {
		return err
	}
	if w.q.After.ID != "" && micros(w.q.After.At) >= w.since {
		// The rest of the cursor's instant, then the instants after it.
		full, err := w.instant(from, string(w.q.After.ID))
		if full || err != nil {
			return err
		}
		from++
	}
	for {
		members, err := w.members("from", from, "", revChunk)
		if err != nil {
			return err
		}
		cut := len(members) == revChunk // the last instant may go on past it
		for len(members) > 0 {
			at := members[0].at
			n := 1
			for n < len(members) && members[n].at == at {
				n++
			}
			if b, ok := w.nextBulk(); ok && b <= at {
				// A bulk revocation's instant comes first, or is this one.
				full, err := w.instant(b, "")
				if full || err != nil {
					return err
				}
				if b == at {
					members = members[n:]
				}
				from = b + 1
				continue
			}
			if n == len(members) && cut {
				if n == revChunk {
					// One instant fills the read: read it alone.
					full, err := w.instant(at, "")
					if full || err != nil {
						return err
					}
					from = at + 1
				} else {
					from = at // read again from its start
				}
				break
			}
			// Whole instants up to the next that needs more: sorted by ID,
			// their sessions read in one go.
			end := n
			for end < len(members) {
				next := members[end].at
				k := end
				for k < len(members) && members[k].at == next {
					k++
				}
				if b, ok := w.nextBulk(); (ok && b <= next) || (k == len(members) && cut) {
					break
				}
				end = k
			}
			full, err := w.whole(members[:end])
			if full || err != nil {
				return err
			}
			from = members[end-1].at + 1
			members = members[end:]
		}
		if !cut {
			break
		}
	}
	// The bulk revocations after the index's last revocation.
	for {
		b, ok := w.nextBulk()
		if !ok {
			break
		}
		if full, err := w.instant(b, ""); full || err != nil {
			return err
		}
	}
	w.page.Done = true
	return nil
}

// readBulk reads the instants of the bulk revocations at or after from.
func (w *revWalk) readBulk(from int64) error {
	s := w.s
	ms, err := s.client.Do(w.ctx, s.client.B().Zrange().Key(s.bulkKey()).Min(strconv.FormatInt(from, 10)).Max("+inf").Byscore().Build()).AsStrSlice()
	if err != nil {
		return err
	}
	for _, m := range ms {
		at, _, _ := strings.Cut(m, ":")
		v, err := atoi(at)
		if err != nil {
			return errCorrupt
		}
		if n := len(w.bulk); n == 0 || w.bulk[n-1] != v {
			w.bulk = append(w.bulk, v)
		}
	}
	return nil
}

// nextBulk is the first bulk revocation's instant still ahead.
func (w *revWalk) nextBulk() (int64, bool) {
	if len(w.bulk) == 0 {
		return 0, false
	}
	return w.bulk[0], true
}

// members reads up to n members of the revocation index with revPageScript.
func (w *revWalk) members(mode string, at int64, member string, n int) ([]revMember, error) {
	s := w.s
	reply, err := revPageScript.Exec(w.ctx, s.client, []string{s.revKey},
		[]string{mode, strconv.FormatInt(at, 10), member, strconv.Itoa(n)}).AsStrSlice()
	if err != nil {
		return nil, err
	}
	if len(reply)%2 != 0 {
		return nil, errCorrupt
	}
	out := make([]revMember, 0, len(reply)/2)
	for i := 0; i < len(reply); i += 2 {
		f, err := strconv.ParseFloat(reply[i+1], 64)
		if err != nil || len(reply[i]) < tagLen {
			return nil, errCorrupt
		}
		out = append(out, revMember{ref: reply[i], at: int64(f)})
	}
	return out, nil
}

// whole adds the revocations of whole instants of the index to the page,
// each instant sorted by ID; it reports the page full.
func (w *revWalk) whole(ms []revMember) (bool, error) {
	slices.SortFunc(ms, func(a, b revMember) int {
		if c := cmp.Compare(a.at, b.at); c != 0 {
			return c
		}
		return cmp.Compare(a.id(), b.id())
	})
	refs := make([]string, len(ms))
	for i, m := range ms {
		refs[i] = m.ref
	}
	revs, gone, err := w.s.readRevoked(w.ctx, refs)
	if err != nil {
		return false, err
	}
	w.gone = append(w.gone, gone...)
	for _, r := range revs {
		if w.keep(r) && w.emit(r) {
			return true, nil
		}
	}
	return false, nil
}

// instant adds the revocations of one instant with an ID after after to
// the page; it reports the page full. One subject's instant is read in
// the index's order (which is the ID's); another, or a bulk revocation's,
// whole, keeping the lowest IDs.
func (w *revWalk) instant(at int64, after string) (bool, error) {
	if b, ok := w.nextBulk(); ok && b == at {
		w.bulk = w.bulk[1:]
		return w.gather(at, after, true)
	}
	s := w.s
	key, sc := s.revKey, strconv.FormatInt(at, 10)
	res := s.client.DoMulti(w.ctx,
		s.client.B().Zrange().Key(key).Min(sc).Max(sc).Byscore().Limit(0, 1).Build(),
		s.client.B().Zrange().Key(key).Min(sc).Max(sc).Byscore().Rev().Limit(0, 1).Build())
	first, err := res[0].AsStrSlice()
	if err != nil {
		return false, err
	}
	last, err := res[1].AsStrSlice()
	if err != nil {
		return false, err
	}
	if len(first) == 0 || len(last) == 0 || len(first[0]) < tagLen || len(last[0]) < tagLen {
		return false, nil
	}
	if first[0][:tagLen] != last[0][:tagLen] {
		return w.gather(at, after, false)
	}
	// One subject: its members are in order of ID.
	member := first[0][:tagLen] + after
	for {
		ms, err := w.members("after", at, member, revChunk)
		if err != nil {
			return false, err
		}
		n := 0
		for n < len(ms) && ms[n].at == at {
			n++
		}
		if n == 0 {
			return false, nil
		}
		if full, err := w.whole(ms[:n]); full || err != nil {
			return full, err
		}
		if n < len(ms) || len(ms) < revChunk {
			return false, nil
		}
		member = ms[n-1].ref
	}
}

// gather adds the revocations of one instant with an ID after after to the
// page, reading the whole instant (its members of the revocation index,
// and with bulk every session of the expiry index) and keeping the page's
// worth, and one more, with the lowest IDs; it reports the page full.
func (w *revWalk) gather(at int64, after string, bulk bool) (bool, error) {
	low := &lowest{max: w.need() + 1, in: map[sessiond.SessionID]bool{}}
	add := func(refs []string, exact bool) error {
		refs = slices.DeleteFunc(refs, func(m string) bool { _, id, _ := parseRef(m); return string(id) <= after || low.in[id] })
		revs, gone, err := w.s.readRevoked(w.ctx, refs)
		if err != nil {
			return err
		}
		w.gone = append(w.gone, gone...)
		for _, r := range revs {
			if w.keep(r) && (!exact || micros(r.RevokedAt) == at) {
				low.add(r)
			}
		}
		return nil
	}
	ms, err := w.members("from", at, "", revChunk)
	for err == nil && len(ms) > 0 {
		n := 0
		for n < len(ms) && ms[n].at == at {
			n++
		}
		refs := make([]string, n)
		for i := range n {
			refs[i] = ms[i].ref
		}
		if err = add(refs, false); err != nil || n < len(ms) || len(ms) < revChunk {
			break
		}
		ms, err = w.members("after", at, ms[n-1].ref, revChunk)
	}
	if err != nil {
		return false, err
	}
	if bulk {
		// As Revocations: a session ends after any revocation since
		// q.Since only if its absolute expiry is after it.
		var addErr error
		err := w.s.livePages(w.ctx, w.q.Since, revocationsScan, func(page []string, _ bool) bool {
			addErr = add(page, true)
			return addErr == nil
		})
		if addErr != nil {
			return false, addErr
		}
		if err != nil {
			return false, err
		}
	}
	for _, r := range low.sorted() {
		if w.need() == 0 {
			return true, nil // more than the page holds: the next page goes on from its last
		}
		w.emit(r)
	}
	if w.need() == 0 {
		// The instant is done: the next page starts after it.
		w.page.Next = sessiond.RevocationCursor{At: time.UnixMicro(at + 1).UTC()}
		return true, nil
	}
	return false, nil
}

// lowest keeps the max revocations with the lowest IDs of those added (a
// heap of the highest on top), each ID once.
type lowest struct {
	max  int
	revs []sessiond.Revocation
	in   map[sessiond.SessionID]bool
}

func (l *lowest) Len() int           { return len(l.revs) }
func (l *lowest) Less(i, j int) bool { return l.revs[i].SessionID > l.revs[j].SessionID }
func (l *lowest) Swap(i, j int)      { l.revs[i], l.revs[j] = l.revs[j], l.revs[i] }
func (l *lowest) Push(x any)         { l.revs = append(l.revs, x.(sessiond.Revocation)) }
func (l *lowest) Pop() any {
	r := l.revs[len(l.revs)-1]
	l.revs = l.revs[:len(l.revs)-1]
	return r
}

func (l *lowest) add(r sessiond.Revocation) {
	if l.in[r.SessionID] {
		return
	}
	if len(l.revs) < l.max {
		heap.Push(l, r)
		l.in[r.SessionID] = true
		return
	}
	if r.SessionID < l.revs[0].SessionID {
		delete(l.in, l.revs[0].SessionID)
		l.revs[0] = r
		heap.Fix(l, 0)
		l.in[r.SessionID] = true
	}
}

func (l *lowest) sorted() []sessiond.Revocation {
	out := slices.Clone(l.revs)
	slices.SortFunc(out, func(a, b sessiond.Revocation) int { return cmp.Compare(a.SessionID, b.SessionID) })
	return out
}
