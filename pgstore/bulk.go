package pgstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/sessiond/sessiond"
)

var _ sessiond.BulkRevoker = (*Store)(nil)

// defaultRevokeBatch is how many sessions one statement of RevokeMatching
// revokes (docs/pgstore.md, "Incident revocation").
const defaultRevokeBatch = 50_000

// maxBatchRetries: a batch of RevokeMatching that loses a deadlock against
// a concurrent revocation is run again this many times.
const maxBatchRetries = 3

// RevokeMatching revokes every session live at at (not revoked, before
// both expiries) that f selects, with reason, and returns how many and
// their distinct subjects, sorted; see sessiond.BulkRevoker. Subjects are
// matched with subject = ANY($n), one array parameter however many there
// are; IssuedBefore is created_at strictly before it. ErrInvalidArgument
// if f sets nothing.
//
// It works in batches of up to 50,000 sessions, each one statement and its
// own transaction, until a batch comes back short, so no transaction holds
// more rows or WAL than that whatever the incident's size. It sends no
// notification per session: the Manager carries an incident revocation to
// every node through the watermark document it writes first, so the
// batches are the durable record, not the signal. If a call fails midway
// (the context ends, the server goes away), the batches already committed
// stay revoked and the error says how many; running it again finishes the
// job, since revoked sessions are not selected twice. A batch that loses a
// deadlock against a concurrent revocation is retried.
func (s *Store) RevokeMatching(ctx context.Context, f sessiond.RevokeFilter, at time.Time, reason sessiond.RevokeReason) (int, []string, error) {
	const op = "revoke matching"
	if err := s.begin(op, f.Validate()); err != nil {
		return 0, nil, err
	}
	if !validText(string(reason)) {
		return 0, nil, wrap(op, textError("reason"))
	}
	args := []any{at, string(reason)}
	if len(f.Subjects) > 0 {
		// A subject PostgreSQL cannot store has no session.
		subjects := slices.DeleteFunc(slices.Clone(f.Subjects), func(s string) bool { return !validText(s) })
		if len(subjects) == 0 {
			return 0, []string{}, nil
		}
		slices.Sort(subjects)
		args = append(args, slices.Compact(subjects))
	}
	if !f.IssuedBefore.IsZero() {
		args = append(args, f.IssuedBefore)
	}
	batch := s.revokeBatch
	if batch <= 0 {
		batch = defaultRevokeBatch
	}
	query := s.q.revokeMatchingSQL(len(f.Subjects) > 0, !f.IssuedBefore.IsZero(), batch)

	total := 0
	seen := make(map[string]struct{})
	for retries := 0; ; {
		n, err := s.revokeBatchOnce(ctx, query, args, seen)
		if err != nil {
			err = s.translate(op, err)
			if errors.Is(err, sessiond.ErrConflict) && retries < maxBatchRetries && ctx.Err() == nil {
				retries++
				continue
			}
			if total > 0 {
				err = fmt.Errorf("%w (%d sessions revoked before the failure stay revoked; run it again to finish)", err, total)
			}
			return 0, nil, err
		}
		total += n
		if n < batch {
			break
		}
	}
	subjects := make([]string, 0, len(seen))
	for subject := range seen {
		subjects = append(subjects, subject)
	}
	slices.Sort(subjects)
	return total, subjects, nil
}

// revokeBatchOnce runs one batch of RevokeMatching, adds the subjects it
// revoked to seen, and returns how many sessions it revoked.
func (s *Store) revokeBatchOnce(ctx context.Context, query string, args []any, seen map[string]struct{}) (int, error) {
	rows, err := s.pool.Query(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var (
			subject string
			count   int64
		)
		if err := rows.Scan(&subject, &count); err != nil {
			return 0, err
		}
		n += int(count)
		seen[subject] = struct{}{}
	}
	return n, rows.Err()
}
