package redisstore

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

const (
	// gcBatch bounds the candidates of one round.
	gcBatch = 1000
	// gcIdleRounds bounds the work of one DeleteExpired call when the GC
	// index holds entries that are not deletions (sessions Redis already
	// expired, or whose idle expiry moved later): it stops after that many
	// rounds that deleted nothing.
	gcIdleRounds = 4
	// gcParallel bounds the subject scripts in flight at once.
	gcParallel = 16
)

// DeleteExpired deletes up to limit sessions, with their tokens and index
// entries, whose absolute or idle expiry is before before, and returns how
// many it deleted. ErrInvalidArgument if limit is not positive.
//
// Redis expires every session key by itself at the session's absolute
// expiry (the session hash a linger later); DeleteExpired deletes sessions
// at their idle expiry (or at an absolute expiry on the caller's clock) and drops index entries whose
// session Redis already expired. Those drops do not count towards limit
// or the result.
func (s *Store) DeleteExpired(ctx context.Context, before time.Time, limit int) (int, error) {
	const op = "delete expired sessions"
	if err := ctxErr(ctx, op, sessiond.CheckLimit(limit)); err != nil {
		return 0, err
	}
	deleted, idle := 0, 0
	for deleted < limit && idle < gcIdleRounds {
		// Each candidate is deleted at most once, so fetching no more than
		// the remaining budget keeps the total within limit.
		members, err := s.client.Do(ctx, s.client.B().Zrange().Key(s.gcKey).
			Min("-inf").Max("("+encTime(before)).Byscore().Limit(0, int64(min(limit-deleted, gcBatch))).Build()).AsStrSlice()
		if err != nil {
			return deleted, s.fail(op, err)
		}
		if len(members) == 0 {
			break
		}
		n, err := s.collect(ctx, before, members)
		deleted += n
		if err != nil {
			return deleted, s.fail(op, err)
		}
		if n == 0 {
			idle++
		}
	}
	return deleted, nil
}

// gcGroup is the GC candidates of one subject tag.
type gcGroup struct {
	tag   string
	ids   []sessiond.SessionID
	reply []rueidis.RedisMessage
	err   error
}

// collect runs the GC script for each subject among members (GC index
// entries), then fixes the global indexes, and returns how many sessions
// it deleted.
func (s *Store) collect(ctx context.Context, before time.Time, members []string) (int, error) {
	var groups []*gcGroup
	byTag := make(map[string]*gcGroup)
	var malformed []string
	for _, m := range members {
		tag, id, ok := parseRef(m)
		if !ok {
			malformed = append(malformed, m)
			continue
		}
		g := byTag[tag]
		if g == nil {
			g = &gcGroup{tag: tag}
			byTag[tag] = g
			groups = append(groups, g)
		}
		g.ids = append(g.ids, id)
	}

	// One script per subject slot, several in flight (rueidis pipelines
	// them on the shared connections).
	work := make(chan *gcGroup)
	var wg sync.WaitGroup
	beforeArg := encTime(before)
	for range min(gcParallel, len(groups)) {
		wg.Go(func() {
			for g := range work {
				s.collectGroup(ctx, beforeArg, g)
			}
		})
	}
	for _, g := range groups {
		work <- g
	}
	close(work)
	wg.Wait()

	// The sessions are gone; what remains is global bookkeeping, done with
	// a context that outlives the caller's. Stale index keys left by a
	// failure expire with their session and point at nothing meanwhile.
	dctx, cancel := detached(ctx)
	defer cancel()
	b := s.client.B()
	drop := malformed // leave the GC and revocation indexes
	var cmds rueidis.Commands
	var moves []string // score, member, ...: gcMoveScript's
	deleted := 0
	var firstErr error
	for _, g := range groups {
		if g.err != nil {
			if firstErr == nil {
				firstErr = g.err
			}
			continue
		}
		for i, id := range g.ids {
			if 2*i+1 >= len(g.reply) {
				break
			}
			what, _ := field(&g.reply[2*i])
			val, _ := field(&g.reply[2*i+1])
			r := ref(g.tag, id)
			switch what {
			case "d":
				deleted++
				drop = append(drop, r)
				key := s.sessKey(g.tag, id)
				s.wrote(key)
				s.routes.forget(s.sidKey(id))
				cmds = append(cmds, b.Del().Key(s.sidKey(id)).Build())
				for h := range strings.SplitSeq(val, ",") {
					if h != "" {
						s.routes.forget(s.tokKey(h))
						cmds = append(cmds, b.Del().Key(s.tokKey(h)).Build())
					}
				}
			case "g":
				drop = append(drop, r)
			case "a": // not expired: move its GC entry to its real earliest expiry
				moves = append(moves, val, r)
			}
		}
	}
	if len(cmds) > 0 {
		for _, r := range s.client.DoMulti(dctx, cmds...) {
			if err := r.Error(); err != nil && firstErr == nil {
				firstErr = err
			}
		}
	}
	for chunk := range slices.Chunk(moves, 2*dropBatch) {
		if err := gcMoveScript.Exec(dctx, s.client, []string{s.gcKey}, chunk).Error(); err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if err := s.drop(dctx, drop); err != nil && firstErr == nil {
		firstErr = err
	}
	return deleted, firstErr
}

// dropBatch bounds the members of one drop script (Lua's unpack).
const dropBatch = 1000

// drop removes sessions (by ref) from the global indexes, the live
// indexes included.
func (s *Store) drop(ctx context.Context, refs []string) error {
	keys := []string{s.gcKey, s.expKey, s.revKey, s.stratKey}
	for chunk := range slices.Chunk(refs, dropBatch) {
		args := make([]string, 0, 1+len(chunk))
		args = append(append(args, s.liveBase), chunk...)
		if err := dropScript.Exec(ctx, s.client, keys, args).Error(); err != nil {
			return err
		}
	}
	return nil
}

// collectGroup runs the GC script for the candidates of one subject.
func (s *Store) collectGroup(ctx context.Context, before string, g *gcGroup) {
	keys := make([]string, 0, 1+len(g.ids))
	args := make([]string, 0, 1+len(g.ids))
	keys = append(keys, s.idxKey(g.tag))
	args = append(args, before)
	for _, id := range g.ids {
		keys = append(keys, s.sessKey(g.tag, id))
		args = append(args, string(id))
	}
	g.reply, g.err = gcScript.Exec(ctx, s.client, keys, args).ToArray()
}
