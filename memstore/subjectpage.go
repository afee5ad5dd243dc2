package memstore

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/sessiond/sessiond"
)

var _ sessiond.SubjectPager = (*Store)(nil)

// order compares two positions in the page order: CreatedAt to the
// microsecond, then ID. A cursor holds whole microseconds (PageCursor),
// and this store keeps the times it is given, which may be finer: ordered
// by the exact time, the sessions of one microsecond would sort apart from
// their cursor, and a walk would read them again, or skip them.
func order(at time.Time, id sessiond.SessionID, bt time.Time, bid sessiond.SessionID) int {
	if c := at.Truncate(time.Microsecond).Compare(bt.Truncate(time.Microsecond)); c != 0 {
		return c
	}
	return cmp.Compare(id, bid)
}

// ListPage reads up to q.Limit of the subject's sessions after q.After in
// the order of CreatedAt, then ID (backwards with q.Newest), and returns
// the live ones. It walks the subject's map, keeping only the page's
// candidates, and copies only the live ones of the page.
func (s *Store) ListPage(ctx context.Context, q sessiond.PageQuery) (sessiond.Page, error) {
	from, err := sessiond.CheckPageQuery(q)
	if err := s.rlock(ctx, "list page", err); err != nil {
		return sessiond.Page{}, err
	}
	defer s.mu.RUnlock()
	dir := 1
	if q.Newest {
		dir = -1
	}
	// best holds the first q.Limit+1 records after from, in walk order:
	// one past the page tells whether the walk goes on.
	best := make([]*record, 0, min(q.Limit+1, len(s.bySubject[q.Subject])))
	walk := func(a, b *record) int { return dir * order(a.s.CreatedAt, a.s.ID, b.s.CreatedAt, b.s.ID) }
	for _, rec := range s.bySubject[q.Subject] {
		if !from.IsZero() && dir*order(rec.s.CreatedAt, rec.s.ID, from.At, from.ID) <= 0 {
			continue
		}
		if len(best) == q.Limit+1 && walk(rec, best[q.Limit]) > 0 {
			continue
		}
		i, _ := slices.BinarySearchFunc(best, rec, walk)
		if len(best) == q.Limit+1 {
			best = best[:q.Limit]
		}
		best = slices.Insert(best, i, rec)
	}
	page := sessiond.Page{Sessions: []*sessiond.Session{}}
	if len(best) > q.Limit {
		best = best[:q.Limit]
		last := best[q.Limit-1]
		page.Next = sessiond.PageCursor{At: last.s.CreatedAt, ID: last.s.ID}.String()
	}
	for _, rec := range best {
		if rec.s.Live(q.Now) {
			page.Sessions = append(page.Sessions, rec.clone())
		}
	}
	return page, nil
}

// ListSpan returns the subject's sessions live at now created at created
// and ending at expires.
func (s *Store) ListSpan(ctx context.Context, subject string, created, expires, now time.Time) ([]*sessiond.Session, error) {
	if err := s.rlock(ctx, "list span"); err != nil {
		return nil, err
	}
	defer s.mu.RUnlock()
	out := []*sessiond.Session{}
	for _, rec := range s.bySubject[subject] {
		if rec.s.CreatedAt.Equal(created) && rec.s.ExpiresAt.Equal(expires) && rec.s.Live(now) {
			out = append(out, rec.clone())
		}
	}
	return out, nil
}
