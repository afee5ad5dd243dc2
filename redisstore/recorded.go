package redisstore

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

// A change and its records (its events and their webhook deliveries) in
// one script, so a crash cannot keep one without the other: the session
// lives in its subject's slot, the event log and the outbox each in a slot
// of their own, and only a Redis that is not a Cluster runs a script over
// keys of several slots. So outside a Cluster the change's script writes
// its records; on a Cluster it keeps them pending in its own slot, and the
// store moves them on (pending.go; docs/redisstore.md, "Events written
// with their change").

var _ sessiond.ChangeRecorder = (*Store)(nil)

// WritesChangeEvents reports that SwapRefresh and the *Recorded methods
// store the records they carry with the change, in its own script: on a
// Redis Cluster, pending in the change's slot until moved (pending.go).
func (s *Store) WritesChangeEvents() bool { return true }

// recordsLua defines what the scripts that write a change with its records
// share. A records block in ARGV is: the number n of event strings, n
// strings (9 per event, as append_events takes them), the number m of
// delivery strings, m strings (9 per delivery, as enqueue takes them).
// The six record keys start at KEYS[j]: event IDs, event times, odd event
// IDs, outbox due, outbox pending, outbox done.
const recordsLua = agedLua + eventPrelude + outboxPrelude + appendEventsFn + enqueueFn + `
-- write_block stores the records block at a[i] and returns the index after it.
local function write_block(j, a, i, evbase, obbase, maxage)
  local ne = tonumber(a[i])
  if ne > 0 then append_events(KEYS[j], KEYS[j + 1], KEYS[j + 2], evbase, maxage, a, i + 1, i + ne) end
  i = i + 1 + ne
  local nd = tonumber(a[i])
  if nd > 0 then enqueue(KEYS[j + 3], KEYS[j + 4], KEYS[j + 5], obbase, maxage, a, i + 1, i + nd) end
  return i + 1 + nd
end
-- skip_block returns the index after the records block at a[i].
local function skip_block(a, i)
  i = i + 1 + tonumber(a[i])
  return i + 1 + tonumber(a[i])
end
`

// swapReservedScript is the swap outside a Cluster: it reserves the next
// token's route key (SET NX, which a Cluster sends as a command of its own
// first), runs swapScript and, when the swap succeeds, stores the records
// block and follows the new idle expiry in the global indexes (activity,
// which a Cluster sends as a script of its own); so a refresh is one
// script, one round trip after its lookup. When the route key exists it
// changes nothing and answers {"taken"}; when the swap fails it deletes
// the key it reserved.
//
//	KEYS: session key, the six record keys, the next token's route key,
//	      GC index, expiry index, strategies
//	ARGV: swapScript's seven, event log base, outbox base, maximum age,
//	      route value, route expiry (unix ms), live index base, member,
//	      records block
var swapReservedScript = newPairedScript(recordsLua + activityFn + `
if not redis.call('SET', KEYS[8], ARGV[11], 'NX', 'PXAT', ARGV[12]) then return {'taken'} end
local function change()
` + swapBody + `
end
local r = change()
if r[1] == 'ok' then
  write_block(2, ARGV, 15, ARGV[8], ARGV[9], ARGV[10])
  activity(KEYS[9], KEYS[10], KEYS[11], ARGV[13], ARGV[14], ARGV[7], r[4], r[3])
else
  redis.call('DEL', KEYS[8])
end
return r
`)

// touchRecordedScript is touchScript outside a Cluster: when the session
// is there and not revoked, it also stores the records block and follows
// the new idle expiry in the global indexes (activity), so a refresh
// without rotation is one script, as a swap is.
//
//	KEYS: session key, the six record keys, GC index, expiry index,
//	      strategies
//	ARGV: last active, idle expiry, event log base, outbox base, maximum
//	      age, live index base, member, records block
//	→ as touchScript
var touchRecordedScript = rueidis.NewLuaScript(recordsLua + activityFn + `
local function change()
` + touchBody + `
end
local r = change()
if r[1] == 'ok' then
  write_block(2, ARGV, 8, ARGV[3], ARGV[4], ARGV[5])
  activity(KEYS[8], KEYS[9], KEYS[10], ARGV[6], ARGV[7], ARGV[2], r[4], r[3])
end
return r
`)

// victimsReadyLua defines victims_ready for createBody: when the caller
// wants the evicted sessions' records (wanted), it reports whether the
// first n sessions found to evict are all prepared (in prepared).
const victimsReadyLua = `
local victims_ready = nil
if wanted then
  victims_ready = function(found, n)
    for k = 1, n do
      if not prepared[found[k].id] then return false end
    end
    return true
  end
end
`

// createRecordedScript is createScript outside a Cluster, where one script
// does all of a login: it reserves the route keys of the session ID and of
// the tokens (SET NX; {"conflict"} when one exists), stores the session,
// the records of its creation and, for every session it evicts, the
// records block prepared for that session, and enters the session in the
// global indexes (index_session). When a session it must evict has no
// block, it changes nothing and answers {"prepare", id, expiry, ...}: the
// sessions to evict, for which the caller prepares blocks and calls
// again. Whenever it does not store the session it deletes the route keys
// it reserved. It records (recordFn) the sessions it evicts, and the
// session when it is created revoked, as revocations: their index entries
// and feed messages go with them.
//
//	KEYS: session key, subject index, the six record keys, GC index,
//	      expiry index, revocation index, strategies, then the route keys:
//	      the session ID's, then each token's
//	ARGV: createScript's, then event log base, outbox base, maximum age
//	      ("0": no sweep), victim records ("1": wanted), the number of
//	      prepared victims, the session ID's route value (its tag), the
//	      tokens' route value, live index base, member, earliest expiry
//	      (µs), strategy, live ("1"/"0"), sweep dead sessions ("1"/"0"),
//	      channel, per prepared victim its ID and records block, then the
//	      records block of the creation
var createRecordedScript = rueidis.NewLuaScript(prelude + recordsLua + indexFn + recordFn + `
local h = 10 + tonumber(ARGV[9])
local evbase, obbase, maxage = ARGV[h], ARGV[h + 1], ARGV[h + 2]
local reserved = {}
for k = 13, #KEYS do
  local v = ARGV[h + 6]
  if k == 13 then v = ARGV[h + 5] end
  if not redis.call('SET', KEYS[k], v, 'NX', 'PXAT', ARGV[6]) then
    if #reserved > 0 then redis.call('DEL', unpack(reserved)) end
    return {'conflict'}
  end
  reserved[#reserved + 1] = KEYS[k]
end
local prepared = {}
local i = h + 14
for _ = 1, tonumber(ARGV[h + 4]) do
  prepared[ARGV[i]] = i + 1
  i = skip_block(ARGV, i + 1)
end
local main = i
local wanted = ARGV[h + 3] == '1'
` + victimsReadyLua + `
local function change()
` + createBody + `
end
local r = change()
if r[1] == 'ok' then
  write_block(3, ARGV, main, evbase, obbase, maxage)
  if victims_ready then
    for k = 2, #r, 2 do write_block(3, ARGV, prepared[r[k]], evbase, obbase, maxage) end
  end
  index_session(KEYS[9], KEYS[10], KEYS[11], KEYS[12], ARGV[h + 7], ARGV[h + 8], ARGV[h + 9], ARGV[5], ARGV[6], ARGV[h + 10], ARGV[h + 11], true, ARGV[h + 12] == '1')
  local revoked = ARGV[h + 11] ~= '1'
  if #r > 1 or revoked then
    rec_open(KEYS[11], KEYS[9], KEYS[10], KEYS[12], ARGV[h + 13], ARGV[h + 7])
    for k = 2, #r, 2 do rec_revoked(ARGV[h + 5], r[k], ARGV[2], ARGV[4], 'limit', r[k + 1]) end
    if revoked then
      -- Nil when Redis has expired the hash at once (hash_until): its
      -- expiry was past by Redis's clock, nothing is left to record.
      local g = redis.call('HMGET', KEYS[1], 'ra', 'rr')
      if g[1] then rec_revoked(ARGV[h + 5], ARGV[1], ARGV[2], g[1], g[2], ARGV[5]) end
    end
    rec_close()
  end
else
  redis.call('DEL', unpack(reserved))
end
return r
`)

// revokeRecordedScript is revokeScript outside a Cluster, for Revoke (an
// empty records block) and RevokeRecorded: when it revokes the session it
// stores the records block and adds "1" to its answer; and it records the
// revocation (recordFn), whether this call made it or found it made, so
// that the revocation, its records, its index entries and its feed message
// are one step, and a node that dies once it has run has told every other.
// A revocation found made is published only if the revocation index lacks
// it: its record was lost (a Cluster's path, or a redisstore from before
// this script, killed between its two steps).
//
//	KEYS: session key, the six record keys, revocation index, GC index,
//	      expiry index, strategies
//	ARGV: revoked at, reason, event log base, outbox base, maximum age,
//	      channel, live index base, tag, ID, records block
//	→ nil (not found) | the session's fields, in sessionFields order,
//	  and "1" if this call revoked it
var revokeRecordedScript = newPairedScript(allowOOM + prelude + recordsLua + recordFn + revokeLua(
	`write_block(2, ARGV, 10, ARGV[3], ARGV[4], ARGV[5])`, `
rec_open(KEYS[8], KEYS[9], KEYS[10], KEYS[11], ARGV[6], ARGV[7])
rec_revoked(ARGV[8], ARGV[9], f[1], f[11], f[12], f[6])
rec_close()`))

// revokeLua is the source of revokeRecordedScript and revokePendingScript:
// store is the statement that stores the records when the call revokes,
// record what runs next whenever the session is revoked (by this call or
// before it), with its fields in f.
func revokeLua(store, record string) string {
	return `
local f = redis.call('HMGET', KEYS[1], 'sub', 'str', 'c', 'la', 'ie', 'e', 'p', 'ip', 'ua', 'cl', 'ra', 'rr')
if not f[6] then return false end
if f[11] == '0' then
  redis.call('HSET', KEYS[1], 'ra', ARGV[1], 'rr', ARGV[2])
  f[11], f[12] = ARGV[1], ARGV[2]
  ` + store + `
  f[13] = '1'
end
` + record + `
return f
`
}

// recordKeys are the six record keys, in the order the scripts take them
// (built once, in New; clipped, so appending to them copies).
func (s *Store) recordKeys() []string { return slices.Clip(s.recKeys) }

// recordsHeader appends what every recorded script takes before its
// blocks: the event log base, the outbox base, the maximum age; "0", which
// skips the safety-net sweeps, unless sweep.
func (s *Store) recordsHeader(args []string, sweep bool) []string {
	return append(args, s.evBase, s.obBase, s.maxAge(sweep))
}

// maxAge is the maximum age argument of a script that writes records: "0"
// (no sweep) unless sweep.
func (s *Store) maxAge(sweep bool) string {
	if !sweep {
		return "0"
	}
	return s.maxEventAge
}

// records counts the records of blocks (records blocks, as appendBlock
// lays them out) for sweepDue.
func records(blocks ...[]string) int {
	n := 0
	for _, b := range blocks {
		n += (len(b) - 2) / recordStride
	}
	return n
}

// recordStride is how many strings an event or a delivery takes in a
// script's arguments.
const recordStride = 9

// appendBlock appends rec as a records block to args. ErrInvalidArgument
// as AppendEvents and EnqueueDeliveries.
func appendBlock(args []string, rec sessiond.ChangeRecords) ([]string, error) {
	if err := sessiond.CheckChangeEvents(rec.Events, rec.Deliveries); err != nil {
		return nil, err
	}
	at := len(args)
	args, err := appendEventArgs(append(args, ""), rec.Events)
	if err != nil {
		return nil, err
	}
	args[at] = itoa(int64(len(args) - at - 1))
	at = len(args)
	args = appendDeliveryArgs(append(args, ""), rec.Deliveries)
	args[at] = itoa(int64(len(args) - at - 1))
	return args, nil
}

// createRecords are the records CreateRecorded writes with a session.
type createRecords struct {
	main     sessiond.ChangeRecords
	mainArgs []string // main as a records block
	evicted  func(sessiond.Revocation) sessiond.ChangeRecords
	victims  map[string][]string // records block per evicted session ID
	order    []string            // victims' IDs, in the order prepared
}

// maxPrepare bounds the calls of createRecordedScript that find sessions
// to evict it has no records for. The script asks for its victims and the
// sessiond.MaxLimitEvictions live sessions after them (all of the
// subject's unless it is far over its limit), so a call after the first
// finds one unprepared only when a concurrent login of the same subject
// committed in between: the bound is how many such logins one may lose to.
const maxPrepare = 64

// errBadRecords marks a record CreateRecorded's evicted returned that the
// store refuses: nothing was changed.
type errBadRecords struct{ err error }

func (e errBadRecords) Error() string { return e.err.Error() }
func (e errBadRecords) Unwrap() error { return e.err }

// createExec runs createRecordedScript (outside a Cluster) on keys, the
// createScript arguments args and the fixed arguments that follow the
// records header (sweep: with the safety-net sweeps of the records), until the sessions it evicts all have their records.
func (s *Store) createExec(ctx context.Context, keys, args, fixed []string, sweep bool, sess *sessiond.Session, rec *createRecords) ([]rueidis.RedisMessage, error) {
	for range maxPrepare {
		a := s.recordsHeader(slices.Clip(args), sweep)
		a = append(a, boolArg(rec.evicted != nil), itoa(int64(len(rec.order))))
		a = append(a, fixed...)
		for _, id := range rec.order {
			a = append(append(a, id), rec.victims[id]...)
		}
		a = append(a, rec.mainArgs...)
		reply, err := createRecordedScript.Exec(ctx, s.client, keys, a).ToArray()
		if err != nil {
			return nil, err
		}
		if status, _ := field(&reply[0]); status != "prepare" {
			return reply, nil
		}
		for k := 1; k+1 < len(reply); k += 2 {
			id, _ := field(&reply[k])
			e, _ := field(&reply[k+1])
			exp, err := decTime(e)
			if err != nil {
				return nil, errCorrupt
			}
			if _, ok := rec.victims[id]; ok {
				continue
			}
			block, err := appendBlock(nil, rec.evicted(sessiond.Revocation{
				SessionID: sessiond.SessionID(id), Subject: sess.Subject,
				RevokedAt: sess.CreatedAt, ExpiresAt: exp, Reason: sessiond.ReasonLimit,
			}))
			if err != nil {
				return nil, errBadRecords{err}
			}
			if rec.victims == nil {
				rec.victims = map[string][]string{}
			}
			rec.victims[id] = block
			rec.order = append(rec.order, id)
		}
	}
	return nil, fmt.Errorf("sessions to evict kept changing: %w", sessiond.ErrConflict)
}

// CreateRecorded stores sess and its tokens as Create (max 0) or
// CreateLimited (max > 0) does and, in the same script, rec and the
// records evicted returns for each evicted session (on a Cluster: keeps
// them pending in the subject's slot, then moves them; pending.go); see
// sessiond.ChangeRecorder.
func (s *Store) CreateRecorded(ctx context.Context, sess *sessiond.Session, max int, evict bool, rec sessiond.ChangeRecords,
	evicted func(sessiond.Revocation) sessiond.ChangeRecords, tokens ...sessiond.Token) ([]sessiond.Revocation, error) {
	const op = "create session"
	if max != 0 {
		if err := sessiond.CheckMax(max); err != nil {
			return nil, wrap(op, err)
		}
	}
	block, err := appendBlock(nil, rec)
	if err != nil {
		return nil, wrap(op, err)
	}
	cr := &createRecords{main: rec, mainArgs: block, evicted: evicted, victims: map[string][]string{}}
	return s.create(ctx, op, sess, max, evict, tokens, cr)
}

// RevokeRecorded revokes as Revoke does and, when this call revokes the
// session, stores revoked(session) in the same script (on a Cluster: keeps
// it pending in the session's slot, then moves it); see
// sessiond.ChangeRecorder. It reads the session first, to prepare the
// records: what they say of it (subject, client, creation) never changes.
func (s *Store) RevokeRecorded(ctx context.Context, id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason,
	revoked func(*sessiond.Session) sessiond.ChangeRecords) (*sessiond.Session, bool, error) {
	const op = "revoke session"
	if err := ctxErr(ctx, op); err != nil {
		return nil, false, err
	}
	if at.IsZero() {
		return nil, false, fmt.Errorf("redisstore: %s: %w", op, &sessiond.ArgumentError{Field: "at", Msg: "must be set"})
	}
	cur, err := s.Get(ctx, id)
	if err != nil {
		return nil, false, err
	}
	if cur.Revoked() {
		// Revoked already: Revoke records and publishes it again if an
		// earlier call could not.
		sess, err := s.Revoke(ctx, id, at, reason)
		return sess, false, err
	}
	after := *cur
	after.RevokedAt, after.RevokeReason = at, reason
	var block []string
	if revoked != nil {
		if block, err = appendBlock(nil, revoked(&after)); err != nil {
			return nil, false, wrap(op, err)
		}
	} else {
		block = []string{"0", "0"}
	}
	for fresh := false; ; fresh = true {
		tag, remembered, err := s.route(ctx, s.sidKey(id), fresh)
		if err != nil {
			return nil, false, s.fail(op, err)
		}
		key := s.sessKey(tag, id)
		var (
			f    []rueidis.RedisMessage
			pend pending // on a Cluster, with records
		)
		if s.crossSlot {
			// One script: the revocation, its records, its index entries
			// and its feed message.
			f, err = s.revokeRecorded(ctx, key, tag, id, at, reason, block, s.sweepDue(records(block)))
		} else {
			keys, args := []string{key}, []string{encTime(at), string(reason)}
			if records(block) > 0 {
				if pend, err = s.pendFor(tag, block); err != nil {
					return nil, false, wrap(op, err)
				}
				keys, args = append(keys, pend.key), append(args, pend.field, pend.payload)
			}
			f, err = s.execAcked(ctx, op, revokePendingScript, rueidis.LuaExec{Keys: keys, Args: args})[0].ToArray()
		}
		if err != nil {
			if rueidis.IsRedisNil(err) && remembered {
				continue
			}
			if rueidis.IsRedisNil(err) {
				return nil, false, fmt.Errorf("redisstore: %s: %w", op, sessiond.ErrNotFound)
			}
			return nil, false, s.fail(op, err)
		}
		s.wrote(key)
		sess, ok, err := decSession(id, f)
		switch {
		case err != nil:
			return nil, false, s.fail(op, err)
		case !ok:
			return nil, false, fmt.Errorf("redisstore: %s: %w", op, sessiond.ErrNotFound)
		}
		if err := s.killedAfterRevoke(); err != nil {
			return nil, false, err
		}
		recorded := len(f) > nSessionFields
		if recorded && pend.key != "" {
			s.settle(ctx, op, pend)
		}
		if !s.crossSlot {
			if err := s.recordAcked(ctx, op, []sessiond.Revocation{revocationOf(sess)}, true); err != nil {
				return nil, false, s.fail(op+": record", err)
			}
		}
		return sess, recorded, nil
	}
}

// revokeRecorded runs revokeRecordedScript (outside a Cluster) on session
// id, whose key is key and tag tag, with the records block block (sweep:
// with the safety-net sweeps of the records).
func (s *Store) revokeRecorded(ctx context.Context, key, tag string, id sessiond.SessionID, at time.Time, reason sessiond.RevokeReason,
	block []string, sweep bool) ([]rueidis.RedisMessage, error) {
	keys := append(append(append(make([]string, 0, 11), key), s.recKeys...), s.recordIndexKeys()...)
	args := s.recordsHeader(append(make([]string, 0, 9+len(block)), encTime(at), string(reason)), sweep)
	args = append(append(args, s.channel, s.liveBase, tag, string(id)), block...)
	return s.execAcked(ctx, "revoke session", revokeRecordedScript, rueidis.LuaExec{Keys: keys, Args: args})[0].ToArray()
}

var _ sessiond.TouchRecorder = (*Store)(nil)

// TouchRecorded records activity as Touch does and, in the same script,
// rec; see sessiond.TouchRecorder. On a Cluster, where the Manager does
// not call it (WritesChangeEvents reports false), it is Touch and then rec
// stored after it, not atomically, as the other recorded writes do there.
// rec is checked first, so a record it refuses changes nothing.
func (s *Store) TouchRecorded(ctx context.Context, id sessiond.SessionID, lastActive, idleExpires time.Time, rec sessiond.ChangeRecords) error {
	const op = "touch session"
	block, err := appendBlock(nil, rec)
	if err != nil {
		return wrap(op, err)
	}
	return s.touch(ctx, id, lastActive, idleExpires, block)
}

var _ sessiond.SubjectChangeRecorder = (*Store)(nil)

// revokeSubjectRecordedScript revokes every live session of a subject
// (outside a Cluster: it records what it revokes, rec_subject, so the
// revocations, their index entries and their feed messages are one step)
// and stores the records block of the revocation with it, in one script
// over the whole subject index (the Manager walks a subject with
// RevokeSubjectBatch instead). The block names the sessions it
// was prepared for: when the sessions to revoke are not exactly those, the
// script changes nothing and answers {"prepare", id, expiry, created, ...}
// with the sessions it would revoke, for which the caller prepares a block
// and calls again. Otherwise it answers {"ok", id, expiry, created, ...}.
//
//	KEYS: subject index, the six record keys, revocation index, GC index,
//	      expiry index, strategies
//	ARGV: base, subject, except id, has except ("1"/"0"), at, reason,
//	      event log base, outbox base, maximum age, the number n of
//	      prepared sessions, their n IDs, the records block, channel, live
//	      index base, tag
var revokeSubjectRecordedScript = newPairedScript(allowOOM + prelude + recordsLua + recordFn + recordSubjectFn +
	revokeSubjectLua(`if n > 0 then write_block(2, ARGV, 11 + n, ARGV[7], ARGV[8], ARGV[9]) end
rec_subject(8, ARGV[#ARGV - 2], ARGV[#ARGV - 1], ARGV[#ARGV], out)`))

// subjectRecordedMax bounds the members of a subject index (after its
// trim: sessions not yet past their absolute expiry, live or revoked)
// that RevokeSubjectRecorded revokes in its one script: a subject batch's
// sessions, so that the script, which reads every member and writes its
// records with each session it revokes, holds Redis about as long as a
// batch does: 4.1–5.2 ms with an event and a delivery a session, where
// 256 took 6.5–21 ms (docs/PERFORMANCE.md).
const subjectRecordedMax = subjectBatch

// revokeSubjectLua is the source of revokeSubjectRecordedScript and
// revokeSubjectPendingScript: store is the statement that stores the
// records (n the number of prepared sessions) once the sessions are
// revoked. A subject index of more than subjectRecordedMax members is
// not read: the script changes nothing and answers {"too_many", count}.
func revokeSubjectLua(store string) string {
	return `
trim(KEYS[1], ARGV[5])
local size = redis.call('ZCARD', KEYS[1])
if size > ` + strconv.Itoa(subjectRecordedMax) + ` then return {'too_many', tostring(size)} end
local n = tonumber(ARGV[10])
local prepared = {}
-- The first try takes every live session. A later one takes those created
-- by the revocation's time or by the latest of the sessions the try
-- before found, whichever is later: the logins made meanwhile would
-- otherwise change the set on every try (a subject that keeps logging in
-- could hold its revocation off for good), while a session that existed
-- when the revocation began is revoked even if it is dated after it (a
-- login dated past a kill switch's watermark, a node whose clock is ahead).
local born_by = nil
if n > 0 then
  born_by = tonumber(ARGV[5])
  for i = 11, 10 + n do
    prepared[ARGV[i]] = true
    local c = tonumber(redis.call('HGET', ARGV[1] .. ARGV[i], 'c'))
    if c and c > born_by then born_by = c end
  end
end
local found, out = subject_live(KEYS[1], ARGV[1], ARGV[2], ARGV[4] == '1' and ARGV[3], tonumber(ARGV[5]), born_by)
local ready = #found == n
for i = 1, #out, 3 do
  if not prepared[out[i]] then ready = false end
end
if not ready then
  table.insert(out, 1, 'prepare')
  return out
end
for _, k in ipairs(found) do redis.call('HSET', k, 'ra', ARGV[5], 'rr', ARGV[6]) end
` + store + `
table.insert(out, 1, 'ok')
return out
`
}

// RevokeSubjectRecorded revokes what RevokeSubject would and, when it
// revokes a session, stores revoked(revocations) in the same script (not
// on a Cluster: there, after it); see sessiond.SubjectChangeRecorder. The
// script refuses a block prepared for other sessions than it would revoke
// (a concurrent login or revocation of the subject), and revoked is then
// called again with the sessions it named; in the usual case that is two
// round trips, the first finding the sessions. Unlike RevokeSubject it is
// one script over every session of the subject: the interface wants every
// revocation and its records in one step, all or nothing, which a walk
// in batches cannot give (a failure part way leaves the batches before
// revoked). So that script is bounded instead: a subject whose index
// holds more than 128 sessions not yet past their absolute expiry (live
// or revoked) is refused with ErrUnsupported, nothing changed; one script
// over 100,000 held Redis for seconds. RevokeSubjectBatch, which the
// Manager uses, walks a subject of any size.
func (s *Store) RevokeSubjectRecorded(ctx context.Context, subject string, except sessiond.SessionID, at time.Time,
	reason sessiond.RevokeReason, revoked func([]sessiond.Revocation) sessiond.ChangeRecords) ([]sessiond.Revocation, error) {
	const op = "revoke subject"
	if err := ctxErr(ctx, op); err != nil {
		return nil, err
	}
	if at.IsZero() {
		return nil, fmt.Errorf("redisstore: %s: %w", op, &sessiond.ArgumentError{Field: "at", Msg: "must be set"})
	}
	tag := tagOf(subject)
	// Outside a Cluster the script records the revocations too.
	script, keys := revokeSubjectRecordedScript, append(append([]string{s.idxKey(tag)}, s.recordKeys()...), s.recordIndexKeys()...)
	if !s.crossSlot {
		// On a Cluster the records are kept pending in the subject's slot
		// by the same script, then moved (settle).
		script, keys = revokeSubjectPendingScript, []string{s.idxKey(tag), s.pendingKey(slotOf(tag))}
	}
	head := s.recordsHeader([]string{s.sessBase(tag), subject, string(except), boolArg(except != ""), encTime(at), string(reason)}, true)
	var (
		ids   []string
		block = []string{"0", "0"}
		pend  pending // on a Cluster, once prepared with records
	)
	for try := range maxPrepare {
		args := append(append(slices.Clip(head), itoa(int64(len(ids)))), ids...)
		if s.crossSlot {
			args = append(append(args, block...), s.channel, s.liveBase, tag)
		} else {
			args = append(args, pend.field, pend.payload)
		}
		// The first try, prepared for no session, revokes none: it does
		// not wait for replicas, which would double the wait while they
		// are down.
		var res rueidis.RedisResult
		if try == 0 {
			res = script.Exec(ctx, s.client, keys, args)
		} else {
			res = s.execAcked(ctx, op, script, rueidis.LuaExec{Keys: keys, Args: args})[0]
		}
		reply, err := res.ToArray()
		if err != nil {
			return nil, s.fail(op, err)
		}
		status, _ := field(&reply[0])
		if status == "too_many" {
			size, _ := field(&reply[1])
			return nil, fmt.Errorf("redisstore: %s: %s sessions in the subject index, more than the %d one script revokes with their records (it would hold Redis for long); RevokeSubjectBatch walks any number: %w",
				op, size, subjectRecordedMax, sessiond.ErrUnsupported)
		}
		revs, err := subjectRevocations(reply[1:], subject, at, reason)
		if err != nil {
			return nil, s.fail(op, err)
		}
		if status == "ok" {
			for _, r := range revs {
				s.wrote(s.sessKey(tag, r.SessionID))
			}
			if err := s.killedAfterRevoke(); err != nil {
				return nil, err
			}
			if len(revs) > 0 && pend.key != "" {
				s.settle(ctx, op, pend)
			}
			if !s.crossSlot {
				if err := s.recordAcked(ctx, op, revs, true); err != nil {
					s.keepUnrecorded(revs) // for the next batch or sweep to record
					return nil, s.fail(op+": record", err)
				}
			}
			return revs, nil
		}
		ids = ids[:0]
		for _, r := range revs {
			ids = append(ids, string(r.SessionID))
		}
		rec := sessiond.ChangeRecords{}
		if revoked != nil {
			rec = revoked(revs)
		}
		if block, err = appendBlock(nil, rec); err != nil {
			return nil, wrap(op, err)
		}
		pend = pending{}
		if !s.crossSlot && records(block) > 0 {
			if pend, err = s.pendFor(tag, block); err != nil {
				return nil, wrap(op, err)
			}
		}
	}
	return nil, fmt.Errorf("redisstore: %s: sessions to revoke kept changing: %w", op, sessiond.ErrConflict)
}
