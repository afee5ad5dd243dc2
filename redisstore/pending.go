package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

// On a Redis Cluster a change's records (its events and their webhook
// deliveries) cannot be written by the change's own script: the session
// lives in its subject's slot, the event log and the outbox in slots of
// their own. So the change's script keeps them, in the same step, in a
// pending hash of its own slot; the store then moves them to the event log
// and the outbox (both idempotent: an event or a delivery already there is
// skipped) and deletes them from the pending hash. A node killed between
// leaves them pending, and every node's sweep moves what has waited longer
// than pendingAge. So a change is never kept without its records, nor
// records without their change (issue 11, target 3; docs/redisstore.md,
// "Events written with their change").
//
// The pending hashes are one per slot, named by a hash tag chosen for that
// slot (pendingTags), so that a sweep can find them all without SCAN.

const (
	// pendingAge is how long a change's records may stay pending before a
	// sweep moves them: the change's own call moves them within a round
	// trip or two, unless its node dies or Redis fails it.
	pendingAge = 10 * time.Second
	// pendingSweepEvery is how often each node sweeps the pending hashes
	// (16,384 HGETALLs of mostly empty hashes: 4–7 ms of Redis CPU in all,
	// measured pipelined on one server; docs/redisstore.md).
	pendingSweepEvery = time.Minute
	// pendingBatch bounds the HGETALLs of one round trip of a sweep.
	pendingBatch = 1024
)

// pendLua stores the records of a change in the pending hash of its slot:
// the last KEY, field and value the last two ARGV.
const pendLua = `
local function pend() redis.call('HSET', KEYS[#KEYS], ARGV[#ARGV - 1], ARGV[#ARGV]) end
`

// withPending is the source of a change script that, when its body
// answers 'ok', also stores the change's records (pendLua). head is what
// the body needs defined before it.
func withPending(head, body string) string {
	return head + pendLua + "local function change()\n" + body + "\nend\nlocal r = change()\nif r[1] == 'ok' then pend() end\nreturn r\n"
}

// The Cluster's change scripts that keep their records pending. Each takes
// its plain script's KEYS and ARGV, then the pending hash as the last KEY
// and the field and the records as the last two ARGV.
var (
	swapPendingScript  = newPairedScript(withPending("", swapBody))
	touchPendingScript = newPairedScript(withPending("", touchBody))
)

// createPendingScript is createRecordedScript on a Cluster: createScript
// that keeps the records of the creation, and of each session it evicts,
// pending in the subject's slot. Like createRecordedScript, when a session
// it must evict has no records prepared it changes nothing and answers
// {"prepare", id, expiry, ...}.
//
//	KEYS: session key, subject index, pending hash
//	ARGV: createScript's, then victim records ("1": wanted), the number
//	      of prepared victims, per prepared victim its ID, field and
//	      records, then the field and the records of the creation ("":
//	      none)
var createPendingScript = rueidis.NewLuaScript(prelude + `
local h = 10 + tonumber(ARGV[9])
local prepared = {}
local i = h + 2
for _ = 1, tonumber(ARGV[h + 1]) do
  prepared[ARGV[i]] = i + 1
  i = i + 3
end
local wanted = ARGV[h] == '1'
` + victimsReadyLua + `
local function change()
` + createBody + `
end
local r = change()
if r[1] == 'ok' then
  if ARGV[i + 1] ~= '' then redis.call('HSET', KEYS[3], ARGV[i], ARGV[i + 1]) end
  if victims_ready then
    for k = 2, #r, 2 do
      local j = prepared[r[k]]
      if ARGV[j + 1] ~= '' then redis.call('HSET', KEYS[3], ARGV[j], ARGV[j + 1]) end
    end
  end
end
return r
`)

// revokePendingScript is revokeRecordedScript on a Cluster: when it
// revokes the session it stores the records in the pending hash, if one is
// given (KEYS[2]), and adds "1" to its answer.
//
//	KEYS: session key[, pending hash]
//	ARGV: revoked at, reason[, field, records]
//	→ nil (not found) | the session's fields, in sessionFields order,
//	  and "1" if this call revoked it
var revokePendingScript = newPairedScript(allowOOM + pendLua + revokeLua(`if KEYS[2] then pend() end`, ""))

// revokeSubjectPendingScript is revokeSubjectRecordedScript on a Cluster:
// the records go to the pending hash of the subject's slot.
//
//	KEYS: subject index, pending hash
//	ARGV: as revokeSubjectRecordedScript's up to the prepared IDs, then
//	      the field and the records ("": none; ignored when n is 0)
var revokeSubjectPendingScript = newPairedScript(allowOOM + prelude + pendLua +
	revokeSubjectLua(`if n > 0 and ARGV[#ARGV] ~= '' then pend() end`))

// pending is one change's records on their way to the event log and the
// outbox.
type pending struct {
	key, field string   // the pending hash and the change's field in it
	payload    string   // what the field holds (pendingRecord as JSON)
	block      []string // the records block
}

// pendingRecord is a pending field's value.
type pendingRecord struct {
	At    int64    `json:"at"` // when it was written, unix ms
	Block []string `json:"b"`  // the records block
}

// pendFor prepares block (a records block) to be kept pending with a
// change of the session key tag's slot.
func (s *Store) pendFor(tag string, block []string) (pending, error) {
	return s.pendIn(slotOf(tag), block)
}

// pendIn prepares block to be kept pending with a change of slot.
func (s *Store) pendIn(slot uint16, block []string) (pending, error) {
	payload, err := json.Marshal(pendingRecord{At: time.Now().UnixMilli(), Block: block})
	if err != nil {
		return pending{}, err
	}
	return pending{key: s.pendingKey(slot), field: rand.Text(), payload: string(payload), block: block}, nil
}

// pendingKey is the pending hash of slot.
func (s *Store) pendingKey(slot uint16) string {
	return s.prefix + ":{" + s.pendingTags[slot] + "}:pending"
}

// pendingTags returns, for each Cluster slot, a hash tag in that slot.
func pendingTags() []string {
	tags := make([]string, 16384)
	for n, left := uint64(0), len(tags); left > 0; n++ {
		t := "p" + strconv.FormatUint(n, 36)
		if sl := slotOf(t); tags[sl] == "" {
			tags[sl] = t
			left--
		}
	}
	return tags
}

// createPending runs createPendingScript on keys (the session key and the
// subject index) and createScript's arguments args until the sessions it
// evicts all have their records prepared, and returns its answer and, when
// it stored the session, the pending records to settle: the creation's
// and those of each session it evicted.
func (s *Store) createPending(ctx context.Context, tag string, keys, args []string, sess *sessiond.Session, rec *createRecords) ([]rueidis.RedisMessage, []pending, error) {
	main := pending{}
	if records(rec.mainArgs) > 0 {
		var err error
		if main, err = s.pendFor(tag, rec.mainArgs); err != nil {
			return nil, nil, errBadRecords{err}
		}
	}
	victims := map[string]pending{}
	keys = append(slices.Clip(keys), s.pendingKey(slotOf(tag)))
	for range maxPrepare {
		a := append(slices.Clip(args), boolArg(rec.evicted != nil), itoa(int64(len(rec.order))))
		for _, id := range rec.order {
			a = append(a, id, victims[id].field, victims[id].payload)
		}
		a = append(a, main.field, main.payload)
		reply, err := createPendingScript.Exec(ctx, s.client, keys, a).ToArray()
		if err != nil {
			return nil, nil, err
		}
		status, _ := field(&reply[0])
		if status == "ok" {
			var settle []pending
			if main.key != "" {
				settle = append(settle, main)
			}
			for k := 1; k+1 < len(reply) && rec.evicted != nil; k += 2 {
				id, _ := field(&reply[k])
				if p := victims[id]; p.key != "" {
					settle = append(settle, p)
				}
			}
			return reply, settle, nil
		}
		if status != "prepare" {
			return reply, nil, nil
		}
		for k := 1; k+1 < len(reply); k += 2 {
			id, _ := field(&reply[k])
			e, _ := field(&reply[k+1])
			exp, err := decTime(e)
			if err != nil {
				return nil, nil, errCorrupt
			}
			if _, ok := victims[id]; ok {
				continue
			}
			block, err := appendBlock(nil, rec.evicted(sessiond.Revocation{
				SessionID: sessiond.SessionID(id), Subject: sess.Subject,
				RevokedAt: sess.CreatedAt, ExpiresAt: exp, Reason: sessiond.ReasonLimit,
			}))
			if err != nil {
				return nil, nil, errBadRecords{err}
			}
			p := pending{}
			if records(block) > 0 {
				if p, err = s.pendFor(tag, block); err != nil {
					return nil, nil, errBadRecords{err}
				}
			}
			victims[id] = p
			rec.order = append(rec.order, id)
		}
	}
	return nil, nil, fmt.Errorf("sessions to evict kept changing: %w", sessiond.ErrConflict)
}

// settle moves p's records to the event log and the outbox, then queues
// its field for deletion (deleteMovedLoop). A failure is logged, not
// returned: the change and its records are both stored, and a sweep moves
// them later. It outlives the caller's context: the change has happened.
func (s *Store) settle(ctx context.Context, op string, p pending) {
	if s.holdPending {
		return
	}
	ctx, cancel := detached(ctx)
	defer cancel()
	if err := s.moveBlock(ctx, p.block); err != nil {
		s.log.Warn("redisstore: a change's records stay pending until a sweep moves them", "op", op, "err", err)
		return
	}
	select {
	case s.moved <- p:
	default: // the deleter is behind: delete it here
		s.deleteMoved(ctx, []pending{p})
	}
}

// movedBatch bounds the fields of one round trip of deleteMovedLoop.
const movedBatch = 512

// deleteMovedLoop deletes the pending fields whose records have moved, in
// batches of what queued while the previous batch was in flight: a round
// trip of its own per change cost a Cluster 11–28 % of its refreshes a
// second (docs/PERFORMANCE.md). When the store closes it deletes what is
// queued; a field it could not delete is moved again by a sweep, which
// stores nothing twice.
func (s *Store) deleteMovedLoop() {
	defer s.wg.Done()
	batch := make([]pending, 0, movedBatch)
	for {
		select {
		case p := <-s.moved:
			batch = append(batch[:0], p)
		case <-s.ctx.Done():
			batch = batch[:0]
			for {
				select {
				case p := <-s.moved:
					batch = append(batch, p)
				default:
					ctx, cancel := detached(context.Background())
					s.deleteMoved(ctx, batch)
					cancel()
					return
				}
			}
		}
	more:
		for len(batch) < movedBatch {
			select {
			case p := <-s.moved:
				batch = append(batch, p)
			default:
				break more
			}
		}
		// Not s.ctx: a batch sent as the store closes must still go.
		ctx, cancel := detached(context.Background())
		s.deleteMoved(ctx, batch)
		cancel()
	}
}

// deleteMoved deletes ps's fields from their pending hashes, pipelined.
func (s *Store) deleteMoved(ctx context.Context, ps []pending) {
	if len(ps) == 0 {
		return
	}
	cmds := make(rueidis.Commands, len(ps))
	for i, p := range ps {
		cmds[i] = s.client.B().Hdel().Key(p.key).Field(p.field).Build()
	}
	for _, r := range s.client.DoMulti(ctx, cmds...) {
		if err := r.Error(); err != nil {
			s.log.Warn("redisstore: moved records stay pending until a sweep deletes them", "err", err)
			return
		}
	}
}

// moveBlock stores a records block's events in the event log and its
// deliveries in the outbox. Both skip what they already hold, so moving a
// block twice stores it once.
func (s *Store) moveBlock(ctx context.Context, block []string) error {
	ev, ds, ok := splitBlock(block)
	if !ok {
		return errCorrupt
	}
	if len(ev) > 0 {
		if err := s.store(ctx, "append events", appendEventsScript, s.recKeys[:3:3], s.evBase, ev, eventBatch); err != nil {
			return err
		}
	}
	if len(ds) > 0 {
		return s.store(ctx, "enqueue deliveries", enqueueScript, s.recKeys[3:6:6], s.obBase, ds, deliveryBatch)
	}
	return nil
}

// splitBlock returns a records block's event and delivery arguments.
func splitBlock(b []string) (events, deliveries []string, ok bool) {
	if len(b) < 2 {
		return nil, nil, false
	}
	ne, err := strconv.Atoi(b[0])
	if err != nil || ne < 0 || ne%recordStride != 0 || 2+ne > len(b) {
		return nil, nil, false
	}
	nd, err := strconv.Atoi(b[1+ne])
	if err != nil || nd < 0 || nd%recordStride != 0 || 2+ne+nd != len(b) {
		return nil, nil, false
	}
	return b[1 : 1+ne], b[2+ne:], true
}

// sweepPending moves the records pending for longer than age (a change
// whose node died before it moved them, or whose move failed) and returns
// how many changes' records it moved. Several nodes may sweep at once:
// a block moved twice is stored once.
func (s *Store) sweepPending(ctx context.Context, age time.Duration) (int, error) {
	const op = "sweep pending records"
	cut := time.Now().Add(-age).UnixMilli()
	moved := 0
	for from := 0; from < len(s.pendingTags); from += pendingBatch {
		n := min(pendingBatch, len(s.pendingTags)-from)
		cmds := make(rueidis.Commands, 0, n)
		for sl := from; sl < from+n; sl++ {
			cmds = append(cmds, s.client.B().Hgetall().Key(s.pendingKey(uint16(sl))).Build())
		}
		for i, r := range s.client.DoMulti(ctx, cmds...) {
			fields, err := r.AsStrMap()
			if err != nil {
				return moved, s.fail(op, err)
			}
			key := s.pendingKey(uint16(from + i))
			for field, v := range fields {
				var p pendingRecord
				err := json.Unmarshal([]byte(v), &p)
				if _, _, ok := splitBlock(p.Block); err != nil || !ok {
					// Not written by a store: keep it for whoever wrote it to
					// read; it is logged at each sweep until deleted.
					s.log.Warn("redisstore: malformed pending records left in place; delete the field (HDEL) once read", "key", key, "field", field)
					continue
				}
				if p.At > cut {
					continue
				}
				if err := s.moveBlock(ctx, p.Block); err != nil {
					return moved, fmt.Errorf("redisstore: %s: %w", op, err)
				}
				if err := s.client.Do(ctx, s.client.B().Hdel().Key(key).Field(field).Build()).Error(); err != nil {
					return moved, s.fail(op, err)
				}
				moved++
			}
		}
	}
	return moved, nil
}

// sweepPendingLoop sweeps once pendingAge after the store opens (records
// a node killed before its restart left behind), then every
// pendingSweepEvery, until the store closes; each time it also records
// the revocations of subject batches whose record step failed
// (recordUnrecorded).
func (s *Store) sweepPendingLoop() {
	defer s.wg.Done()
	t := time.NewTimer(pendingAge)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		s.recordUnrecorded(s.ctx, "record revocations", nil)
		if n, err := s.sweepPending(s.ctx, pendingAge); err != nil && s.ctx.Err() == nil {
			s.log.Warn("redisstore: sweep of pending records failed", "err", err)
		} else if n > 0 {
			s.log.Info("redisstore: moved the records of changes whose own move did not happen", "changes", n)
		}
		t.Reset(pendingSweepEvery)
	}
}
