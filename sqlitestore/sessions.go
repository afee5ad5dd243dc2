package sqlitestore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"slices"
	"time"

	"github.com/sessiond/sessiond"
)

// sessionColumns are read by scanSession, in this order.
const sessionColumns = `s.id, s.subject, s.strategy, s.created_at, s.last_active_at, s.idle_expires_at,
	s.expires_at, s.persistent, s.client_ip, s.client_ua, s.claims, s.revoked_at, s.revoke_reason`

const (
	getQuery    = `SELECT ` + sessionColumns + ` FROM sessions s WHERE s.id = ?`
	lookupQuery = `SELECT t.kind, t.issued_at, t.expires_at, t.retired_at, ` + sessionColumns + `
		FROM tokens t JOIN sessions s ON s.id = t.session_id WHERE t.hash = ?`
	listQuery = `SELECT ` + sessionColumns + ` FROM sessions s
		WHERE s.subject = ? AND s.revoked_at IS NULL AND s.expires_at > ? AND s.idle_expires_at > ?
		ORDER BY s.created_at, s.id`
)

func micro(t time.Time) int64 { return t.UnixMicro() }

func fromMicro(v int64) time.Time { return time.UnixMicro(v).UTC() }

// nullMicro stores the zero time as NULL.
func nullMicro(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func fromNullMicro(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return fromMicro(v.Int64)
}

// sessionScan holds the columns of a session that need converting.
type sessionScan struct {
	id, strategy, reason                      string
	created, lastActive, idleExpires, expires int64
	revoked                                   sql.NullInt64
	claims                                    []byte // database/sql copies into a *[]byte
}

// appendDest appends the scan destinations of sessionColumns to dst; the
// plain fields go straight into s.
func (r *sessionScan) appendDest(dst []any, s *sessiond.Session) []any {
	return append(dst, &r.id, &s.Subject, &r.strategy, &r.created, &r.lastActive, &r.idleExpires,
		&r.expires, &s.Persistent, &s.Client.IP, &s.Client.UserAgent, &r.claims, &r.revoked, &r.reason)
}

// sessionColumnCount is len(appendDest(nil, s)).
const sessionColumnCount = 13

func (r *sessionScan) fill(s *sessiond.Session) {
	s.ID = sessiond.SessionID(r.id)
	s.Strategy = sessiond.Strategy(r.strategy)
	s.CreatedAt = fromMicro(r.created)
	s.LastActiveAt = fromMicro(r.lastActive)
	s.IdleExpiresAt = fromMicro(r.idleExpires)
	s.ExpiresAt = fromMicro(r.expires)
	s.Claims = r.claims
	s.RevokedAt = fromNullMicro(r.revoked)
	s.RevokeReason = sessiond.RevokeReason(r.reason)
}

type scanner interface{ Scan(dest ...any) error }

func scanSession(sc scanner) (*sessiond.Session, error) {
	var r sessionScan
	s := new(sessiond.Session)
	if err := sc.Scan(r.appendDest(make([]any, 0, sessionColumnCount), s)...); err != nil {
		return nil, err
	}
	r.fill(s)
	return s, nil
}

func claimsArg(c []byte) any {
	if c == nil {
		return nil
	}
	return []byte(c)
}

// Create stores s and its tokens in one transaction. It returns ErrConflict
// if the session ID or a token hash already exists (or repeats within
// tokens), and ErrInvalidArgument if a token names another session.
func (s *Store) Create(ctx context.Context, sess *sessiond.Session, tokens ...sessiond.Token) error {
	const op = "create session"
	if err := checkCreate(op, sess, tokens); err != nil {
		return err
	}
	return s.write(ctx, op, func(tx *sql.Tx) error { return s.insertSession(ctx, tx, sess, tokens) })
}

// checkCreate checks what Create and CreateLimited are given.
func checkCreate(op string, sess *sessiond.Session, tokens []sessiond.Token) error {
	if err := sessiond.CheckNewSession(sess, tokens); err != nil {
		return wrap(op, err)
	}
	return nil
}

func (s *Store) insertSession(ctx context.Context, tx *sql.Tx, sess *sessiond.Session, tokens []sessiond.Token) error {
	_, err := s.exec(ctx, tx, insertSessionQuery,
		string(sess.ID), sess.Subject, string(sess.Strategy), micro(sess.CreatedAt), micro(sess.LastActiveAt),
		micro(sess.IdleExpiresAt), micro(sess.ExpiresAt), sess.Persistent, sess.Client.IP, sess.Client.UserAgent,
		claimsArg(sess.Claims), nullMicro(sess.RevokedAt), string(sess.RevokeReason))
	if err != nil {
		return err
	}
	for _, t := range tokens {
		if err := s.insertToken(ctx, tx, t); err != nil {
			return err
		}
	}
	return nil
}

// The statements of the login and refresh paths, prepared once
// (Store.writes): compiling one costs about as much as running it.
const (
	insertSessionQuery = `INSERT INTO sessions (id, subject, strategy, created_at, last_active_at,
			idle_expires_at, expires_at, persistent, client_ip, client_ua, claims, revoked_at, revoke_reason)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	swapRetireQuery = `UPDATE tokens SET retired_at = ?
		WHERE hash = ? AND kind = ? AND retired_at IS NULL RETURNING session_id`
	swapOldQuery = `SELECT t.session_id, t.retired_at, s.revoked_at IS NOT NULL
		FROM tokens t JOIN sessions s ON s.id = t.session_id WHERE t.hash = ? AND t.kind = ?`
	swapSiblingsQuery = `UPDATE tokens SET retired_at = ?
		WHERE session_id = ? AND kind = ? AND retired_at IS NULL`
	insertTokenQuery = `INSERT INTO tokens (hash, session_id, kind, issued_at, expires_at, retired_at)
		VALUES (?, ?, ?, ?, ?, ?)`
	// Touch's and the swap's: activity never moves back, so a node whose
	// clock is behind cannot shorten a session a node ahead extended.
	activityQuery = `UPDATE sessions SET last_active_at = max(last_active_at, ?), idle_expires_at = max(idle_expires_at, ?)
		WHERE id = ? AND revoked_at IS NULL`
	insertEventQuery = `INSERT INTO events
		(id, time, type, subject, session_id, client_ip, client_ua, details)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`
	insertDeliveryQuery = `INSERT INTO deliveries (` + deliveryColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`
)

var writeQueries = []string{insertSessionQuery, swapRetireQuery, swapOldQuery, swapSiblingsQuery, insertTokenQuery, activityQuery,
	insertEventQuery, insertDeliveryQuery, savepointQuery, rollbackToQuery, releaseQuery}

func (s *Store) insertToken(ctx context.Context, tx *sql.Tx, t sessiond.Token) error {
	_, err := s.exec(ctx, tx, insertTokenQuery,
		t.Hash[:], string(t.SessionID), int64(t.Kind), micro(t.IssuedAt), micro(t.ExpiresAt), nullMicro(t.RetiredAt))
	return err
}

// Get returns the session with ID id, revoked and expired ones included, or
// ErrNotFound.
func (s *Store) Get(ctx context.Context, id sessiond.SessionID) (*sessiond.Session, error) {
	sess, err := scanSession(s.getStmt.QueryRowContext(ctx, string(id)))
	if err != nil {
		return nil, s.fail("get session", err)
	}
	return sess, nil
}

// Lookup returns the token with hash h and its session, with one query, or
// ErrNotFound.
func (s *Store) Lookup(ctx context.Context, h sessiond.TokenHash) (sessiond.Token, *sessiond.Session, error) {
	var (
		r                     sessionScan
		kind, issued, expires int64
		retired               sql.NullInt64
	)
	sess := new(sessiond.Session)
	dest := append(make([]any, 0, 4+sessionColumnCount), &kind, &issued, &expires, &retired)
	dest = r.appendDest(dest, sess)
	if err := s.lookupStmt.QueryRowContext(ctx, h[:]).Scan(dest...); err != nil {
		return sessiond.Token{}, nil, s.fail("lookup token", err)
	}
	r.fill(sess)
	tok := sessiond.Token{
		Hash:      h,
		Kind:      sessiond.TokenKind(kind),
		SessionID: sess.ID,
		IssuedAt:  fromMicro(issued),
		ExpiresAt: fromMicro(expires),
		RetiredAt: fromNullMicro(retired),
	}
	return tok, sess, nil
}

// Touch records activity on session id. ErrNotFound if the session does
// not exist, ErrRevoked if it is revoked (nothing changes).
func (s *Store) Touch(ctx context.Context, id sessiond.SessionID, lastActive, idleExpires time.Time) error {
	return s.write(ctx, "touch session", func(tx *sql.Tx) error {
		return touch(ctx, tx, id, lastActive, idleExpires)
	})
}

// touch is Touch in tx: the UPDATE skips a revoked session, and only then
// a second look tells revoked from absent (sql.ErrNoRows, which write
// turns into ErrNotFound).
func touch(ctx context.Context, tx *sql.Tx, id sessiond.SessionID, lastActive, idleExpires time.Time) error {
	res, err := tx.ExecContext(ctx, activityQuery, micro(lastActive), micro(idleExpires), string(id))
	if err != nil {
		return err
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return err
	}
	var one int
	if err := tx.QueryRowContext(ctx, `SELECT 1 FROM sessions WHERE id = ?`, string(id)).Scan(&one); err != nil {
		return err
	}
	return sessiond.ErrRevoked
}

// SwapRefresh retires sw.Old and stores sw.Next in one IMMEDIATE
// transaction, and writes the session's activity. ErrNotFound if Old is
// not a stored refresh token, ErrInvalidArgument if Next is not a refresh
// token of Old's session, ErrRevoked if that session is revoked,
// ErrRefreshReused if Old was retired outside the grace window,
// ErrConflict if Next's hash exists (the first that applies, in this
// order); in each case nothing changes.
func (s *Store) SwapRefresh(ctx context.Context, sw sessiond.RefreshSwap) error {
	const op = "swap refresh token"
	if err := sw.Validate(); err != nil {
		return wrap(op, err)
	}
	enc, err := sessiond.EncodeEvents(sw.Events)
	if err != nil {
		return wrap(op, err)
	}
	return s.write(ctx, op, func(tx *sql.Tx) error {
		// An error returned after a write here undoes it: a write that
		// fails is rolled back whole (groupcommit.go).
		var sid string
		err := s.queryRow(ctx, tx, swapRetireQuery, micro(sw.Now), sw.Old[:], int64(sessiond.KindRefresh)).Scan(&sid)
		if errors.Is(err, sql.ErrNoRows) {
			// Not current: unknown, or retired already.
			var (
				retired sql.NullInt64
				revoked bool
			)
			err = s.queryRow(ctx, tx, swapOldQuery, sw.Old[:], int64(sessiond.KindRefresh)).Scan(&sid, &retired, &revoked)
			if err != nil {
				return err // sql.ErrNoRows: ErrNotFound
			}
			if err := sw.CheckSession(sessiond.SessionID(sid)); err != nil {
				return err
			}
			switch {
			case revoked:
				return sessiond.ErrRevoked
			case !sw.InGrace(fromNullMicro(retired)):
				return sessiond.ErrRefreshReused
			}
		} else if err != nil {
			return err
		} else if err := sw.CheckSession(sessiond.SessionID(sid)); err != nil {
			return err
		}
		// The activity goes first: the session row it updates says whether
		// the session is revoked, in this transaction, so a revocation
		// between the caller's check and this swap refuses it, at no extra
		// statement.
		res, err := s.exec(ctx, tx, activityQuery, micro(sw.LastActiveAt), micro(sw.IdleExpiresAt), sid)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return sessiond.ErrRevoked // the token's foreign key: the session exists
		}
		// Next becomes the session's only current refresh token: a sibling
		// issued by an earlier swap within the grace window retires, so one
		// token never forks into several live chains.
		if _, err := s.exec(ctx, tx, swapSiblingsQuery, micro(sw.Now), sid, int64(sessiond.KindRefresh)); err != nil {
			return err
		}
		if err := s.insertToken(ctx, tx, sw.Next); err != nil {
			return err
		}
		// The change's event and webhook deliveries commit with it.
		if err := s.insertEvents(ctx, tx, sw.Events, enc); err != nil {
			return err
		}
		return s.insertDeliveries(ctx, tx, sw.Deliveries)
	})
}

// Revoke marks session id revoked at at for reason and returns it. A session
// already revoked is returned unchanged. ErrNotFound.
func (s *Store) Revoke(ctx context.Context, id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason) (*sessiond.Session, error) {
	var sess *sessiond.Session
	err := s.write(ctx, "revoke session", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = ?, revoke_reason = ?
			WHERE id = ? AND revoked_at IS NULL`, micro(at), string(reason), string(id)); err != nil {
			return err
		}
		var err error
		sess, err = scanSession(tx.QueryRowContext(ctx, getQuery, string(id)))
		return err
	})
	if err != nil {
		return nil, err
	}
	return sess, nil
}

// RevokeSubject revokes every session of subject live at at (not revoked,
// before both expiries) except the one with ID except, and returns what it
// revoked, oldest session first.
func (s *Store) RevokeSubject(ctx context.Context, subject string, except sessiond.SessionID, at time.Time, reason sessiond.RevokeReason) ([]sessiond.Revocation, error) {
	return s.revokeSubject(ctx, subject, except, at, reason, nil)
}

// revokeSubject is RevokeSubject that, when revoked is not nil and it
// revokes a session, stores revoked(revocations) in the same transaction.
func (s *Store) revokeSubject(ctx context.Context, subject string, except sessiond.SessionID, at time.Time, reason sessiond.RevokeReason,
	revoked func([]sessiond.Revocation) sessiond.ChangeRecords) ([]sessiond.Revocation, error) {
	type rev struct {
		r       sessiond.Revocation
		created int64
	}
	var revs []sessiond.Revocation
	err := s.write(ctx, "revoke subject", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE sessions SET revoked_at = ?, revoke_reason = ?
			WHERE subject = ? AND id != ? AND revoked_at IS NULL AND expires_at > ? AND idle_expires_at > ?
			RETURNING id, expires_at, created_at`,
			micro(at), string(reason), subject, string(except), micro(at), micro(at))
		if err != nil {
			return err
		}
		defer rows.Close()
		var out []rev
		for rows.Next() {
			var (
				id               string
				expires, created int64
			)
			if err := rows.Scan(&id, &expires, &created); err != nil {
				return err
			}
			out = append(out, rev{r: sessiond.Revocation{
				SessionID: sessiond.SessionID(id), Subject: subject, RevokedAt: fromMicro(micro(at)),
				ExpiresAt: fromMicro(expires), Reason: reason,
			}, created: created})
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if err := rows.Close(); err != nil {
			return err
		}
		slices.SortFunc(out, func(a, b rev) int {
			if c := cmp.Compare(a.created, b.created); c != 0 {
				return c
			}
			return cmp.Compare(a.r.SessionID, b.r.SessionID)
		})
		revs = make([]sessiond.Revocation, len(out))
		for i, r := range out {
			revs[i] = r.r
		}
		if len(revs) == 0 || revoked == nil {
			return nil
		}
		return s.insertRecords(ctx, tx, revoked(revs))
	})
	if err != nil {
		return nil, err
	}
	return revs, nil
}

// List returns subject's sessions live at now, oldest first; an empty,
// non-nil slice when there are none.
func (s *Store) List(ctx context.Context, subject string, now time.Time) ([]*sessiond.Session, error) {
	return s.querySessions(ctx, "list sessions", listQuery, subject, micro(now), micro(now))
}

// querySessions runs query, whose rows are whole sessions (scanSession),
// and returns them in its order: an empty, non-nil slice when there are
// none.
func (s *Store) querySessions(ctx context.Context, op, query string, args ...any) ([]*sessiond.Session, error) {
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, s.fail(op, err)
	}
	defer rows.Close()
	out := []*sessiond.Session{}
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, s.fail(op, err)
		}
		out = append(out, sess)
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(op, err)
	}
	return out, nil
}

// Revocations returns the sessions revoked at or after since whose absolute
// expiry is after since, in order of revocation.
func (s *Store) Revocations(ctx context.Context, since time.Time) ([]sessiond.Revocation, error) {
	const op = "list revocations"
	rows, err := s.db.QueryContext(ctx, `SELECT id, subject, revoked_at, expires_at, revoke_reason FROM sessions
		WHERE revoked_at >= ? AND expires_at > ? ORDER BY revoked_at, id`, micro(since), micro(since))
	if err != nil {
		return nil, s.fail(op, err)
	}
	defer rows.Close()
	out := []sessiond.Revocation{}
	for rows.Next() {
		var (
			id, subject, reason string
			revoked, expires    int64
		)
		if err := rows.Scan(&id, &subject, &revoked, &expires, &reason); err != nil {
			return nil, s.fail(op, err)
		}
		out = append(out, sessiond.Revocation{
			SessionID: sessiond.SessionID(id), Subject: subject, RevokedAt: fromMicro(revoked),
			ExpiresAt: fromMicro(expires), Reason: sessiond.RevokeReason(reason),
		})
	}
	if err := rows.Err(); err != nil {
		return nil, s.fail(op, err)
	}
	return out, nil
}

// DeleteExpired deletes up to limit sessions, with their tokens, whose
// absolute or idle expiry is before before, and returns how many it
// deleted. ErrInvalidArgument if limit is not positive.
//
// It deletes them gcTxRows at a time, each its own write transaction:
// every session deleted changes a page of each of its five indexes and its
// tokens' two, in places unrelated to one another, so on a large file a
// transaction of a thousand held the one writer about a second, and every
// login and refresh waited behind it.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	if err := sessiond.CheckLimit(limit); err != nil {
		return 0, wrap("delete expired sessions", err)
	}
	total := 0
	for total < limit {
		want := min(limit-total, gcTxRows)
		// Tokens go with their session (ON DELETE CASCADE).
		n, err := s.deleteLimited(ctx, "delete expired sessions", want, `DELETE FROM sessions WHERE id IN (
			SELECT id FROM sessions WHERE expires_at < ? OR idle_expires_at < ? LIMIT ?)`, micro(before), micro(before))
		total += n
		if s.onDeleteExpired != nil && err == nil {
			s.onDeleteExpired(n)
		}
		if err != nil || n < want {
			return total, err
		}
	}
	return total, nil
}

// gcTxRows bounds the sessions one of DeleteExpired's transactions deletes.
const gcTxRows = 100
