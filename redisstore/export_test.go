package redisstore

import (
	"context"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

// LookupCached reports whether Lookup(h) would now be served without a
// round trip: its route from the route memo and the session from the
// client-side cache. It reads through the cache itself, so it caches what
// it misses.
func LookupCached(ctx context.Context, s *Store, h sessiond.TokenHash) (bool, error) {
	hx := hexHash(h)
	v, ok := s.routes.get(s.tokKey(hx))
	if !ok {
		return false, nil
	}
	tag, _, id, _ := parseTokIndex(v)
	key := s.sessKey(tag, id)
	r := s.client.DoCache(ctx, s.lookupCmd(key, tokenFieldPrefix+hx), s.cacheTTL)
	return r.IsCacheHit(), r.Error()
}

// BatchBySlot makes s take the paths of a Redis Cluster (bulk work
// batched by slot, a change's records kept pending in its slot) even when
// Redis is not one.
func BatchBySlot(s *Store) {
	s.crossSlot = false
	s.pendingTags = pendingTags()
	s.moved = make(chan pending, 4*movedBatch)
	s.wg.Add(1)
	go s.deleteMovedLoop()
}

// OnCluster reports whether s takes the paths of a Redis Cluster.
func OnCluster(s *Store) bool { return !s.crossSlot }

// HoldPending makes s leave every change's records pending, as a node
// killed between its change and their move would.
func HoldPending(s *Store) { s.holdPending = true }

// KillAfterRevoke makes every change of s that revokes sessions (Revoke,
// RevokeSubject, their Recorded forms, a login that evicts) return
// ErrKilled as soon as its script answers, without another command, as a
// node killed at that moment would. Call it before using s concurrently.
func KillAfterRevoke(s *Store) { s.killAfterRevoke = true }

// ErrKilled is what a change returns under KillAfterRevoke.
var ErrKilled = errKilled

// SweepPending moves the records pending for longer than age, as every
// node does each minute, and returns how many changes' records it moved.
func SweepPending(ctx context.Context, s *Store, age time.Duration) (int, error) {
	return s.sweepPending(ctx, age)
}

// PendingRecords counts the changes whose records are pending.
func PendingRecords(ctx context.Context, s *Store) (int, error) {
	cmds := make(rueidis.Commands, 0, len(s.pendingTags))
	for sl := range s.pendingTags {
		cmds = append(cmds, s.client.B().Hlen().Key(s.pendingKey(uint16(sl))).Build())
	}
	n := 0
	for _, r := range s.client.DoMulti(ctx, cmds...) {
		c, err := r.AsInt64()
		if err != nil {
			return 0, err
		}
		n += int(c)
	}
	return n, nil
}

// KeySlot is the Redis Cluster slot of keys with hash tag tag.
func KeySlot(tag string) int { return int(slotOf(tag)) }

// SlotOfKey is the Redis Cluster slot of a whole key, hash tag or not.
func SlotOfKey(key string) int { return int(keySlot(key)) }

// Limits the tests cross.
const (
	SweepEvery      = sweepEvery
	EventScanBudget = eventScanBudget
	OddEventsMax    = oddEventsMax
)

// EventPrelude is the Lua the event scripts share; FirstEventID its Go
// counterpart's first_event_id.
const EventPrelude = eventPrelude

var FirstEventID = firstEventID

// PrefixOf is the key prefix s keeps its keys under.
func PrefixOf(s *Store) string { return s.prefix }

// BulkScripts lists the revocation scripts RevokeMatching{All} would run
// for the sessions live at at, without running them: per script, its
// session keys.
func BulkScripts(ctx context.Context, s *Store, at time.Time) ([][]string, error) {
	var scripts [][]string
	head := []string{encTime(at), string(sessiond.ReasonIncident), ""}
	err := s.sessionBatches(ctx, at, head, func(execs []rueidis.LuaExec) bool {
		for _, e := range execs {
			scripts = append(scripts, e.Keys)
		}
		return true
	})
	return scripts, err
}

// BulkBatch bounds the sessions of one revocation script.
const BulkBatch = bulkBatch

// BulkBegin runs the first step of RevokeMatching without subjects when
// Redis is not a Cluster (the incident's bulk-index entry and, with all,
// the live indexes set aside) and returns the set-aside indexes' names,
// as a revocation that failed right after it would leave them.
func BulkBegin(ctx context.Context, s *Store, at time.Time, all bool) ([]string, error) {
	return s.bulkBegin(ctx, at, all, s.walkKey(at, ""))
}

// WalkBatch bounds the sessions of one walk script (a single Redis).
const WalkBatch = walkBatch

// WalkStep runs one script of RevokeMatching{All}'s walk at at on a
// single Redis, after BulkBegin, and returns how many sessions it revoked
// and whether the walk is over.
func WalkStep(ctx context.Context, s *Store, at time.Time) (int, bool, error) {
	b := &bulkRevocation{s: s, at: at, reason: sessiond.ReasonIncident, subjects: make(map[string]struct{})}
	keys, args := b.walkArgs(s.walkKey(at, ""), "")
	done, err := b.walkStep(ctx, keys, args)
	return b.n, done, err
}

// PendingKey is the pending hash of subject's slot.
func PendingKey(s *Store, subject string) string { return s.pendingKey(slotOf(tagOf(subject))) }

// ClientOf is s's own Redis client: on a Cluster the one that reaches
// every node.
func ClientOf(s *Store) rueidis.Client { return s.client }

// LivePages walks the expiry index as a Cluster's RevokeMatching does,
// count members a page, calling fn with each page.
func LivePages(ctx context.Context, s *Store, at time.Time, count int, fn func(members []string, last bool) bool) error {
	return s.livePages(ctx, at, count, fn)
}

// ExpKey is the store's expiry index.
func ExpKey(s *Store) string { return s.expKey }

// Linger is how long a session hash and its index entries outlive the
// session's absolute expiry.
const Linger = linger

// AheadMargin bounds how far Redis's clock may be ahead of the nodes'
// before it shortens the linger.
const AheadMargin = aheadMargin

// ListPaged is List reading page sessions a script.
func ListPaged(ctx context.Context, s *Store, subject string, now time.Time, page int) ([]*sessiond.Session, error) {
	return s.list(ctx, subject, now, page)
}

// SubjectClientsPaged walks subject's sessions live at now as
// SubjectClients does, page a script, and calls fn with the ID and client
// of each, in the order of the index, as each script's reply is read
// (before the next script runs).
func SubjectClientsPaged(ctx context.Context, s *Store, subject string, now time.Time, page int, fn func(sessiond.SessionID, sessiond.Client)) error {
	return s.subjectClients(ctx, subject, now, page, fn)
}

// Page sizes of the walks through a subject's index.
const (
	ListPage    = listPage
	ClientsPage = clientsPage
)

// PageScriptSessions is how many sessions a ListPage or ListSpan script
// reads at most.
const PageScriptSessions = pageScriptSessions

// SubjectBatch bounds the sessions one script of a subject's walk
// revokes (RevokeSubject, RevokeSubjectBatch).
const SubjectBatch = subjectBatch

// ObserveSubjectBatches makes s call fn with the number of sessions each
// script of a subject's walk revoked, as the script's reply names them.
// Call it before using s concurrently.
func ObserveSubjectBatches(s *Store, fn func(revoked int)) { s.observeBatch = fn }

// FixWalkDepth makes the kill switch's walk keep n scripts in flight
// whatever the round trip (0: as walkDepth chooses); n = 2 is the walk
// before walkDepth.
func FixWalkDepth(s *Store, n int) { s.walkDepthFixed = n }

// FailSubjectRecord makes the nth record step from now of a subject batch
// on a Cluster's path fail, once, as one whose script committed before
// the node holding the revocation index was cut off.
func FailSubjectRecord(s *Store, nth int) { s.failRecordAt.Store(int32(nth)) }

// SubjectRecordedMax bounds the subject index RevokeSubjectRecorded
// revokes in its one script.
const SubjectRecordedMax = subjectRecordedMax

// LimitRead is how many members of a subject index a limited login reads
// at least before it may stop (createBody).
const LimitRead = limitRead

// SlotOf is the Cluster slot of subject's keys.
func SlotOf(subject string) uint16 { return slotOf(tagOf(subject)) }

// CounterWindows is the counter suite's test hook: the counter keys that
// Redis will still hold at at. A key without a time to live is held for
// ever; one with a time to live counts until its window's end plus the
// second of Incr's margin, as TestIncr_TTL checks the time to live says
// (Redis expires keys by its own clock, which the suite's later times
// are not).
func (s *Store) CounterWindows(ctx context.Context, at time.Time) (int, error) {
	keys := map[string]bool{} // from every node of a Cluster, replicas repeating their master's
	for _, node := range s.client.Nodes() {
		for cursor := uint64(0); ; {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(s.counterKey("*")).Count(500).Build()).AsScanEntry()
			if err != nil {
				return 0, err
			}
			for _, k := range e.Elements {
				keys[k] = true
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	n := 0
	for k := range keys {
		held, err := s.counterKeyHeld(ctx, k, at)
		if err != nil {
			return 0, err
		}
		if held {
			n++
		}
	}
	return n, nil
}

// CounterKeyHeld is CounterWindows for one counter, named as Incr names
// it: whether Redis will still hold it at at.
func (s *Store) CounterKeyHeld(ctx context.Context, name string, at time.Time) (bool, error) {
	return s.counterKeyHeld(ctx, s.counterKey(name), at)
}

// counterKeyHeld reads one counter key. A key SCAN listed may expire
// before it is read: PTTL's -2 or HGET's nil reply says it is gone, so
// it is not held.
func (s *Store) counterKeyHeld(ctx context.Context, k string, at time.Time) (bool, error) {
	ttl, err := s.client.Do(ctx, s.client.B().Pttl().Key(k).Build()).AsInt64()
	if err != nil {
		return false, err
	}
	if ttl == -2 {
		return false, nil
	}
	r, err := s.client.Do(ctx, s.client.B().Hget().Key(k).Field("r").Build()).ToString()
	if rueidis.IsRedisNil(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	end, err := decTime(r)
	if err != nil {
		return false, err
	}
	return ttl < 0 || end.Add(time.Second).After(at), nil
}
