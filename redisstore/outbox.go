package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

var (
	_ sessiond.Outbox       = (*Store)(nil)
	_ sessiond.OutboxFencer = (*Store)(nil)
)

// The webhook outbox lives in one slot, under the hash tag {<prefix>:ob},
// so claiming is one script even on a Cluster (docs/redisstore.md,
// "Webhook outbox"):
//
//	<base>d:<id>     hash: ep ev pl st n na le c u
//	<base>due        sorted set: pending delivery ID → NextAttemptAt (µs)
//	<base>st:<state> sorted set: delivery ID → CreatedAt (µs), per state
//	<base>done       sorted set: delivered or dead ID → UpdatedAt (µs)

// deliveryBatch bounds the deliveries of one enqueue script and of one
// retention script; maxClaim those of one ClaimDeliveries.
const (
	deliveryBatch = 256
	maxClaim      = 1000
)

// Delivery hash fields, in the order the scripts return them.
var deliveryFields = [...]string{"ep", "ev", "pl", "st", "n", "na", "le", "c", "u"}

const nDeliveryFields = len(deliveryFields)

// outboxPrelude holds what the outbox scripts share.
const outboxPrelude = `
local FIELDS = {'ep', 'ev', 'pl', 'st', 'n', 'na', 'le', 'c', 'u'}
-- read returns a delivery's fields in FIELDS order (nil when it does not exist).
local function read(base, id)
  local f = redis.call('HMGET', base .. 'd:' .. id, unpack(FIELDS))
  if not f[4] then return nil end
  return f
end
-- drop_delivery deletes a delivery and its index entries.
local function drop_delivery(base, id)
  local st = redis.call('HGET', base .. 'd:' .. id, 'st')
  if st then redis.call('ZREM', base .. 'st:' .. st, id) end
  redis.call('DEL', base .. 'd:' .. id)
  redis.call('ZREM', base .. 'due', id)
  redis.call('ZREM', base .. 'done', id)
end
`

// enqueueScript stores pending deliveries whose ID is new, then deletes up
// to 100 finished deliveries older than the maximum age (the safety net
// behind retention).
//
//	KEYS: due, st:pending, done
//	ARGV: base, maximum age (s, "0": none), then per delivery: id,
//	      endpoint, event ID, payload, attempts, next attempt (µs), last
//	      error, created (µs), updated (µs)
var enqueueScript = rueidis.NewLuaScript(agedLua + outboxPrelude + enqueueFn + `
enqueue(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV, 3, #ARGV)
return 0
`)

// enqueueFn defines enqueue, enqueueScript's work, which the scripts that
// write a change with its deliveries (recorded.go) share: store the
// deliveries laid out in a[from..to], then the safety-net sweep.
const enqueueFn = `
local function enqueue(due, pending, done, base, maxage, a, from, to)
  for i = from, to, 9 do
    local id = a[i]
    local k = base .. 'd:' .. id
    if redis.call('EXISTS', k) == 0 then
      redis.call('HSET', k, 'ep', a[i + 1], 'ev', a[i + 2], 'pl', a[i + 3], 'st', 'pending',
        'n', a[i + 4], 'na', a[i + 5], 'le', a[i + 6], 'c', a[i + 7], 'u', a[i + 8])
      redis.call('ZADD', due, a[i + 5], id)
      redis.call('ZADD', pending, a[i + 7], id)
    end
  end
  for _, id in ipairs(aged(done, maxage)) do
    drop_delivery(base, id)
  end
end
`

// claimScript takes up to limit pending deliveries due at now, in order of
// next attempt then ID, and moves their next attempt to the end of the
// lease. Being one script is what keeps two nodes from claiming the same
// delivery.
//
//	KEYS: due
//	ARGV: base, now (µs, inclusive), limit, lease end (µs)
//	→ {id, fields in FIELDS order, id, ...}
var claimScript = rueidis.NewLuaScript(allowOOM + outboxPrelude + `
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], '-inf', ARGV[2], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[3]))) do
  local f = read(ARGV[1], id)
  if f and f[4] == 'pending' then
    redis.call('ZADD', KEYS[1], ARGV[4], id)
    redis.call('HSET', ARGV[1] .. 'd:' .. id, 'na', ARGV[4])
    f[6] = ARGV[4]
    out[#out + 1] = id
    for j = 1, #FIELDS do out[#out + 1] = f[j] end
  else
    redis.call('ZREM', KEYS[1], id)
  end
end
return out
`)

// finishScript records an attempt's outcome.
//
//	KEYS: the delivery, due, done
//	ARGV: base, id, state, attempts, next attempt (µs), last error, at (µs)
//	→ 1 | 0 (not found)
var finishScript = rueidis.NewLuaScript(allowOOM + `
local f = redis.call('HMGET', KEYS[1], 'st', 'c')
if not f[1] then return 0 end
` + finishLua)

// finishClaimedScript is finishScript fenced by the claim: it records the
// outcome only if the delivery is still pending with the lease end and
// attempts the claim saw, checked in the same script as the write.
//
//	KEYS: the delivery, due, done
//	ARGV: base, id, state, attempts, next attempt (µs), last error, at (µs),
//	      the claim's lease end (µs), the claim's attempts
//	→ 1 | 0 (not found) | -1 (the claim no longer holds it)
var finishClaimedScript = rueidis.NewLuaScript(allowOOM + `
local f = redis.call('HMGET', KEYS[1], 'st', 'c', 'na', 'n')
if not f[1] then return 0 end
if f[1] ~= 'pending' or f[3] ~= ARGV[8] or f[4] ~= ARGV[9] then return -1 end
` + finishLua)

// finishLua writes the outcome; f holds the delivery's state and created.
const finishLua = `
local base, id, state = ARGV[1], ARGV[2], ARGV[3]
redis.call('HSET', KEYS[1], 'st', state, 'n', ARGV[4], 'na', ARGV[5], 'le', ARGV[6], 'u', ARGV[7])
if f[1] ~= state then
  redis.call('ZREM', base .. 'st:' .. f[1], id)
  redis.call('ZADD', base .. 'st:' .. state, f[2], id)
end
if state == 'pending' then
  redis.call('ZADD', KEYS[2], ARGV[5], id)
  redis.call('ZREM', KEYS[3], id)
else
  redis.call('ZREM', KEYS[2], id)
  redis.call('ZADD', KEYS[3], ARGV[7], id)
end
return 1
`

// retryScript moves a dead delivery back to pending, due at the given
// time, with its attempts reset and its CreatedAt the retry's time (a
// Retry starts its age again); anything else is left alone.
//
//	KEYS: the delivery, due, done
//	ARGV: base, id, at (µs)
//	→ 1 | 0 (no dead delivery with that ID)
var retryScript = rueidis.NewLuaScript(allowOOM + `
if redis.call('HGET', KEYS[1], 'st') ~= 'dead' then return 0 end
local base, id = ARGV[1], ARGV[2]
redis.call('HSET', KEYS[1], 'st', 'pending', 'n', '0', 'na', ARGV[3], 'c', ARGV[3], 'u', ARGV[3])
redis.call('ZREM', base .. 'st:dead', id)
redis.call('ZADD', base .. 'st:pending', ARGV[3], id)
redis.call('ZADD', KEYS[2], ARGV[3], id)
redis.call('ZREM', KEYS[3], id)
return 1
`)

// listDeliveriesScript returns the newest deliveries of a state (read-only).
//
//	KEYS: st:<state>
//	ARGV: base, limit
//	→ {id, fields in FIELDS order, id, ...}
var listDeliveriesScript = rueidis.NewLuaScriptReadOnly(outboxPrelude + `
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], '+inf', '-inf', 'BYSCORE', 'REV', 'LIMIT', 0, tonumber(ARGV[2]))) do
  local f = read(ARGV[1], id)
  if f then
    out[#out + 1] = id
    for j = 1, #FIELDS do out[#out + 1] = f[j] end
  end
end
return out
`)

// deleteDeliveriesScript deletes up to n finished deliveries last updated
// before a bound, oldest first.
//
//	KEYS: done
//	ARGV: base, exclusive upper bound ("(" µs), n
//	→ how many it deleted
var deleteDeliveriesScript = rueidis.NewLuaScript(outboxPrelude + `
local ids = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[2], 'BYSCORE', 'LIMIT', 0, tonumber(ARGV[3]))
for _, id in ipairs(ids) do drop_delivery(ARGV[1], id) end
return #ids
`)

func (s *Store) obDue() string                            { return s.obBase + "due" }
func (s *Store) obDone() string                           { return s.obBase + "done" }
func (s *Store) obState(st sessiond.DeliveryState) string { return s.obBase + "st:" + string(st) }

// EnqueueDeliveries stores pending deliveries; an ID that exists already
// (or earlier in ds) is skipped, whatever its state, so a retried enqueue
// never revives a finished delivery. An empty State means pending.
// ErrInvalidArgument, and nothing stored, if a delivery has no ID or
// another State. Up to 256 deliveries are stored by one script.
func (s *Store) EnqueueDeliveries(ctx context.Context, ds ...sessiond.Delivery) error {
	const op = "enqueue deliveries"
	if err := ctxErr(ctx, op, sessiond.CheckEnqueue(ds)); err != nil {
		return err
	}
	args := appendDeliveryArgs(make([]string, 0, recordStride*len(ds)), ds)
	return s.store(ctx, op, enqueueScript, s.recKeys[3:6:6], s.obBase, args, deliveryBatch)
}

// appendDeliveryArgs appends the arguments of enqueue for ds (9 strings
// each) to args.
func appendDeliveryArgs(args []string, ds []sessiond.Delivery) []string {
	for _, d := range ds {
		args = append(args, d.ID, d.Endpoint, d.EventID, string(d.Payload), itoa(int64(d.Attempts)),
			encTime(d.NextAttemptAt), d.LastError, encTime(d.CreatedAt), encTime(d.UpdatedAt))
	}
	return args
}

// ClaimDeliveries returns up to limit pending deliveries due at now (their
// NextAttemptAt at or before it), in order of NextAttemptAt then ID, with
// NextAttemptAt moved to now+lease (to the µs), in one script, so two
// concurrent claims never return the same delivery. A limit above 1,000
// claims at most 1,000. ErrInvalidArgument if limit is not positive or
// lease is under sessiond.MinClaimLease.
func (s *Store) ClaimDeliveries(ctx context.Context, now time.Time, limit int, lease time.Duration) ([]sessiond.Delivery, error) {
	const op = "claim deliveries"
	if err := ctxErr(ctx, op, sessiond.CheckLimit(limit), sessiond.CheckLease(lease)); err != nil {
		return nil, err
	}
	reply, err := claimScript.Exec(ctx, s.client, []string{s.obDue()}, []string{
		s.obBase, itoa(floorMicros(now)), itoa(int64(min(limit, maxClaim))), itoa(floorMicros(now.Add(lease))),
	}).ToArray()
	if err != nil {
		return nil, s.fail(op, err)
	}
	return s.decDeliveries(op, reply)
}

// FinishDelivery records an attempt's outcome; see sessiond.Outbox.
// ErrNotFound if id is unknown, ErrInvalidArgument if state is not one of
// the three.
func (s *Store) FinishDelivery(ctx context.Context, id string, state sessiond.DeliveryState, attempts int, next time.Time, lastErr string, at time.Time) error {
	const op = "finish delivery"
	if err := ctxErr(ctx, op, state.Validate()); err != nil {
		return err
	}
	ok, err := finishScript.Exec(ctx, s.client, []string{s.obBase + "d:" + id, s.obDue(), s.obDone()}, []string{
		s.obBase, id, string(state), itoa(int64(attempts)), encTime(next), lastErr, encTime(at),
	}).AsInt64()
	switch {
	case err != nil:
		return s.fail(op, err)
	case ok == 0:
		return fmt.Errorf("redisstore: %s: %w", op, sessiond.ErrNotFound)
	}
	return nil
}

// FinishClaimed records an attempt's outcome, as FinishDelivery, if
// claimed's claim still holds the delivery; see sessiond.OutboxFencer. One
// script checks the fence and writes. ErrConflict if the fence no longer
// holds, ErrNotFound if the ID is unknown.
func (s *Store) FinishClaimed(ctx context.Context, claimed sessiond.Delivery, state sessiond.DeliveryState, attempts int, next time.Time, lastErr string, at time.Time) error {
	const op = "finish claimed delivery"
	if err := ctxErr(ctx, op, state.Validate()); err != nil {
		return err
	}
	id := claimed.ID
	ok, err := finishClaimedScript.Exec(ctx, s.client, []string{s.obBase + "d:" + id, s.obDue(), s.obDone()}, []string{
		s.obBase, id, string(state), itoa(int64(attempts)), encTime(next), lastErr, encTime(at),
		encTime(claimed.NextAttemptAt), itoa(int64(claimed.Attempts)),
	}).AsInt64()
	switch {
	case err != nil:
		return s.fail(op, err)
	case ok == 0:
		return fmt.Errorf("redisstore: %s: %w", op, sessiond.ErrNotFound)
	case ok < 0:
		return fmt.Errorf("redisstore: %s: %w: %s is no longer held by this claim", op, sessiond.ErrConflict, id)
	}
	return nil
}

// RetryDelivery moves a dead delivery back to pending; see sessiond.Outbox.
// One script checks the state and moves it, so concurrent retries move it
// once.
func (s *Store) RetryDelivery(ctx context.Context, id string, at time.Time) error {
	const op = "retry delivery"
	if err := ctxErr(ctx, op); err != nil {
		return err
	}
	ok, err := retryScript.Exec(ctx, s.client, []string{s.obBase + "d:" + id, s.obDue(), s.obDone()}, []string{
		s.obBase, id, encTime(at),
	}).AsInt64()
	switch {
	case err != nil:
		return s.fail(op, err)
	case ok == 0:
		return fmt.Errorf("redisstore: %s: %w: no dead delivery %q", op, sessiond.ErrNotFound, id)
	}
	return nil
}

// ListDeliveries returns up to limit deliveries in state, newest (by
// CreatedAt) first, then by ID descending. ErrInvalidArgument if limit is
// not positive.
func (s *Store) ListDeliveries(ctx context.Context, state sessiond.DeliveryState, limit int) ([]sessiond.Delivery, error) {
	const op = "list deliveries"
	if err := ctxErr(ctx, op, sessiond.CheckLimit(limit)); err != nil {
		return nil, err
	}
	reply, err := listDeliveriesScript.Exec(ctx, s.client, []string{s.obState(state)}, []string{s.obBase, itoa(int64(limit))}).ToArray()
	if err != nil {
		return nil, s.fail(op, err)
	}
	return s.decDeliveries(op, reply)
}

// CountDeliveries counts deliveries in state (ZCARD of its index).
func (s *Store) CountDeliveries(ctx context.Context, state sessiond.DeliveryState) (int, error) {
	const op = "count deliveries"
	if err := ctxErr(ctx, op); err != nil {
		return 0, err
	}
	n, err := s.client.Do(ctx, s.client.B().Zcard().Key(s.obState(state)).Build()).AsInt64()
	if err != nil {
		return 0, s.fail(op, err)
	}
	return int(n), nil
}

// DeleteDeliveriesBefore deletes up to limit delivered or dead deliveries
// whose UpdatedAt is before before, oldest first, and returns how many.
// Pending deliveries are never deleted. ErrInvalidArgument if limit is not
// positive.
func (s *Store) DeleteDeliveriesBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	const op = "delete deliveries"
	if err := ctxErr(ctx, op, sessiond.CheckLimit(limit)); err != nil {
		return 0, err
	}
	return s.deleteBefore(ctx, op, deleteDeliveriesScript, []string{s.obDone()}, s.obBase, before, limit, deliveryBatch)
}

// decDeliveries decodes {id, fields…, id, …}.
func (s *Store) decDeliveries(op string, reply []rueidis.RedisMessage) ([]sessiond.Delivery, error) {
	const stride = 1 + nDeliveryFields
	if len(reply)%stride != 0 {
		return nil, s.fail(op, errCorrupt)
	}
	out := make([]sessiond.Delivery, 0, len(reply)/stride)
	for i := 0; i < len(reply); i += stride {
		var v [nDeliveryFields]string
		for j := range v {
			v[j], _ = field(&reply[i+1+j])
		}
		id, _ := field(&reply[i])
		attempts, err := atoi(v[4])
		if err != nil {
			return nil, s.fail(op, errCorrupt)
		}
		d := sessiond.Delivery{
			ID: id, Endpoint: v[0], EventID: v[1], State: sessiond.DeliveryState(v[3]),
			Attempts: int(attempts), LastError: v[6],
		}
		if v[2] != "" {
			d.Payload = []byte(v[2])
		}
		var errs [3]error
		d.NextAttemptAt, errs[0] = decTime(v[5])
		d.CreatedAt, errs[1] = decTime(v[7])
		d.UpdatedAt, errs[2] = decTime(v[8])
		for _, e := range errs {
			if e != nil {
				return nil, s.fail(op, errCorrupt)
			}
		}
		out = append(out, d)
	}
	return out, nil
}
