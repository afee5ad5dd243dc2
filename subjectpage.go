package sessiond

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"
)

// SubjectPager is an optional Store extension: a subject's sessions read a
// bounded page at a time, so that what one read costs does not grow with
// how many sessions the subject has. The Manager's reads of a subject on
// the paths a request drives go through it: the concurrent-login check
// after each login (EventConcurrentLogin), a login the session limit
// refuses under an incident watermark, and the successors of a rotated
// session whose retired refresh token comes back (ListSpan); and
// Manager.ListPage, the API's, the CLI's and the console's pages of a
// subject's sessions. Without it
// the Manager reads them with List: every session of the subject in full,
// claims included, at once (for 100,000 sessions with 4 KB of claims,
// about 910 MB allocated a read).
//
// Every store sessiond ships implements it. sessiondtest.TestSubjectPager
// is its conformance suite, which TestStore runs when a store implements
// it.
type SubjectPager interface {
	// ListPage walks the subject's stored sessions in the store's page
	// order, from q.After (the Next of the page before, "" for the start),
	// or from the end backwards with q.Newest. It reads at most q.Limit of
	// them, live or not (revoked, or expired and not yet deleted), and
	// returns those live at q.Now, in the walk's order: a page may hold
	// fewer than q.Limit sessions, even none, before the walk ends. Next
	// is "" once the walk has read the subject's last session.
	//
	// The page order is by CreatedAt, then ID (memstore, sqlitestore,
	// pgstore), or by absolute expiry (ExpiresAt), then ID, on a store
	// whose subject index is kept in that order (redisstore); one store
	// always uses the same. A walk is not one snapshot: a session live for
	// the whole walk is returned once; one created, revoked or expired
	// meanwhile may or may not be. A malformed q.After, or q.Limit outside
	// 1 to MaxPageLimit, is ErrInvalidArgument (CheckPageQuery).
	ListPage(ctx context.Context, q PageQuery) (Page, error)
	// ListSpan returns the subject's sessions live at now that were
	// created at exactly created and end (ExpiresAt) at exactly expires,
	// in no order, and an empty, non-nil slice when there are none: the
	// successors of a session Manager.Rotate rotated, which keep both
	// times. Its work grows with the subject's sessions created (or
	// ending) in that microsecond, not with its other sessions.
	ListSpan(ctx context.Context, subject string, created, expires, now time.Time) ([]*Session, error)
}

// MaxPageLimit bounds PageQuery.Limit.
const MaxPageLimit = 1000

// PageQuery asks SubjectPager.ListPage for one page of a walk.
type PageQuery struct {
	Subject string
	Now     time.Time // the sessions live at Now are returned
	After   string    // the Next of the page before; "" starts the walk
	Limit   int       // sessions read, live or not: 1 to MaxPageLimit
	Newest  bool      // walk from the end of the page order to its start
}

// Page is one page of a walk through a subject's sessions.
type Page struct {
	Sessions []*Session // the live ones of those read, in the walk's order; empty, not nil, when none
	Next     string     // where the next page starts; "" once the walk is over
}

// PageCursor is a position in a walk through a subject's sessions
// (PageQuery.After, Page.Next): the order key of the last session read,
// its CreatedAt (or its ExpiresAt on a store ordered by expiry), and its
// ID. Stores write it with String and read it with CheckPageQuery, so that
// every store takes and refuses the same.
type PageCursor struct {
	At time.Time
	ID SessionID
}

// maxCursorMicros keeps a cursor's time exact where a store holds it as a
// double (Redis's sorted-set scores): 2^53 µs, the year 2255.
const maxCursorMicros = 1 << 53

// String is the cursor as Page.Next carries it: the time in unix
// microseconds, a dot, the ID.
func (c PageCursor) String() string {
	return strconv.FormatInt(c.At.UnixMicro(), 10) + "." + string(c.ID)
}

// IsZero reports whether c is the start of a walk (PageQuery.After "").
func (c PageCursor) IsZero() bool { return c.ID == "" }

// CheckPageQuery checks what SubjectPager.ListPage is given and returns the
// position q.After names (the zero PageCursor for ""). A cursor must be
// exactly as PageCursor.String writes it: digits without a sign or a
// leading zero, below 2^53, a dot, and an ID of NewSessionID's shape.
func CheckPageQuery(q PageQuery) (PageCursor, error) {
	if q.Limit < 1 || q.Limit > MaxPageLimit {
		return PageCursor{}, argError("limit", "must be 1 to %d, got %d", MaxPageLimit, q.Limit)
	}
	if q.After == "" {
		return PageCursor{}, nil
	}
	bad := argError("after", "is not a page cursor")
	digits, id, ok := strings.Cut(q.After, ".")
	if !ok || digits == "" || len(digits) > 16 || (len(digits) > 1 && digits[0] == '0') || !SessionID(id).Valid() {
		return PageCursor{}, bad
	}
	var us int64
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if c < '0' || c > '9' {
			return PageCursor{}, bad
		}
		us = us*10 + int64(c-'0')
	}
	if us >= maxCursorMicros {
		return PageCursor{}, bad
	}
	return PageCursor{At: time.UnixMicro(us).UTC(), ID: SessionID(id)}, nil
}

// subjectPage is how many sessions the Manager asks ListPage to read at a
// time: one Redis script's worth (redisstore reads at most 128 a script).
const subjectPage = 128

// walkSubject calls fn with the subject's sessions live at now, newest
// first, until fn returns false. A SubjectPager is read a page at a time,
// at most budget sessions in all (live or not); it reports complete false
// when it stopped at the budget with sessions left unread. Another store is
// read whole with List, every session in full. A failure of either read is
// reported to Options.StoreErrorObserver as op "list", the read it was
// before.
func (m *Manager) walkSubject(ctx context.Context, subject string, now time.Time, budget int, fn func(*Session) bool) (complete bool, err error) {
	p, ok := m.store.(SubjectPager)
	if !ok {
		ss, err := m.store.List(ctx, subject, now)
		if err != nil {
			return false, m.storeErr.check("list", err)
		}
		for _, s := range slices.Backward(ss) {
			if !fn(s) {
				break
			}
		}
		return true, nil
	}
	q := PageQuery{Subject: subject, Now: now, Newest: true}
	for budget > 0 {
		q.Limit = min(budget, subjectPage)
		page, err := p.ListPage(ctx, q)
		if err != nil {
			return false, m.storeErr.check("list", err)
		}
		for _, s := range page.Sessions {
			if !fn(s) {
				return true, nil
			}
		}
		if page.Next == "" {
			return true, nil
		}
		budget -= q.Limit
		q.After = page.Next
	}
	return false, nil
}

// listSpan returns the subject's sessions live at now created at created
// and ending at expires (SubjectPager.ListSpan), or, on another store,
// those of List. A failure is reported as op "list", as walkSubject's.
func (m *Manager) listSpan(ctx context.Context, subject string, created, expires, now time.Time) ([]*Session, error) {
	if p, ok := m.store.(SubjectPager); ok {
		ss, err := p.ListSpan(ctx, subject, created, expires, now)
		return ss, m.storeErr.check("list", err)
	}
	ss, err := m.store.List(ctx, subject, now)
	if err != nil {
		return nil, m.storeErr.check("list", err)
	}
	return slices.DeleteFunc(ss, func(s *Session) bool { return !s.CreatedAt.Equal(created) || !s.ExpiresAt.Equal(expires) }), nil
}
