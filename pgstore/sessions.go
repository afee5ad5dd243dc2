package pgstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/sessiond/sessiond"
)

// execer is what inserting a session needs: the pool or a transaction.
type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// sessionScan is a session being read from a row, with the nullable
// revoked_at beside it, in one allocation.
type sessionScan struct {
	s       sessiond.Session
	revoked pgtype.Timestamptz
}

// dest returns the scan destinations for sessionCols.
func (sc *sessionScan) dest() []any {
	s := &sc.s
	return []any{
		(*string)(&s.ID), &s.Subject, (*string)(&s.Strategy),
		&s.CreatedAt, &s.LastActiveAt, &s.IdleExpiresAt, &s.ExpiresAt,
		&s.Persistent, &s.Client.IP, &s.Client.UserAgent, &s.Claims,
		&sc.revoked, (*string)(&s.RevokeReason),
	}
}

// session finishes the scan: every time in UTC.
func (sc *sessionScan) session() *sessiond.Session {
	s := &sc.s
	s.CreatedAt = s.CreatedAt.UTC()
	s.LastActiveAt = s.LastActiveAt.UTC()
	s.IdleExpiresAt = s.IdleExpiresAt.UTC()
	s.ExpiresAt = s.ExpiresAt.UTC()
	s.RevokedAt = utc(sc.revoked)
	return s
}

func scanSession(row pgx.Row) (*sessiond.Session, error) {
	sc := new(sessionScan)
	if err := row.Scan(sc.dest()...); err != nil {
		return nil, err
	}
	return sc.session(), nil
}

func utc(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

// nullTime stores the zero time as NULL.
func nullTime(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

// checkNew validates a session and its tokens for Create.
func checkNew(sess *sessiond.Session, tokens []sessiond.Token) error {
	if err := sessiond.CheckNewSession(sess, tokens); err != nil {
		return err
	}
	for _, f := range []struct{ field, v string }{
		{"id", string(sess.ID)}, {"subject", sess.Subject}, {"strategy", string(sess.Strategy)},
		{"client.ip", sess.Client.IP}, {"client.user_agent", sess.Client.UserAgent},
		{"revoke_reason", string(sess.RevokeReason)},
	} {
		if !validText(f.v) {
			return textError(f.field)
		}
	}
	return nil
}

// insert stores a checked session and its tokens in one statement.
func (s *Store) insert(ctx context.Context, db execer, sess *sessiond.Session, tokens []sessiond.Token) error {
	_, err := db.Exec(ctx, s.q.create, insertArgs(sess, tokens)...)
	return err
}

// insertArgs are the arguments of the create statement.
func insertArgs(sess *sessiond.Session, tokens []sessiond.Token) []any {
	hashes := make([][]byte, len(tokens))
	kinds := make([]int16, len(tokens))
	issued := make([]time.Time, len(tokens))
	expires := make([]time.Time, len(tokens))
	retired := make([]pgtype.Timestamptz, len(tokens))
	for i := range tokens {
		t := &tokens[i]
		hashes[i] = t.Hash[:]
		kinds[i] = int16(t.Kind)
		issued[i], expires[i], retired[i] = t.IssuedAt, t.ExpiresAt, nullTime(t.RetiredAt)
	}
	return []any{string(sess.ID), sess.Subject, string(sess.Strategy),
		sess.CreatedAt, sess.LastActiveAt, sess.IdleExpiresAt, sess.ExpiresAt,
		sess.Persistent, sess.Client.IP, sess.Client.UserAgent, []byte(sess.Claims),
		nullTime(sess.RevokedAt), string(sess.RevokeReason),
		hashes, kinds, issued, expires, retired}
}

// Create stores sess and its tokens in one statement, all or nothing (in a
// group commit with other writes waiting at that moment, groupcommit.go).
// ErrConflict if the session ID or a token hash exists (or repeats within
// tokens); ErrInvalidArgument if a token names another session or a text
// field holds NUL or invalid UTF-8.
func (s *Store) Create(ctx context.Context, sess *sessiond.Session, tokens ...sessiond.Token) error {
	if s.closed.Load() {
		return errClosed
	}
	if err := checkNew(sess, tokens); err != nil {
		return fmt.Errorf("pgstore: create session: %w", err)
	}
	args := insertArgs(sess, tokens)
	return s.translate("create session", s.insertGrouped(ctx, sess, &createRows{args: args}, func(b *pgx.Batch) {
		b.Queue(s.q.create, args...)
	}))
}

// insertGrouped sends the statements queue adds, which store the new
// session sess, in a group commit (groupcommit.go), or, in a group with
// other creates, rows in their one statement (createset.go). queue is
// called for each batch they join: a statement queued on one batch is
// bound to the connection that batch was sent on.
func (s *Store) insertGrouped(ctx context.Context, sess *sessiond.Session, rows *createRows, queue func(b *pgx.Batch)) error {
	return s.group(ctx, &groupWrite{
		key:    string(sess.ID),
		create: rows,
		queue:  queue,
		alone: func(ctx context.Context) error {
			b := &pgx.Batch{}
			queue(b)
			return s.pool.SendBatch(ctx, b).Close()
		},
	})
}

// Get returns session id, revoked and expired ones included, or
// ErrNotFound.
func (s *Store) Get(ctx context.Context, id sessiond.SessionID) (*sessiond.Session, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	if !validText(string(id)) {
		return nil, errGetNotFound // could never have been stored
	}
	sess, err := scanSession(s.pool.QueryRow(ctx, s.q.get, string(id)))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, errGetNotFound
	}
	if err != nil {
		return nil, s.translate("get session", err)
	}
	return sess, nil
}

// lookupScan is a Lookup result being read, in one allocation.
type lookupScan struct {
	sessionScan
	kind    int16
	issued  time.Time
	expires time.Time
	retired pgtype.Timestamptz
}

// dest returns the scan destinations for the lookup statement.
func (sc *lookupScan) dest() []any {
	sd := &sc.sessionScan.s
	return []any{
		&sc.kind, &sc.issued, &sc.expires, &sc.retired,
		(*string)(&sd.ID), &sd.Subject, (*string)(&sd.Strategy),
		&sd.CreatedAt, &sd.LastActiveAt, &sd.IdleExpiresAt, &sd.ExpiresAt,
		&sd.Persistent, &sd.Client.IP, &sd.Client.UserAgent, &sd.Claims,
		&sc.sessionScan.revoked, (*string)(&sd.RevokeReason),
	}
}

// result finishes the scan of the token with hash h.
func (sc *lookupScan) result(h sessiond.TokenHash) (sessiond.Token, *sessiond.Session) {
	sess := sc.session()
	return sessiond.Token{
		Hash:      h,
		Kind:      sessiond.TokenKind(sc.kind),
		SessionID: sess.ID,
		IssuedAt:  sc.issued.UTC(),
		ExpiresAt: sc.expires.UTC(),
		RetiredAt: utc(sc.retired),
	}, sess
}

// Lookup returns the token with hash h and its session in one statement
// (one round trip), or ErrNotFound. Under load it shares that statement
// with the other Lookups waiting at that moment (groupread.go).
func (s *Store) Lookup(ctx context.Context, h sessiond.TokenHash) (sessiond.Token, *sessiond.Session, error) {
	if s.closed.Load() {
		return sessiond.Token{}, nil, errClosed
	}
	tok, sess, err := s.lookupGrouped(ctx, h)
	if err != nil {
		return sessiond.Token{}, nil, s.translate("lookup token", err)
	}
	if sess == nil {
		return sessiond.Token{}, nil, errLookupNotFound
	}
	return tok, sess, nil
}

// Touch records activity on session id. ErrNotFound if the session does
// not exist, ErrRevoked if it is revoked (nothing changes).
func (s *Store) Touch(ctx context.Context, id sessiond.SessionID, lastActive, idleExpires time.Time) error {
	if s.closed.Load() {
		return errClosed
	}
	const op = "touch session"
	if !validText(string(id)) {
		return fmt.Errorf("pgstore: %s: %w", op, sessiond.ErrNotFound)
	}
	tag, err := s.pool.Exec(ctx, s.q.touch, string(id), lastActive, idleExpires)
	if err != nil {
		return s.translate(op, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	// Rare: revoked or absent. A second look, rather than a write to a
	// revoked row on every touch. The UPDATE waited for any revocation
	// holding the row, and this new statement sees it committed: a
	// session the UPDATE skipped as revoked is reported revoked.
	var exists bool
	if err := s.pool.QueryRow(ctx, s.q.touchExists, string(id)).Scan(&exists); err != nil {
		return s.translate(op, err)
	}
	if !exists {
		return fmt.Errorf("pgstore: %s: %w", op, sessiond.ErrNotFound)
	}
	return fmt.Errorf("pgstore: %s: %w", op, sessiond.ErrRevoked)
}

// SwapRefresh retires sw.Old and stores sw.Next in one statement, and
// writes the session's activity. ErrNotFound if Old is not a stored
// refresh token, ErrInvalidArgument if Next is not a refresh token of
// Old's session, ErrRevoked if that session is revoked (decided by the
// statement, under the session's lock), ErrRefreshReused if Old was
// retired outside the grace window (a GraceSince not before Now allows
// none), ErrConflict if Next's hash exists (the first that applies, in
// this order); in each case nothing changes. Of any
// number of concurrent swaps of one Old with zero grace, exactly one
// succeeds. Under load the swap shares its transaction with the other
// writes waiting at that moment (groupcommit.go).
func (s *Store) SwapRefresh(ctx context.Context, sw sessiond.RefreshSwap) error {
	const op = "swap refresh token"
	if err := s.begin(op, sw.Validate()); err != nil {
		return err
	}
	if !validText(string(sw.Next.SessionID)) {
		return wrap(op, textError("next.session_id"))
	}
	evArgs, err := eventArgs(sw.Events)
	if err != nil {
		return wrap(op, err)
	}
	dArgs, err := deliveryArgs(sw.Deliveries)
	if err != nil {
		return wrap(op, err)
	}
	var r swapResult
	rows := &swapRows{args: swapArgs(sw), ev: evArgs, dl: dArgs, r: &r}
	err = s.group(ctx, &groupWrite{
		key:   string(sw.Next.SessionID),
		lock:  string(sw.Next.SessionID),
		swap:  rows,
		queue: func(b *pgx.Batch) { s.queueSwap(b, rows, false) },
		alone: func(ctx context.Context) error {
			r = swapResult{}
			b := &pgx.Batch{}
			s.queueSwap(b, rows, true)
			return s.pool.SendBatch(ctx, b).Close()
		},
	})
	switch {
	case err != nil:
		return s.translate(op, err)
	case !r.found:
		return fmt.Errorf("pgstore: %s: %w", op, sessiond.ErrNotFound)
	case r.swapped:
		return nil
	case r.kind != int16(sessiond.KindRefresh):
		return fmt.Errorf("pgstore: %s: %w", op, sessiond.ErrNotFound)
	case r.session != string(sw.Next.SessionID):
		return wrap(op, sw.CheckSession(sessiond.SessionID(r.session)))
	case r.revoked:
		return fmt.Errorf("pgstore: %s: %w", op, sessiond.ErrRevoked)
	}
	return fmt.Errorf("pgstore: %s: %w", op, sessiond.ErrRefreshReused)
}

// swapResult is what the swap statement reports: the old token's kind and
// session (found: it exists), whether that session is revoked and whether
// the successor was stored.
type swapResult struct {
	kind                    int16
	session                 string
	found, revoked, swapped bool
}

// queueSwap queues the swap w on b, with its events and deliveries: one
// implicit transaction when b is sent alone. With lock it locks the
// session first (swapLock); without, the caller has (a group commit locks
// the sessions of all its swaps first). The swap's callback records its
// row in w.r.
func (s *Store) queueSwap(b *pgx.Batch, w *swapRows, lock bool) {
	if lock {
		b.Queue(s.q.swapLock, w.args[2]) // the session ID, $3
	}
	// The change's event and webhook deliveries are written by the swap
	// statement itself, only if it stores the successor.
	args := append(append(w.args[:len(w.args):len(w.args)], w.ev...), w.dl...)
	r := w.r
	b.Queue(s.q.swapRec[withRecords(w.ev != nil, w.dl != nil)], args...).QueryRow(func(row pgx.Row) error {
		err := row.Scan(&r.kind, &r.session, &r.revoked, &r.swapped)
		if errors.Is(err, pgx.ErrNoRows) {
			return nil // not found
		}
		r.found = err == nil
		return err
	})
}

// Revoke marks session id revoked at at for reason, notifies every
// listening node in the same transaction, and returns the session. A
// session already revoked is returned unchanged (and nothing is sent).
// ErrNotFound.
func (s *Store) Revoke(ctx context.Context, id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason) (*sessiond.Session, error) {
	sess, _, err := s.RevokeRecorded(ctx, id, at, reason, nil)
	return sess, err
}

func revocationOf(s *sessiond.Session) sessiond.Revocation {
	return sessiond.Revocation{
		SessionID: s.ID, Subject: s.Subject, RevokedAt: s.RevokedAt, ExpiresAt: s.ExpiresAt, Reason: s.RevokeReason,
	}
}

// revocationRow is one row of revocationCols.
type revocationRow struct {
	r       sessiond.Revocation
	created time.Time
}

func scanRevocations(rows pgx.Rows) ([]revocationRow, error) {
	out := []revocationRow{}
	for rows.Next() {
		var (
			rr      revocationRow
			revoked pgtype.Timestamptz
		)
		if err := rows.Scan((*string)(&rr.r.SessionID), &rr.r.Subject, &revoked, &rr.r.ExpiresAt,
			(*string)(&rr.r.Reason), &rr.created); err != nil {
			rows.Close()
			return nil, err
		}
		rr.r.RevokedAt = utc(revoked)
		rr.r.ExpiresAt = rr.r.ExpiresAt.UTC()
		rr.created = rr.created.UTC()
		out = append(out, rr)
	}
	return out, rows.Err()
}

func revocations(rows []revocationRow) []sessiond.Revocation {
	out := make([]sessiond.Revocation, len(rows))
	for i := range rows {
		out[i] = rows[i].r
	}
	return out
}

// RevokeSubject revokes every session of subject live at at (not revoked,
// before both expiries) except the one with ID except (none if empty),
// notifies every listening node in the same transaction, and returns what
// it revoked, oldest session first.
func (s *Store) RevokeSubject(ctx context.Context, subject string, except sessiond.SessionID, at time.Time, reason sessiond.RevokeReason) ([]sessiond.Revocation, error) {
	return s.revokeSubject(ctx, subject, except, at, reason, nil)
}

// revokeSubject is RevokeSubject that, when revoked is not nil and it
// revokes a session, stores revoked(revocations) in the same transaction.
func (s *Store) revokeSubject(ctx context.Context, subject string, except sessiond.SessionID, at time.Time, reason sessiond.RevokeReason,
	revoked func([]sessiond.Revocation) sessiond.ChangeRecords) ([]sessiond.Revocation, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	const op = "revoke subject"
	if !validText(string(reason)) {
		return nil, wrap(op, textError("reason"))
	}
	if !validText(subject) {
		return []sessiond.Revocation{}, nil // no session can have it
	}
	if !validText(string(except)) {
		except = "" // no session can have it either
	}
	var (
		revs []sessiond.Revocation
		bad  error // a record the store refuses
	)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		r, err := tx.Query(ctx, s.q.revokeSubject, subject, string(except), at, string(reason))
		if err != nil {
			return err
		}
		rows, err := scanRevocations(r)
		if err != nil {
			return err
		}
		slices.SortFunc(rows, func(a, b revocationRow) int {
			if c := a.created.Compare(b.created); c != 0 {
				return c
			}
			return cmp.Compare(a.r.SessionID, b.r.SessionID)
		})
		revs = revocations(rows)
		var rec sessiond.ChangeRecords
		if len(revs) > 0 && revoked != nil {
			rec = revoked(revs)
		}
		return s.notifyRecords(ctx, tx, revs, rec, &bad)
	})
	if bad != nil {
		return nil, wrap(op, bad)
	}
	if err != nil {
		return nil, s.translate(op, err)
	}
	return revs, nil
}

// List returns subject's sessions live at now, oldest first; an empty,
// non-nil slice when there are none.
func (s *Store) List(ctx context.Context, subject string, now time.Time) ([]*sessiond.Session, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	out := []*sessiond.Session{}
	if !validText(subject) {
		return out, nil
	}
	rows, err := s.pool.Query(ctx, s.q.list, subject, now)
	if err != nil {
		return nil, s.translate("list sessions", err)
	}
	defer rows.Close()
	for rows.Next() {
		sess, err := scanSession(rows)
		if err != nil {
			return nil, s.translate("list sessions", err)
		}
		out = append(out, sess)
	}
	if err := rows.Err(); err != nil {
		return nil, s.translate("list sessions", err)
	}
	return out, nil
}

// Revocations returns the sessions revoked at or after since whose
// absolute expiry is after since, in order of revocation.
//
// Without a RevokeMatching call at or after since it reads the sessions
// revocation_log names; with one, the whole table. Both statements run in
// one snapshot, so a bulk revocation committing between them cannot be
// half seen. (One statement with both branches was planned as a parallel
// scan whose workers started, 0.1–0.15 s here, even when its branch was
// off.)
func (s *Store) Revocations(ctx context.Context, since time.Time) ([]sessiond.Revocation, error) {
	if s.closed.Load() {
		return nil, errClosed
	}
	var rr []revocationRow
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var bulk bool
		if err := tx.QueryRow(ctx, s.q.bulkSince, since).Scan(&bulk); err != nil {
			return err
		}
		query := s.q.revocationsLogged
		if bulk {
			query = s.q.revocations
		}
		rows, err := tx.Query(ctx, query, since)
		if err != nil {
			return err
		}
		rr, err = scanRevocations(rows)
		return err
	})
	if err != nil {
		return nil, s.translate("list revocations", err)
	}
	return revocations(rr), nil
}

// DeleteExpired deletes up to limit sessions, with their tokens, whose
// absolute or idle expiry is before before, and returns how many. Rows
// locked by other statements are skipped, for the next call;
// ErrInvalidArgument if limit is not positive.
//
// It runs rounds of one short statement each (deleteExpired), each
// locking at most limit rows: a round also moves the gc_at of the live
// sessions it finds (refreshed since gc_at was set, or stored by a node
// of an older version), so one call may take several rounds to delete
// what is due. It stops when a round finds fewer due sessions than it
// asked for, or when it has deleted limit.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	const op = "delete expired sessions"
	if err := s.begin(op, sessiond.CheckLimit(limit)); err != nil {
		return 0, err
	}
	deleted := 0
	for deleted < limit {
		size := limit - deleted
		var due, gone int
		if err := s.pool.QueryRow(ctx, s.q.deleteExpired, before, size).Scan(&due, &gone); err != nil {
			return deleted, s.translate(op, err)
		}
		deleted += gone
		if due < size {
			break
		}
	}
	return deleted, nil
}
