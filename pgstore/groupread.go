package pgstore

import (
	"bytes"
	"context"
	"errors"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/groupcommit"
)

// Grouped reads. Every refresh (and a database-strategy verify) starts
// with a Lookup, and on a small machine PostgreSQL spends more of a
// one-row read on its round trip and executor start-up than on the two
// primary-key probes. So the Lookups that queue while lookupSlots are busy
// go out as one statement (hash = ANY of their hashes): one round trip and
// one execution for the lot. A Lookup waiting alone runs at once, as
// before. A read takes no lock and changes nothing, so grouping changes no
// outcome: each caller gets its row as of a snapshot taken after it
// called.

// lookupSlots bounds the grouped reads in flight at once (fewer with
// fewer write groups: see newReadQueue); maxLookups the hashes of one.
const (
	lookupSlots = 2
	maxLookups  = 128
)

// lookupRead is one Lookup waiting for a grouped read.
type lookupRead struct {
	ctx  context.Context
	h    sessiond.TokenHash
	done chan error // the outcome, sent once
	tok  sessiond.Token
	sess *sessiond.Session // nil: not found
	groupcommit.Write
}

// readQueue is the Lookups waiting for a leader, and the slots.
type readQueue struct {
	groupcommit.Queue[*lookupRead]
	slots chan struct{}
}

// newReadQueue returns the queue of a pool of maxConns connections whose
// writes go out in at most groups groups at once: as many grouped reads,
// up to lookupSlots, so that the setting that sizes PostgreSQL's share of
// the work for writes (Options.WriteGroups) sizes it for reads too.
func newReadQueue(maxConns int32, groups int) *readQueue {
	return &readQueue{slots: make(chan struct{}, min(lookupSlots, groups, max(1, int(maxConns)/4)))}
}

// lookupGrouped runs the Lookup of h alone or in a group and returns its
// result: a nil session when there is no such token.
func (s *Store) lookupGrouped(ctx context.Context, h sessiond.TokenHash) (sessiond.Token, *sessiond.Session, error) {
	if err := ctx.Err(); err != nil {
		return sessiond.Token{}, nil, err
	}
	r := &lookupRead{ctx: ctx, h: h, done: make(chan error, 1)}
	q := s.reads
	_, err := q.Run(ctx, r, r.done, q.slots, maxLookups, func(rs []*lookupRead) { s.runLookups(ctx, rs) })
	return r.tok, r.sess, err
}

// runLookups reads the tokens of rs, in one statement when there are
// several, and sends each its outcome.
func (s *Store) runLookups(ctx context.Context, rs []*lookupRead) {
	switch len(rs) {
	case 0:
		return
	case 1:
		r := rs[0]
		var err error
		r.tok, r.sess, err = s.lookupOne(r.ctx, r.h)
		r.done <- err
		return
	}
	// As in runGroup: the read outlives the leader's ctx (others wait on
	// it) but not the store, nor the last of its callers' deadlines.
	deadlines := make([]context.Context, len(rs))
	for i, r := range rs {
		deadlines[i] = r.ctx
	}
	gctx, stop := groupContext(ctx, s.bg, deadlines)
	defer stop()
	hashes := make([][]byte, len(rs))
	for i, r := range rs {
		hashes[i] = r.h[:]
	}
	err := s.lookupMany(gctx, hashes, func(h []byte, tok sessiond.Token, sess *sessiond.Session) {
		first := true
		for _, r := range rs {
			if r.sess != nil || !bytes.Equal(r.h[:], h) {
				continue
			}
			r.tok, r.sess = tok, sess
			if !first { // the same hash twice: each caller its own copy
				c := *sess
				c.Claims = bytes.Clone(sess.Claims)
				r.sess = &c
			}
			first = false
		}
	})
	if err == nil {
		s.groupedReads.Add(int64(len(rs)))
	}
	for _, r := range rs {
		if err != nil {
			r.tok, r.sess = sessiond.Token{}, nil
		}
		r.done <- err
	}
}

// lookupOne reads the token with hash h and its session: a nil session
// when there is none.
func (s *Store) lookupOne(ctx context.Context, h sessiond.TokenHash) (sessiond.Token, *sessiond.Session, error) {
	sc := new(lookupScan)
	err := s.pool.QueryRow(ctx, s.q.lookup, h[:]).Scan(sc.dest()...)
	if errors.Is(err, pgx.ErrNoRows) {
		return sessiond.Token{}, nil, nil
	}
	if err != nil {
		return sessiond.Token{}, nil, err
	}
	tok, sess := sc.result(h)
	return tok, sess, nil
}

// lookupMany reads the tokens with the given hashes and their sessions in
// one statement, calling found for each one that exists.
func (s *Store) lookupMany(ctx context.Context, hashes [][]byte, found func(h []byte, tok sessiond.Token, sess *sessiond.Session)) error {
	rows, err := s.pool.Query(ctx, s.q.lookupMany, hashes)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var h []byte
		sc := new(lookupScan)
		if err := rows.Scan(append([]any{&h}, sc.dest()...)...); err != nil {
			return err
		}
		var th sessiond.TokenHash
		if len(h) != len(th) {
			continue // not a hash Lookup can be asked for
		}
		copy(th[:], h)
		tok, sess := sc.result(th)
		found(h, tok, sess)
	}
	return rows.Err()
}
