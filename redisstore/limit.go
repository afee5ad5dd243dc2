package redisstore

import (
	"context"

	"github.com/sessiond/sessiond"
)

var _ sessiond.Limiter = (*Store)(nil)

// limitRead is how many members of the subject index a limited login reads
// before it may stop, once it has found enough live sessions to evict a
// full batch (sessiond.LimitRead): a subject far over its limit (a lowered
// limit) does not make every one of its logins read all of its sessions.
// The read goes in chunks of limitChunk.
const (
	limitRead  = 1024
	limitChunk = 512
)

// CreateLimited stores s and its tokens like Create, after making room as
// sessiond.Limiter describes: one script counts the subject's live
// sessions at s.CreatedAt, evicts the least recently active ones (reason
// limit) or refuses with ErrLimitReached, and stores s, so concurrent
// logins cannot overshoot max. ErrInvalidArgument if max < 1.
func (s *Store) CreateLimited(ctx context.Context, sess *sessiond.Session, max int, evict bool, tokens ...sessiond.Token) ([]sessiond.Revocation, error) {
	const op = "create limited session"
	if err := sessiond.CheckMax(max); err != nil {
		return nil, wrap(op, err)
	}
	return s.create(ctx, op, sess, max, evict, tokens, nil)
}
