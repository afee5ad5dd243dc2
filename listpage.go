package sessiond

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"slices"
	"strings"
	"time"
)

// PageRequest asks Manager.ListPage for one page of a subject's live
// sessions.
type PageRequest struct {
	After  string // the Next of the page before, of the same subject; "" starts the walk
	Limit  int    // sessions read, live or not: 1 to MaxPageLimit
	Newest bool   // walk from the end of the page order to its start
}

// SessionPage is one page of a walk through a subject's live sessions.
type SessionPage struct {
	Sessions []Session // in the walk's order; empty, not nil, when none
	Next     string    // PageRequest.After of the next page; "" once the walk is over
}

// ListPage returns one page of the live sessions of subject, reading at
// most r.Limit of its stored sessions: what a request costs does not grow
// with how many sessions the subject has, where List's does. A page holds
// at most r.Limit sessions and may hold fewer, even none, before the walk
// ends (sessions read but revoked, expired, or ended by an incident's
// watermark are left out): follow Next until it is "".
//
// The order is the store's page order (SubjectPager): by CreatedAt, then
// ID, on memstore, sqlitestore and pgstore; by absolute expiry, then ID,
// on redisstore. A walk is not one snapshot: a session live for the whole
// walk is returned once; one created, revoked or expired meanwhile may or
// may not be.
//
// Next is bound to subject: a cursor of another subject's walk, or one not
// as ListPage wrote it, is ErrInvalidArgument (field "after"), as is
// r.Limit outside 1 to MaxPageLimit. The binding is a check, not a secret:
// a cursor only says where in subject's sessions a page starts, so no
// cursor reads another subject's sessions.
//
// On a store that is no SubjectPager each page is cut from List (every
// session of the subject read in full) in the order of CreatedAt, then ID,
// with the same cursors: it works, but costs what List costs.
func (m *Manager) ListPage(ctx context.Context, subject string, r PageRequest) (SessionPage, error) {
	if err := m.needSessions("list"); err != nil {
		return SessionPage{}, err
	}
	if err := checkSubject(subject); err != nil {
		return SessionPage{}, err
	}
	q := PageQuery{Subject: subject, Now: m.now(), Limit: r.Limit, Newest: r.Newest}
	if _, err := CheckPageQuery(q); err != nil { // the limit
		return SessionPage{}, err
	}
	if r.After != "" {
		pos, tag, ok := cutLast(r.After, ".")
		if !ok || tag != subjectTag(subject) {
			return SessionPage{}, argError("after", "is not a page cursor of this subject's sessions")
		}
		q.After = pos
		if _, err := CheckPageQuery(q); err != nil {
			return SessionPage{}, err
		}
	}
	var page Page
	if p, ok := m.store.(SubjectPager); ok {
		var err error
		if page, err = p.ListPage(ctx, q); err != nil {
			return SessionPage{}, fmt.Errorf("sessiond: list page: %w", m.storeErr.check("list", err))
		}
	} else {
		ss, err := m.store.List(ctx, subject, q.Now)
		if err != nil {
			return SessionPage{}, fmt.Errorf("sessiond: list page: %w", m.storeErr.check("list", err))
		}
		page = pageOfList(ss, q)
	}
	out := SessionPage{Sessions: make([]Session, 0, len(page.Sessions))}
	for _, s := range page.Sessions {
		if !m.marks.revoked(s.Subject, s.CreatedAt) { // ended by an incident the store has not caught up with
			out.Sessions = append(out.Sessions, *s)
		}
	}
	if page.Next != "" {
		out.Next = page.Next + "." + subjectTag(subject)
	}
	return out, nil
}

// pageOfList cuts the page q asks for from every live session of its
// subject, in the order of CreatedAt, then ID (the order of the stores
// that keep sessions by creation), with their cursors. q has passed
// CheckPageQuery.
func pageOfList(ss []*Session, q PageQuery) Page {
	after, _ := CheckPageQuery(q)
	// A cursor's time is whole microseconds, as the stores keep it: the
	// order is by those.
	key := func(s *Session) PageCursor { return PageCursor{At: s.CreatedAt.Truncate(time.Microsecond), ID: s.ID} }
	order := func(a, b PageCursor) int {
		c := cmp.Or(a.At.Compare(b.At), strings.Compare(string(a.ID), string(b.ID)))
		if q.Newest {
			return -c
		}
		return c
	}
	slices.SortFunc(ss, func(a, b *Session) int { return order(key(a), key(b)) })
	if !after.IsZero() {
		i, found := slices.BinarySearchFunc(ss, after, func(s *Session, c PageCursor) int { return order(key(s), c) })
		if found {
			i++
		}
		ss = ss[i:]
	}
	out := Page{Sessions: ss[:min(q.Limit, len(ss))]}
	if len(ss) > q.Limit {
		out.Next = key(out.Sessions[len(out.Sessions)-1]).String()
	}
	return out
}

// subjectTag binds a page cursor to its subject: 40 bits of its SHA-256,
// 8 characters of lower-case base32. Not a secret (anyone can compute it,
// and gains nothing by it): it turns a cursor passed with the wrong
// subject, a client's mistake, into an error rather than a silent walk of
// this subject's sessions from a place that means nothing.
func subjectTag(subject string) string {
	sum := sha256.Sum256([]byte(subject))
	return strings.ToLower(base32.StdEncoding.EncodeToString(sum[:5]))
}

// cutLast is strings.Cut at the last sep.
func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// ValidPageCursor reports whether c has the form of a SessionPage.Next, of
// whichever subject: a caller can refuse what is no cursor (a token pasted
// by mistake, say) before it travels anywhere. ListPage still refuses a
// well-formed cursor of another subject.
func ValidPageCursor(c string) bool {
	pos, tag, ok := cutLast(c, ".")
	if !ok || len(tag) != 8 || strings.ContainsFunc(tag, func(r rune) bool { return (r < 'a' || r > 'z') && (r < '2' || r > '7') }) {
		return false
	}
	_, err := CheckPageQuery(PageQuery{After: pos, Limit: 1})
	return err == nil
}
