package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sessiond/sessiond"
)

var _ sessiond.BulkRevoker = (*Store)(nil)

// RevokeMatching revokes every session live at at that f selects, with
// reason, in one UPDATE; see sessiond.BulkRevoker. It returns how many it
// revoked and their distinct subjects, sorted. Subjects are bound as one
// JSON array, so any number of them fits one statement. ErrInvalidArgument
// if f sets nothing.
func (s *Store) RevokeMatching(ctx context.Context, f sessiond.RevokeFilter, at time.Time, reason sessiond.RevokeReason) (int, []string, error) {
	const op = "revoke matching"
	if err := f.Validate(); err != nil {
		return 0, nil, wrap(op, err)
	}
	now := micro(at)
	// The unary + keeps the planner off the expiry indexes: a walk in
	// expiry order fetches rows at random, where a scan reads them in
	// order. Subjects go through the subject index.
	query := `UPDATE sessions SET revoked_at = ?, revoke_reason = ?
		WHERE +revoked_at IS NULL AND +expires_at > ? AND +idle_expires_at > ?`
	args := []any{now, string(reason), now, now}
	if len(f.Subjects) > 0 {
		// JSON carries the subjects in one parameter, but json.Marshal
		// turns invalid UTF-8 into U+FFFD, which is another subject: those
		// (which the Manager refuses, a direct caller may not) are bound
		// one parameter each, byte for byte.
		var valid []string
		var odd []any
		for _, sub := range f.Subjects {
			if utf8.ValidString(sub) {
				valid = append(valid, sub)
			} else {
				odd = append(odd, sub)
			}
		}
		subjects, err := json.Marshal(valid)
		if err != nil {
			return 0, nil, fmt.Errorf("sqlitestore: %s: %w", op, err)
		}
		cond := `subject IN (SELECT value FROM json_each(?))`
		args = append(args, string(subjects))
		if len(odd) > 0 {
			cond = `(` + cond + ` OR subject IN (?` + strings.Repeat(`, ?`, len(odd)-1) + `))`
			args = append(args, odd...)
		}
		query += ` AND ` + cond
	}
	if !f.IssuedBefore.IsZero() {
		query += ` AND created_at < ?`
		args = append(args, micro(f.IssuedBefore))
	}
	query += ` RETURNING subject`

	var n int
	var subjects []string
	err := s.write(ctx, op, func(tx *sql.Tx) error {
		n, subjects = 0, nil
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		seen := make(map[string]struct{})
		var subject sql.RawBytes // a string only for each new subject
		for rows.Next() {
			if err := rows.Scan(&subject); err != nil {
				return err
			}
			n++
			if _, ok := seen[string(subject)]; !ok {
				seen[string(subject)] = struct{}{}
				subjects = append(subjects, string(subject))
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		return rows.Close()
	})
	if err != nil {
		return 0, nil, err
	}
	slices.Sort(subjects)
	return n, subjects, nil
}
