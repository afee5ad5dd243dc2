package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

// Redis replicates asynchronously: a write its master acknowledged and
// had not yet sent to a replica is gone when that replica takes over. For
// a login or a refresh that costs the session or the refresh; for a
// revocation it brings a revoked session back to life, and for a one-time
// key (RememberOnceAcked) it lets the key be used again. So every script
// that revokes, and every such key, is followed, on the same connection,
// by WAIT: the call returns once Options.RevocationReplicas replicas have
// the write, or RevocationWait has passed.

// defaultRevocationWait is Options.RevocationWait's default.
const defaultRevocationWait = time.Second

// revocationReplicas resolves Options.RevocationReplicas: negative is
// none; zero is one when a master (any master of a Cluster) reports a
// connected replica now, else none. A server that refuses INFO (a managed
// service may) gets one: waiting in vain costs RevocationWait and a
// warning per revocation, which tells the operator to set it; not waiting
// would lose revocations in silence.
func (s *Store) revocationReplicas(ctx context.Context, want int) (int64, error) {
	switch {
	case want < 0:
		return 0, nil
	case want > 0:
		return int64(want), nil
	}
	for _, node := range s.client.Nodes() {
		info, err := node.Do(ctx, node.B().Info().Section("replication").Build()).ToString()
		if _, refused := rueidis.IsRedisErr(err); refused {
			s.log.Warn("redisstore: INFO replication refused; revocations wait for one replica (set store.revocation_replicas to 0 if Redis has none)",
				"err", err.Error())
			return 1, nil
		}
		if err != nil {
			return 0, s.fail("read INFO replication", err)
		}
		if infoField(info, "role") == "master" {
			if n, _ := strconv.Atoi(infoField(info, "connected_slaves")); n > 0 {
				return 1, nil
			}
		}
	}
	return 0, nil
}

// infoField is the value of name in an INFO answer, "" without it.
func infoField(info, name string) string {
	for line := range strings.Lines(info) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// RevocationReplicas is how many replicas a revocation waits for (0:
// none), as New resolved Options.RevocationReplicas.
func (s *Store) RevocationReplicas() int { return int(s.ackReplicas) }

// UnackedRevocations counts the revocations (script calls, writes of the
// documents RevokingMeta names, PutRevokingMeta, the one-time keys
// RememberOnceAcked records) whose wait for replicas timed out or failed
// since New.
func (s *Store) UnackedRevocations() uint64 { return s.unacked.Load() }

// execAcked runs sc once per exec, pipelined, and, when revocations wait
// for replicas, WAIT after them on the same connection (each exec is in
// one slot; on a Cluster a WAIT follows the execs of each slot, on that
// slot's node). What the scripts answer is returned whatever WAIT says:
// a revocation that timed out waiting holds on the master, so it is not
// an error; it is logged and counted (waitFailed).
func (s *Store) execAcked(ctx context.Context, op string, sc pairedScript, execs ...rueidis.LuaExec) []rueidis.RedisResult {
	return s.execAckedUnless(ctx, op, nil, sc, execs...)
}

// execAckedUnless is execAcked that does not wait once gaveUp (if not
// nil) is set, and sets it when a wait falls short: a bulk revocation
// of many scripts would otherwise wait RevocationWait for each while its
// replicas are down.
func (s *Store) execAckedUnless(ctx context.Context, op string, gaveUp *atomic.Bool, sc pairedScript, execs ...rueidis.LuaExec) []rueidis.RedisResult {
	if s.ackReplicas == 0 || gaveUp != nil && gaveUp.Load() {
		if len(execs) == 1 {
			return []rueidis.RedisResult{sc.Exec(ctx, s.client, execs[0].Keys, execs[0].Args)}
		}
		return sc.ExecMulti(ctx, s.client, execs...)
	}
	// EVAL with the source, not EVALSHA: a script a node has not loaded
	// (NOSCRIPT) would need a second round, and a second WAIT, which
	// doubled the time a revocation took while its replica was down.
	// Redis finds the compiled script by the source's SHA-1; revocations
	// are rare enough for the bytes.
	return s.doAcked(ctx, op, gaveUp, execs, func(e rueidis.LuaExec) rueidis.Completed {
		return s.client.B().Eval().Script(sc.src).Numkeys(int64(len(e.Keys))).Key(e.Keys...).Arg(e.Args...).Build()
	})
}

// doAcked sends build(exec) for each exec and the WAITs after them in
// one DoMulti, and returns the execs' results. rueidis sends a DoMulti
// that holds a blocking command (WAIT) on one connection of each node, in
// order: each WAIT counts the replicas that have every write that
// connection made, the scripts' included.
func (s *Store) doAcked(ctx context.Context, op string, gaveUp *atomic.Bool, execs []rueidis.LuaExec, build func(rueidis.LuaExec) rueidis.Completed) []rueidis.RedisResult {
	timeout := s.ackWait
	if dl, ok := ctx.Deadline(); ok {
		// WAIT answers before the caller's deadline, which would
		// otherwise cut off the scripts' answers with it.
		timeout = min(timeout, time.Until(dl)/2)
	}
	ms := max(timeout.Milliseconds(), 1)
	cmds := make(rueidis.Commands, 0, len(execs)+1)
	for _, e := range execs {
		cmds = append(cmds, build(e))
	}
	if s.crossSlot {
		cmds = append(cmds, s.client.B().Wait().Numreplicas(s.ackReplicas).Timeout(ms).Build())
	} else {
		seen := map[uint16]bool{}
		for i, e := range execs {
			if slot := cmds[i].Slot(); !seen[slot] {
				seen[slot] = true
				cmds = append(cmds, s.client.B().Wait().Numreplicas(s.ackReplicas).Timeout(ms).Build().SetSlot(e.Keys[0]))
			}
		}
	}
	// Once sent, the scripts revoke whatever the caller does; its
	// cancellation must not discard their answers while WAIT blocks (the
	// caller would see an error, and on a Cluster the revocation would go
	// unrecorded). The wait is the store's, bounded by timeout and by the
	// caller's deadline; a context that has already ended sends nothing.
	if ctx.Err() == nil {
		var cancel context.CancelFunc
		ctx, cancel = waitContext(ctx, timeout)
		defer cancel()
	}
	res := s.client.DoMulti(ctx, cmds...)
	acked, failed := int64(-1), error(nil)
	for _, r := range res[len(execs):] {
		n, err := r.AsInt64()
		switch {
		case err != nil:
			failed = err
		case acked < 0 || n < acked:
			acked = n
		}
	}
	for _, r := range res[:len(execs)] {
		if r.Error() != nil {
			// The scripts' own failure is the caller's to report; WAIT
			// may have failed with them.
			return res[:len(execs)]
		}
	}
	if failed != nil || acked < s.ackReplicas {
		s.waitFailed(op, acked, failed)
		if gaveUp != nil {
			gaveUp.Store(true)
		}
	}
	return res[:len(execs)]
}

// waitContext is ctx without its cancellation, with its deadline (if any)
// and at most wait plus detached's bound, so a dead server cannot hold
// the call forever.
func waitContext(ctx context.Context, wait time.Duration) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), wait+5*time.Second)
	if dl, ok := ctx.Deadline(); ok {
		dctx, dcancel := context.WithDeadline(wctx, dl)
		return dctx, func() { dcancel(); cancel() }
	}
	return wctx, cancel
}

// errWaitTimeout is what waitFailed reports when WAIT answered in time
// with fewer replicas than wanted.
var errWaitTimeout = errors.New("timed out")

// waitFailed logs and counts a revocation that no replica (or too few)
// acknowledged in time: it holds on the master, but a failover now would
// undo it.
func (s *Store) waitFailed(op string, acked int64, err error) {
	if err == nil {
		err = errWaitTimeout
	}
	s.unacked.Add(1)
	s.log.Warn("redisstore: a revocation is not on enough replicas yet: a failover before they catch up would undo it (docs/operations.md)",
		"op", op, "replicas", max(acked, 0), "want", s.ackReplicas, "wait", s.ackWait.String(), "err", err.Error())
}

// checkRevocationWait checks Options.RevocationWait.
func checkRevocationWait(d time.Duration) error {
	if d < 0 {
		return fmt.Errorf("redisstore: %w", &sessiond.ArgumentError{Field: "revocation_wait", Msg: fmt.Sprintf("must not be negative, got %s", d)})
	}
	return nil
}
