package redisstore

import (
	"context"
	"crypto/rand"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

var _ sessiond.BulkRevoker = (*Store)(nil)

// Bulk revocation (the incident kill switch) and the live-session count.
// See docs/redisstore.md, "Bulk revocation" and "Live sessions".

const (
	// bulkBatch bounds the sessions of one revocation script on a
	// Cluster (revokeRefsScript), and bulkSubjects the subjects, so no
	// script holds Redis for long.
	bulkBatch    = 250
	bulkSubjects = 256
	// bulkScan is the members of the expiry index a pageScript call
	// returns.
	bulkScan = 5000
	// bulkWindow: on a Cluster, where a script touches one slot, this
	// many subjects are grouped by slot at once, so that subjects sharing
	// a slot share a script.
	bulkWindow = 16384
	// bulkSessionWindow: on a Cluster, the sessions found in the expiry
	// index wait, grouped by slot, until this many do (or a slot has
	// bulkBatch): a million sessions make scripts of about 60, where one
	// session a script cost about 30 µs a session (docs/PERFORMANCE.md).
	// About 80 MB at most with the prefix "sessiond" (measured: a key and
	// its slice entry a session).
	bulkSessionWindow = 1 << 20
	// slotStride orders the slots a window's scripts go in: odd, so every
	// slot comes once, and about a third of them, so that consecutive
	// scripts go to different masters of three (or more).
	slotStride = 5461
	// bulkPipeline bounds the scripts of one pipelined round trip on a
	// Cluster.
	bulkPipeline = 512
	// bulkWorkers round trips are in flight at once.
	bulkWorkers = 4
	// walkBatch bounds the sessions of one walkRevoke script: about 2 ms
	// of Redis at 9 µs a session, so that a script descheduled on a busy
	// host still ends well under 10 ms.
	walkBatch = 200
	// walkInFlight walkRevoke scripts at least are queued at once, so
	// that Redis starts the next as soon as one ends instead of waiting a
	// round trip for it; walkDepth queues more when the round trip is
	// longer than a script (walkdepth.go).
	walkInFlight = 2
	// walkTTL keeps the position of a walk that stopped part way, for a
	// retry of the same revocation to resume from.
	walkTTL = time.Hour
)

// revokeRefsScript revokes the given sessions that are live at a time
// and, with an issued-before bound, were created before it.
//
//	KEYS: session keys
//	ARGV: at (µs), reason, issued before (µs, "": any)
//	→ {id, subject, absolute expiry, ...} of the sessions it revoked
var revokeRefsScript = newPairedScript(allowOOM + prelude + `
local at = tonumber(ARGV[1])
local ib = false
if ARGV[3] ~= '' then ib = tonumber(ARGV[3]) end
local out = {}
for i = 1, #KEYS do
  local f = redis.call('HMGET', KEYS[i], 'sub', 'ra', 'ie', 'e', 'c')
  if f[4] and live(f[2], f[3], f[4], at) and (not ib or tonumber(f[5]) < ib) then
    redis.call('HSET', KEYS[i], 'ra', ARGV[1], 'rr', ARGV[2])
    out[#out + 1] = string.match(KEYS[i], '}:s:(.*)$')
    out[#out + 1] = f[1]
    out[#out + 1] = f[4]
  end
end
return out
`)

// revokeAsideScript is revokeRefsScript for a Cluster's revocation of
// every session once bulkBegin has set the live indexes aside and entered
// the incident in the bulk index: nothing goes to the global indexes one
// session at a time (on a Cluster they are all in one slot, so that
// would be every revocation's work on one master), and the reply is a
// count. It answers the sessions it leaves live (created at or after the
// issued-before bound) for the caller to put back in the fresh live
// indexes, as walkRevokeScript does itself.
//
//	KEYS: session keys (one slot)
//	ARGV: at (µs), reason, issued before (µs, "": any), "1": no
//	      subjects
//	→ {count revoked, count kept, then per kept session: member, strategy,
//	  idle expiry, absolute expiry; then each distinct subject revoked
//	  (none with no subjects)}
var revokeAsideScript = newPairedScript(allowOOM + `
local at, atn = ARGV[1], tonumber(ARGV[1])
local ib = false
if ARGV[3] ~= '' then ib = tonumber(ARGV[3]) end
local want = ARGV[4] ~= '1'
local n, kept, subs, seen = 0, {}, {}, {}
-- Every session given has an absolute expiry after at (the caller takes
-- them from the expiry index): only the idle expiry is read for liveness.
-- Each field read is a lookup of its own in a session's hash: only those
-- needed.
local fields, ic, isub = {'ra', 'ie'}, 0, 0
if ib then fields[#fields + 1] = 'c'; ic = #fields end
if want then fields[#fields + 1] = 'sub'; isub = #fields end
for i = 1, #KEYS do
  local f = redis.call('HMGET', KEYS[i], unpack(fields))
  if f[1] == '0' and atn < tonumber(f[2]) then
    if not ib or tonumber(f[ic]) < ib then
      redis.call('HSET', KEYS[i], 'ra', at, 'rr', ARGV[2])
      n = n + 1
      if want and not seen[f[isub]] then
        seen[f[isub]] = true
        subs[#subs + 1] = f[isub]
      end
    else
      local g = redis.call('HMGET', KEYS[i], 'str', 'e')
      local tag, id = string.match(KEYS[i], '{([^}]*)}:s:(.*)$')
      kept[#kept + 1] = tag .. id
      kept[#kept + 1] = g[1]
      kept[#kept + 1] = f[2]
      kept[#kept + 1] = g[2]
    end
  end
end
local out = {n, #kept / 4}
for _, v in ipairs(kept) do out[#out + 1] = v end
for _, v in ipairs(subs) do out[#out + 1] = v end
return out
`)

// walkRevokeScript revokes the sessions live at a time and, with an
// issued-before bound, created before it, walking the expiry index itself,
// for a Redis that is not a Cluster (the session keys and the global
// indexes are in different slots). Each call revokes the next sessions (at
// most a given number) after the position the walk hash holds and moves
// it on, so calls queued back to back go through the index in turn and
// nothing crosses the network per session. It also records what it
// revokes: the sessions go out of the live indexes in the same call, so a
// batch is revoked and recorded or neither. They do not go to the
// revocation index one by one: the incident's entry in the bulk index
// (bulkBeginScript, written before the first call) is what makes
// Revocations find them.
//
// The position is the last member walked and its score. The index is
// ordered by (score, member) and a member's score, its absolute expiry,
// never moves, so every member present for the whole walk lies after the
// position until a call walks it: it is revoked once. Members added or
// removed meanwhile may or may not be. When the last member walked has
// left the index (an expired session swept, a logout), it is put back for
// as long as it takes to read its rank, which is where the walk goes on.
// The first call starts after at: sessions whose absolute expiry is not
// after at are not live at at.
//
// Liveness comes from the index (the absolute expiry: the walk starts
// after at) and the hash (not revoked, idle expiry), so per session one
// HMGET and, if live, one HSET; the scores are read only for the last
// member (the position) and the last revoked (the bulk index's TTL).
//
//	KEYS: expiry index, walk hash, revocation index, GC index,
//	      strategies, bulk index
//	ARGV: at (µs), reason, issued before (µs, "": any), live index base,
//	      session key base ("<prefix>:{"), batch size, walk TTL (ms),
//	      "1": no subjects
//	→ {count revoked, "1" when the walk is over else "0", distinct
//	  subject (none with no subjects), ...}
var walkRevokeScript = newPairedScript(allowOOM + prelude + nextPageFn + `
local exp, walk, rev, gc, strats, bulk = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6]
local at, ib = ARGV[1], ARGV[3]
if ib == '' then ib = false end
local base, n = ARGV[5], tonumber(ARGV[6])
-- Without subjects, neither read 'sub' nor list it: a million distinct
-- subjects were a good part of the walk (the table, the reply, Go's map).
local want = ARGV[8] ~= '1'
local isub = 3
if ib then isub = 4 end
-- Times (decimal µs) of one length compare as strings when at and ib are
-- not negative (a negative one then sorts first, as it should), without
-- parsing them: strtod was a tenth of the script's time. (Lua compares
-- strings with strcoll, which orders digits as numbers in every locale.)
local bylen = string.byte(at, 1) ~= 45 and (not ib or string.byte(ib, 1) ~= 45)
local pos = redis.call('HMGET', walk, 'm', 's', 'd', 'a')
if pos[3] then return {0, '1'} end
local batch = next_page(exp, ARGV[1], pos[1], pos[2], n)
-- Every member from here on has an absolute expiry after at: the first
-- call starts after at and the others after a member the first found.
local refs, subs, seen = {}, {0, '0'}, {}
for i = 1, #batch do
  local m = batch[i]
  local k = base .. string.sub(m, 1, 16) .. '}:s:' .. string.sub(m, 17)
  local f
  if ib then
    if want then
      f = redis.call('HMGET', k, 'ra', 'ie', 'c', 'sub')
    else
      f = redis.call('HMGET', k, 'ra', 'ie', 'c')
    end
  elseif want then
    f = redis.call('HMGET', k, 'ra', 'ie', 'sub')
  else
    f = redis.call('HMGET', k, 'ra', 'ie')
  end
  local live, issued = f[1] == '0', true
  if live then
    local ie = f[2]
    if bylen and #ie == #at then live = at < ie else live = tonumber(at) < tonumber(ie) end
  end
  if live and ib then
    local c = f[3]
    if bylen and #c == #ib then issued = c < ib else issued = tonumber(c) < tonumber(ib) end
  end
  if not live then
    -- not live at at
  elseif issued then
    redis.call('HSET', k, 'ra', ARGV[1], 'rr', ARGV[2])
    refs[#refs + 1] = m
    if want and not seen[f[isub]] then
      seen[f[isub]] = true
      subs[#subs + 1] = f[isub]
    end
  elseif pos[4] then
    -- Live and created too late to be revoked, but its live index was
    -- set aside: it counts again (at its earliest expiry, as index does).
    local g = redis.call('HMGET', k, 'str', 'e')
    local lk, earliest = ARGV[4] .. g[1], f[2]
    if tonumber(g[2]) < tonumber(earliest) then earliest = g[2] end
    redis.call('ZADD', lk, 'NX', earliest, m)
    keep_until(lk, string.format('%d', math.ceil(tonumber(g[2]) / 1000)))
  end
end
if #refs > 0 then
  for _, st in ipairs(redis.call('SMEMBERS', strats)) do
    redis.call('ZREM', ARGV[4] .. st, unpack(refs))
  end
  -- The last revoked has the latest expiry of the batch.
  local last = redis.call('ZSCORE', exp, refs[#refs])
  keep_until(bulk, string.format('%d', math.ceil(tonumber(last) / 1000)))
end
if #batch < n then
  redis.call('HSET', walk, 'd', '1')
  subs[2] = '1'
else
  redis.call('HSET', walk, 'm', batch[n], 's', redis.call('ZSCORE', exp, batch[n]))
end
sweep(gc, exp, rev, strats, ARGV[4])
redis.call('PEXPIRE', walk, ARGV[7])
subs[1] = #refs
return subs
`)

// rankAfterFn defines rank_after, where a member that has left a sorted
// set would rank in it: the members scored below sc, then a binary search
// among those scored sc (usually none) for the first that sorts after m.
// It writes nothing, so that the scripts that only read (List,
// SubjectClients, ListPage, the Cluster's page) run read-only, on a Redis
// out of memory too; the walks used to put m back for a moment, a write
// Redis refuses then.
const rankAfterFn = `
-- sorts_after reports whether member a sorts after member b among members
-- of one score: bytes compared as unsigned, as Redis does, which Lua's
-- string comparison (strcoll, the server's locale) need not do.
local function sorts_after(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end
local function rank_after(idx, m, sc)
  local lo = redis.call('ZCOUNT', idx, '-inf', '(' .. sc)
  local hi = lo + redis.call('ZCOUNT', idx, sc, sc)
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if sorts_after(redis.call('ZRANGE', idx, mid, mid)[1], m) then hi = mid else lo = mid + 1 end
  end
  return lo
end
`

// nextPageFn defines next_page, a walk's step through the expiry index:
// the n members after the position (member m, score sc), or, with no
// position (m false or ""), the first n whose absolute expiry is after
// at. The index is ordered by (score, member) and a member's score never
// moves, so a walk that goes on from its last member returns every member
// present for the whole walk once. When the last member has left the
// index meanwhile (swept, deleted), rank_after finds where it was.
const nextPageFn = rankAfterFn + `
local function next_page(exp, at, m, sc, n)
  if not m or m == '' then
    return redis.call('ZRANGE', exp, '(' .. at, '+inf', 'BYSCORE', 'LIMIT', 0, n)
  end
  local from = redis.call('ZRANK', exp, m)
  if from then
    from = from + 1
  else
    from = rank_after(exp, m, sc)
  end
  return redis.call('ZRANGE', exp, from, from + n - 1)
end
`

// pageScript returns the next members of the expiry index for a walk
// driven from Go (on a Cluster, where the session keys are in other slots
// than the index): next_page, and the score of the last member, the
// position to pass next. Members only: ZSCAN formats every score, which
// took the index's master 1.8 ms a thousand members.
//
//	KEYS: expiry index
//	ARGV: at (µs), last member ("": none yet), its score, count
//	→ {members, score of the last (nil when none)}
var pageScript = rueidis.NewLuaScriptReadOnly(nextPageFn + `
local batch = next_page(KEYS[1], ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]))
local last = false
if #batch > 0 then last = redis.call('ZSCORE', KEYS[1], batch[#batch]) end
return {batch, last}
`)

// bulkBeginScript starts a bulk revocation without subjects (on a
// Cluster, of every session; its keys are all in the {prefix} slot): it
// enters the incident in the bulk index (member: at and a random
// suffix, score: at), which tells Revocations to look for its sessions in
// the session hashes, and, for a revocation of every session, sets each
// strategy's live index aside (RENAME, O(1)) so that the sessions it is
// about to revoke need no removal one by one: CountLive reads only the
// fresh live indexes, which gain the sessions created from now on. The
// caller deletes the set-aside indexes (UNLINK: Redis frees them in the
// background) once every batch is done. The script marks the walk hash
// (a = 1) so that the walk puts back in the fresh indexes the live
// sessions it does not revoke (created at or after the issued-before
// bound). A walk
// that is resumed (its walk hash has a position) sets nothing aside: the
// sessions behind its position are not revoked, so the fresh live indexes
// must go on counting them.
//
//	KEYS: bulk index, strategies, expiry index, walk hash
//	ARGV: at (µs), incident member, live index base, "1": set aside,
//	      walk TTL (ms)
//	→ the names the live indexes now have
var bulkBeginScript = rueidis.NewLuaScript(allowOOM + prelude + `
local bulk, strats, exp = KEYS[1], KEYS[2], KEYS[3]
redis.call('ZADD', bulk, ARGV[1], ARGV[2])
local t = redis.call('PEXPIRETIME', exp)
if t > 0 then
  keep_until(bulk, t)
elseif redis.call('PEXPIRETIME', bulk) == -1 then
  redis.call('PEXPIRE', bulk, 86400000) -- no session indexed: nothing to keep it for
end
local out = {}
local walk = KEYS[4]
if ARGV[4] == '1' and redis.call('HEXISTS', walk, 'm') == 0 and redis.call('HEXISTS', walk, 'd') == 0 then
  for _, st in ipairs(redis.call('SMEMBERS', strats)) do
    local k = ARGV[3] .. st
    if redis.call('EXISTS', k) == 1 then
      local to = k .. ':bulk:' .. ARGV[2]
      redis.call('RENAME', k, to)
      out[#out + 1] = to
    end
  end
  if #out > 0 then
    redis.call('HSET', walk, 'a', '1')
    redis.call('PEXPIRE', walk, ARGV[5])
  end
end
return out
`)

// revokeSubjectsLua is the source of the kill switch's subject scripts:
// they revoke the sessions of the given subjects that are live at a time
// and, with an issued-before bound, were created before it, one step of
// each subject's walk through its index (walk_subject, as a subject batch
// walks it), the steps of one script sharing a bound of subjectBatch
// sessions revoked and four times as many members read, so that no
// script holds Redis for long however many sessions a subject has (one
// over a subject's whole index held it for seconds). A subject the script
// reaches with nothing left of its bounds is answered as it came, with
// more, for a later script. record is what runs once a step has revoked
// sessions (found, their keys; out, their rows; tag, subject), and
// finish what runs after the last step.
//
//	KEYS: subject indexes, then the script's own
//	ARGV: prefix, at (µs), reason, issued before (µs, "": any), limit,
//	      budget, live index base, then per subject index: tag, subject,
//	      position member ("": none), its score, end member ("": none
//	      yet), its score
//	→ per subject: more ("1"/"0"), position member, its score, end
//	  member, its score, the number k of sessions revoked, then k × {id,
//	  absolute expiry}
func revokeSubjectsLua(record, finish string) string {
	return allowOOM + prelude + recordFn + walkSubjectFn + `
local at = ARGV[2]
local ib = ARGV[4] ~= '' and tonumber(ARGV[4])
local limit, budget = tonumber(ARGV[5]), tonumber(ARGV[6])
local reply = {}
for i = 1, (#ARGV - 7) / 6 do
  local a = 1 + 6 * i
  local tag, subject = ARGV[a + 1], ARGV[a + 2]
  local found, out, more, pm, ps, em, es, read = {}, {}, true, ARGV[a + 3], ARGV[a + 4], ARGV[a + 5], ARGV[a + 6], 0
  if limit > 0 and budget > 0 then
    found, out, more, pm, ps, em, es, read = walk_subject(KEYS[i], ARGV[1] .. ':{' .. tag .. '}:s:', subject,
      false, at, ib, nil, pm, ps, em, es, limit, budget)
  end
  if #found > 0 then
    for _, k in ipairs(found) do redis.call('HSET', k, 'ra', at, 'rr', ARGV[3]) end
` + record + `
  end
  limit, budget = limit - #found, budget - read
  local n = #reply
  reply[n + 1], reply[n + 2], reply[n + 3], reply[n + 4], reply[n + 5], reply[n + 6] = more and '1' or '0', pm, ps, em, es, tostring(#found)
  for k = 1, #out, 5 do
    reply[#reply + 1] = out[k]
    reply[#reply + 1] = out[k + 1]
  end
end
` + finish + `
return reply
`
}

// revokeSubjectsScript is the kill switch's subject script on a Cluster:
// the store records what it revoked after it (record, without
// publishing).
var revokeSubjectsScript = newPairedScript(revokeSubjectsLua("", ""))

// revokeSubjectsRecordScript is the kill switch's subject script outside
// a Cluster: it also records what it revokes (the revocation index, out
// of the live indexes; no feed message), so each step is revoked and
// recorded in one script, one round trip.
//
//	KEYS: subject indexes, then revocation index, GC index, expiry
//	      index, strategies
var revokeSubjectsRecordScript = newPairedScript(revokeSubjectsLua(`
    if not R then rec_open(KEYS[#KEYS - 3], KEYS[#KEYS - 2], KEYS[#KEYS - 1], KEYS[#KEYS], '', ARGV[7]) end
    for k = 1, #out, 5 do rec_revoked(tag, out[k], subject, at, ARGV[3], out[k + 1]) end`, `
if R then rec_close() end`))

// RevokeMatching revokes every session live at at that f selects, with
// reason; see sessiond.BulkRevoker. It returns how many it revoked and
// their distinct subjects, in no order, or none with f.NoSubjects.
// ErrInvalidArgument if f sets nothing.
//
// With Subjects it walks those subjects' indexes, a bounded step of each
// a script (revokeSubjects); otherwise it walks the global expiry index
// from the first session whose absolute expiry is after at: on a single
// Redis inside Redis, walkBatch sessions a script (walkRevokeScript, its
// position kept in a walk hash), on a Cluster from here (pageScript), up
// to bulkBatch sessions of one slot a script, several at once
// (revokeAsideScript with All, else revokeRefsScript). Unlike Revoke it publishes
// nothing: the revocations go to the revocation index (Revocations) only,
// and the Manager's incident watermark is what stops the sessions' tokens
// on every node. When it fails part way (ErrStoreUnavailable, a canceled
// ctx) it returns what it revoked so far; calling it again finishes the
// job and counts only the rest (with the same at and filter, a single
// Redis's walk resumes where it stopped).
func (s *Store) RevokeMatching(ctx context.Context, f sessiond.RevokeFilter, at time.Time, reason sessiond.RevokeReason) (int, []string, error) {
	const op = "revoke matching"
	if err := ctxErr(ctx, op, f.Validate()); err != nil {
		return 0, nil, err
	}
	if at.IsZero() {
		return 0, nil, wrap(op, &sessiond.ArgumentError{Field: "at", Msg: "must be set"})
	}
	b := &bulkRevocation{s: s, at: at, reason: reason, noSubjects: f.NoSubjects, subjects: make(map[string]struct{})}
	issuedBefore := ""
	if !f.IssuedBefore.IsZero() {
		issuedBefore = itoa(ceilMicros(f.IssuedBefore))
	}
	var err error
	if len(f.Subjects) > 0 {
		err = b.revokeSubjects(ctx, f.Subjects, issuedBefore)
	} else {
		// Every session created before at is revoked (the Manager's
		// bound is just after at): the live indexes can be set aside.
		if all := f.IssuedBefore.IsZero() || f.IssuedBefore.After(at); s.crossSlot || all {
			walk := s.walkKey(at, issuedBefore)
			var aside []string
			aside, err = s.bulkBegin(ctx, at, all, walk)
			switch {
			case err != nil:
			case s.crossSlot:
				err = b.walk(ctx, walk, issuedBefore)
			default:
				// On a Cluster the walk is driven from here; the scripts
				// leave the global indexes alone, as walkRevokeScript does.
				b.aside = true
				head := []string{encTime(at), string(reason), issuedBefore, boolArg(f.NoSubjects)}
				err = b.run(ctx, b.script(revokeAsideScript), func(ctx context.Context, emit func([]rueidis.LuaExec) bool) error {
					return s.sessionBatches(ctx, at, head, emit)
				})
			}
			if err == nil {
				// Every session the set-aside indexes held is now revoked
				// or not live at at; after a failure they stay until their
				// TTL (see bulkBegin), and so does the walk's position,
				// for a retry to resume from.
				err = s.client.Do(ctx, s.client.B().Unlink().Key(append(aside, walk)...).Build()).Error()
			}
		} else {
			head := []string{encTime(at), string(reason), issuedBefore}
			err = b.run(ctx, b.script(revokeRefsScript), func(ctx context.Context, emit func([]rueidis.LuaExec) bool) error {
				return s.sessionBatches(ctx, at, head, emit)
			})
		}
	}
	if b.n > 0 && s.recent != nil {
		// Too many keys to remember one by one: read every key uncached
		// until Redis's invalidations have surely arrived, and forget
		// every decoded lookup, whose invalidations may not have arrived
		// yet either (Redis pushes them after the script's reply).
		s.recent.addAll()
		s.dec.invalidate(nil)
	}
	// In no order: sorting a million subjects took 0.4 s after the last
	// script, and no caller needs an order (BulkRevoker promises none).
	subjects := make([]string, 0, len(b.subjects))
	for sub := range b.subjects {
		subjects = append(subjects, sub)
	}
	if err != nil {
		return b.n, subjects, s.fail(op, err)
	}
	return b.n, subjects, nil
}

// bulkKey is the bulk index: one member per bulk revocation of sessions
// found through the expiry index, scored by its time (µs). Revocations
// reads the session hashes for as long as callers ask for revocations
// since a time at or before one of them.
func (s *Store) bulkKey() string { return s.prefix + ":{" + s.prefix + "}:bulk" }

// bulkBegin enters a bulk revocation at at in the bulk index and, when it
// revokes every session created before at (all), sets the live indexes
// aside; it returns their new names, unless the revocation resumes a walk
// (walk, its walk hash, has a position). A revocation that fails after this leaves the sessions
// it has not reached out of CountLive until it is run again (which
// revokes them) or they end; the set-aside indexes expire with the
// sessions they held.
func (s *Store) bulkBegin(ctx context.Context, at time.Time, all bool, walk string) ([]string, error) {
	member := encTime(at) + ":" + rand.Text()
	setAside := "0"
	if all {
		setAside = "1"
	}
	return bulkBeginScript.Exec(ctx, s.client, []string{s.bulkKey(), s.stratKey, s.expKey, walk},
		[]string{encTime(at), member, s.liveBase, setAside, itoa(walkTTL.Milliseconds())}).AsStrSlice()
}

// walkKey is the walk hash of a revocation of the sessions live at at
// (issued before issuedBefore, µs, when not ""): where walkRevokeScript
// has got to in the expiry index. A retry of the same revocation, with the
// same at and filter, resumes from it.
func (s *Store) walkKey(at time.Time, issuedBefore string) string {
	return s.prefix + ":{" + s.prefix + "}:walk:" + encTime(at) + ":" + issuedBefore
}

// walk runs walkRevokeScript until the walk is over, as many calls in
// flight as walkDepth finds the round trip needs (walkInFlight at least),
// and adds up what they revoked. It returns the first error. After it, or
// once ctx is canceled, no call starts, but those already sent are waited
// for (inFlight): Redis runs them whatever happens here, and their
// sessions must be counted.
func (b *bulkRevocation) walk(ctx context.Context, walk, issuedBefore string) error {
	keys, args := b.walkArgs(walk, issuedBefore)
	sent, cancel := inFlight(ctx)
	defer cancel()
	type reply struct {
		done bool
		err  error
		took time.Duration
	}
	replies := make(chan reply, walkMaxInFlight)
	depth := newWalkDepth()
	want, running := depth.n, 0
	if b.s.walkDepthFixed > 0 {
		want = b.s.walkDepthFixed
	}
	var firstErr error
	over := false
	for {
		for !over && firstErr == nil && ctx.Err() == nil && running < want {
			running++
			go func() {
				start := time.Now()
				done, err := b.walkStep(sent, keys, args)
				replies <- reply{done, err, time.Since(start)}
			}()
		}
		if running == 0 {
			break
		}
		// Every call started is received here: the loop joins them all.
		r := <-replies
		running--
		switch {
		case r.err != nil:
			if firstErr == nil {
				firstErr = r.err
			}
		case r.done:
			over = true
		default:
			if want = depth.observe(r.took); b.s.walkDepthFixed > 0 {
				want = b.s.walkDepthFixed
			}
		}
	}
	if firstErr == nil {
		// Canceled between two scripts: the walk is not over.
		firstErr = ctx.Err()
	}
	return firstErr
}

// walkArgs returns walkRevokeScript's keys and arguments.
func (b *bulkRevocation) walkArgs(walk, issuedBefore string) (keys, args []string) {
	s := b.s
	return []string{s.expKey, walk, s.revKey, s.gcKey, s.stratKey, s.bulkKey()},
		[]string{encTime(b.at), string(b.reason), issuedBefore, s.liveBase, s.prefix + ":{",
			strconv.Itoa(walkBatch), itoa(walkTTL.Milliseconds()), boolArg(b.noSubjects)}
}

// walkStep runs walkRevokeScript once and counts what it revoked. It
// reports whether the walk is over.
func (b *bulkRevocation) walkStep(ctx context.Context, keys, args []string) (bool, error) {
	reply, err := b.s.execAckedUnless(ctx, "revoke matching", &b.gaveUp, walkRevokeScript, rueidis.LuaExec{Keys: keys, Args: args})[0].ToArray()
	if err == nil && len(reply) < 2 {
		err = errCorrupt
	}
	var n int64
	if err == nil {
		n, err = reply[0].AsInt64()
	}
	if err != nil {
		return false, err
	}
	done, _ := field(&reply[1])
	b.mu.Lock()
	b.n += int(n)
	for i := 2; i < len(reply); i++ {
		sub, _ := field(&reply[i])
		b.subjects[sub] = struct{}{}
	}
	b.mu.Unlock()
	return done == "1", nil
}

// bulkRevocation runs revocation scripts on bulkWorkers goroutines and
// adds up what they revoked.
type bulkRevocation struct {
	s          *Store
	at         time.Time
	reason     sessiond.RevokeReason
	noSubjects bool // the caller does not need the subjects (RevokeFilter.NoSubjects)
	aside      bool // the scripts are revokeAsideScript's: they answer counts
	// gaveUp: a wait for replicas fell short; the rest of the run does
	// not wait (execAckedUnless).
	gaveUp atomic.Bool

	mu       sync.Mutex
	n        int
	subjects map[string]struct{}
}

// run calls produce, which emits batches of scripts (false: stop, the run
// failed), and has exec run each batch on the workers. It returns the
// first error. After it, or once ctx is canceled, no batch starts, but
// exec runs without the run's cancellation or ctx's (inFlight): a batch
// already sent runs in Redis whatever happens here, and a reply dropped
// would leave its sessions revoked and not counted (the count is what the
// operator is told was revoked).
func (b *bulkRevocation) run(ctx context.Context, exec func(context.Context, []rueidis.LuaExec) error, produce func(context.Context, func([]rueidis.LuaExec) bool) error) error {
	stopped, stop := context.WithCancel(ctx)
	defer stop()
	sent, cancel := inFlight(ctx)
	defer cancel()
	work := make(chan []rueidis.LuaExec)
	var (
		wg       sync.WaitGroup
		once     sync.Once
		firstErr error
	)
	failed := func(err error) {
		once.Do(func() {
			firstErr = err
			stop()
		})
	}
	for range bulkWorkers {
		wg.Go(func() {
			for execs := range work {
				if stopped.Err() != nil {
					continue // drain
				}
				if err := exec(sent, execs); err != nil {
					failed(err)
				}
			}
		})
	}
	err := produce(stopped, func(execs []rueidis.LuaExec) bool {
		select {
		case work <- execs:
			return true
		case <-stopped.Done():
			return false
		}
	})
	close(work)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err == nil {
		err = stopped.Err()
	}
	return err
}

// inFlight is ctx for the round trips of a bulk revocation once they are
// sent: without its cancellation, which would drop the answer of a script
// Redis runs anyway, and so the count of what it revoked (a caller that
// gives up, a client gone), but with its deadline, which the caller set
// as a bound. A dead connection ends them too (rueidis's
// ConnWriteTimeout, 10 s), and each script is bounded (walkBatch,
// bulkBatch, subjectBatch).
func inFlight(ctx context.Context) (context.Context, context.CancelFunc) {
	sent := context.WithoutCancel(ctx)
	if dl, ok := ctx.Deadline(); ok {
		return context.WithDeadline(sent, dl)
	}
	return sent, func() {}
}

// script is run's exec for script: b.exec.
func (b *bulkRevocation) script(script pairedScript) func(context.Context, []rueidis.LuaExec) error {
	return func(ctx context.Context, execs []rueidis.LuaExec) error { return b.exec(ctx, script, execs) }
}

// exec runs one batch of scripts (pipelined) and records what they
// revoked in the revocation index, without publishing.
func (b *bulkRevocation) exec(ctx context.Context, script pairedScript, execs []rueidis.LuaExec) error {
	results := b.s.execAckedUnless(ctx, "revoke matching", &b.gaveUp, script, execs...)
	if b.aside {
		return b.counted(ctx, results)
	}
	var revs []sessiond.Revocation
	var firstErr error
	for _, res := range results {
		reply, err := res.ToArray()
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		for i := 0; i+2 < len(reply); i += 3 {
			id, _ := field(&reply[i])
			sub, _ := field(&reply[i+1])
			e, _ := field(&reply[i+2])
			exp, err := decTime(e)
			if err != nil && firstErr == nil {
				firstErr = errCorrupt
			}
			revs = append(revs, sessiond.Revocation{
				SessionID: sessiond.SessionID(id), Subject: sub, RevokedAt: b.at, ExpiresAt: exp, Reason: b.reason,
			})
		}
	}
	if err := b.tally(ctx, revs, true); err != nil && firstErr == nil {
		firstErr = err
	}
	return firstErr
}

// tally counts revs with their subjects and, with record (the scripts did
// not), records them in the revocation index, without publishing: what a
// script revoked is revoked, whatever happened to the others.
func (b *bulkRevocation) tally(ctx context.Context, revs []sessiond.Revocation, record bool) error {
	var err error
	if record {
		err = b.s.recordExec(ctx, "revoke matching", &b.gaveUp, revs, false)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.n += len(revs)
	if !b.noSubjects {
		for _, r := range revs {
			b.subjects[r.Subject] = struct{}{}
		}
	}
	return err
}

// counted adds up what revokeAsideScript calls revoked and puts the
// sessions they left live back in the fresh live indexes.
func (b *bulkRevocation) counted(ctx context.Context, results []rueidis.RedisResult) error {
	var firstErr error
	fail := func(err error) {
		if firstErr == nil {
			firstErr = err
		}
	}
	n := 0
	var subjects []string
	for _, res := range results {
		reply, err := res.ToArray()
		var revoked, kept int64
		if err == nil && len(reply) < 2 {
			err = errCorrupt
		}
		if err == nil {
			revoked, err = reply[0].AsInt64()
		}
		if err == nil {
			kept, err = reply[1].AsInt64()
		}
		if err == nil && int64(len(reply)) < 2+4*kept {
			err = errCorrupt
		}
		if err != nil {
			fail(err)
			continue
		}
		n += int(revoked)
		for i := 2; i < 2+4*int(kept); i += 4 {
			if err := b.putBack(ctx, reply[i:i+4]); err != nil {
				fail(err)
			}
		}
		for i := 2 + 4*int(kept); i < len(reply); i++ {
			sub, _ := field(&reply[i])
			subjects = append(subjects, sub)
		}
	}
	b.mu.Lock()
	b.n += n
	for _, sub := range subjects {
		b.subjects[sub] = struct{}{}
	}
	b.mu.Unlock()
	return firstErr
}

// putBack enters a session that a revocation of every session left live
// (member, strategy, idle and absolute expiry) in the fresh live index of
// its strategy, which bulkBegin made before the session was created.
func (b *bulkRevocation) putBack(ctx context.Context, f []rueidis.RedisMessage) error {
	var v [4]string
	for i := range v {
		v[i], _ = field(&f[i])
	}
	tag, id, ok := parseRef(v[0])
	idle, err1 := decTime(v[2])
	expires, err2 := decTime(v[3])
	if !ok || err1 != nil || err2 != nil {
		return errCorrupt
	}
	return b.s.index(ctx, tag, id, minTime(idle, expires), expires, sessiond.Strategy(v[1]), true)
}

// sessionBatches walks the expiry index and emits batches of a script
// (revokeRefsScript, revokeAsideScript) for the sessions whose absolute
// expiry is after at, grouped by slot for a Redis Cluster (elsewhere
// walkRevokeScript walks the index inside Redis): the session keys, with
// the arguments head. The
// walk (livePages) gives every member present for all of it once; one
// given again by a retry after a failure is already revoked, and not
// counted.
func (s *Store) sessionBatches(ctx context.Context, at time.Time, head []string, emit func([]rueidis.LuaExec) bool) error {
	// Each slot's session keys as they come: a slot's
	// batch is queued as soon as it is full, the rest once
	// bulkSessionWindow sessions wait or the walk is over; the queue goes
	// bulkPipeline scripts at a time. Only the keys are kept, so a
	// window costs about 80–100 bytes a session.
	keys := make([][]string, 16384)
	var (
		waiting int
		execs   []rueidis.LuaExec
	)
	send := func(slot uint16) bool {
		waiting -= len(keys[slot])
		execs = append(execs, rueidis.LuaExec{Keys: keys[slot], Args: head})
		keys[slot] = nil
		if len(execs) < bulkPipeline {
			return true
		}
		ok := emit(execs)
		execs = nil
		return ok
	}
	flush := func() bool {
		// Slots in a stride, not in order: a Cluster gives each master a
		// range of slots, and a pipeline of one range's scripts would
		// keep one master busy and the others idle.
		for i := range len(keys) {
			slot := uint16(i * slotStride % len(keys))
			if len(keys[slot]) > 0 && !send(slot) {
				return false
			}
		}
		if len(execs) == 0 {
			return true
		}
		ok := emit(execs)
		execs = nil
		return ok
	}
	return s.livePages(ctx, at, bulkScan, func(members []string, last bool) bool {
		for _, m := range members {
			tag, id, ok := parseRef(m)
			if !ok {
				continue
			}
			slot := slotOf(tag)
			keys[slot] = append(keys[slot], s.sessKey(tag, id))
			waiting++
			if len(keys[slot]) == bulkBatch && !send(slot) {
				return false
			}
		}
		return !(last || waiting >= bulkSessionWindow) || flush()
	})
}

// livePages walks the expiry index from the first member whose absolute
// expiry is after at, count members a call of pageScript, and gives each
// page to fn (last: it is the final one) until fn returns false (then
// livePages returns ctx's error) or the index is walked. Every member
// present for the whole walk is given once; members added or removed
// meanwhile may or may not be. The next page is asked for while fn has
// the one before: a page's round trip and its reading took as long as
// what the kill switch does with it.
func (s *Store) livePages(ctx context.Context, at time.Time, count int, fn func(members []string, last bool) bool) error {
	type page struct {
		members []string
		last    bool
		err     error
	}
	fetch, cancel := context.WithCancel(ctx)
	pages := make(chan page, 1)
	defer func() {
		// Join the fetcher: once this returns, the caller may close the
		// store, and a page read still in flight would use a closed client.
		cancel()
		for range pages {
		}
	}()
	go func() {
		defer close(pages)
		atArg, countArg := encTime(at), strconv.Itoa(count)
		var m, sc string
		for {
			var p page
			reply, err := pageScript.Exec(fetch, s.client, []string{s.expKey}, []string{atArg, m, sc, countArg}).ToArray()
			if err == nil && len(reply) != 2 {
				err = errCorrupt
			}
			if err == nil {
				p.members, err = reply[0].AsStrSlice()
			}
			if p.last = len(p.members) < count; err == nil && !p.last {
				m = p.members[len(p.members)-1]
				sc, err = reply[1].ToString()
			}
			p.err = err
			select {
			case pages <- p:
			case <-fetch.Done():
				return
			}
			if p.last || err != nil {
				return
			}
		}
	}()
	for p := range pages {
		if p.err != nil {
			return p.err
		}
		if !fn(p.members, p.last) {
			return ctx.Err()
		}
		if p.last {
			return nil
		}
	}
	return ctx.Err()
}

// subjectWalk is a subject of a kill switch and where the walk through its
// index is.
type subjectWalk struct {
	tag, subject string
	pos          batchCursor
}

// revokeSubjects revokes the sessions of the distinct subjects that are
// live at b.at and created before issuedBefore (µs, "": any): rounds of
// revokeSubjectsScript, each taking one step of every subject whose walk
// is not over, bulkSubjects subjects a script (of one slot on a Cluster),
// the scripts of a round run as run runs them. A round records what it
// revoked (exec) before the next.
func (b *bulkRevocation) revokeSubjects(ctx context.Context, subjects []string, issuedBefore string) error {
	seen := make(map[string]struct{}, len(subjects))
	var walks []subjectWalk
	for _, sub := range subjects {
		if _, ok := seen[sub]; !ok {
			seen[sub] = struct{}{}
			walks = append(walks, subjectWalk{tag: tagOf(sub), subject: sub})
		}
	}
	s := b.s
	head := []string{s.prefix, encTime(b.at), string(b.reason), issuedBefore,
		strconv.Itoa(subjectBatch), strconv.Itoa(subjectBatch * subjectBatchScan), s.liveBase}
	for len(walks) > 0 {
		var (
			mu   sync.Mutex
			next []subjectWalk
		)
		exec := func(ctx context.Context, execs []rueidis.LuaExec) error {
			more, err := b.execSubjects(ctx, execs, len(head))
			mu.Lock()
			next = append(next, more...)
			mu.Unlock()
			return err
		}
		was := make(map[string]batchCursor, len(walks))
		for _, w := range walks {
			was[w.subject] = w.pos
		}
		if err := b.run(ctx, exec, func(ctx context.Context, emit func([]rueidis.LuaExec) bool) error {
			return s.subjectScripts(ctx, walks, head, emit)
		}); err != nil {
			return err
		}
		// A script spends its bounds on its subjects in order, and one it
		// reached has moved on (it reads at least one member): those it
		// did not reach go first in the next round, so that a huge
		// subject does not hold back the others of its scripts until its
		// walk ends, nor leave them unrevoked when the run stops part way.
		moved := func(w subjectWalk) int {
			if w.pos != was[w.subject] {
				return 1
			}
			return 0
		}
		slices.SortStableFunc(next, func(x, y subjectWalk) int { return moved(x) - moved(y) })
		walks = next
	}
	return nil
}

// execSubjects runs one batch of revokeSubjectsScript calls (pipelined),
// whose arguments start with head of headLen, records and counts what
// they revoked as exec does, and returns the walks they did not finish,
// each at its new position.
func (b *bulkRevocation) execSubjects(ctx context.Context, execs []rueidis.LuaExec, headLen int) ([]subjectWalk, error) {
	var (
		revs     []sessiond.Revocation
		more     []subjectWalk
		firstErr error
	)
	script := revokeSubjectsScript
	if b.s.crossSlot {
		script = revokeSubjectsRecordScript
	}
	for i, res := range b.s.execAckedUnless(ctx, "revoke matching", &b.gaveUp, script, execs...) {
		reply, err := res.ToArray()
		if err == nil {
			before := len(revs)
			revs, more, err = decodeSubjectSteps(reply, execs[i].Args[headLen:], b.at, b.reason, revs, more)
			if b.s.observeBatch != nil {
				b.s.observeBatch(len(revs) - before)
			}
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	if err := b.tally(ctx, revs, !b.s.crossSlot); err != nil && firstErr == nil {
		firstErr = err
	}
	return more, firstErr
}

// decodeSubjectSteps reads one revokeSubjectsScript reply for the walks
// args names (6 arguments each: tag, subject, position, end bound), and
// appends what it revoked to revs and the walks not over to more.
func decodeSubjectSteps(reply []rueidis.RedisMessage, args []string, at time.Time, reason sessiond.RevokeReason,
	revs []sessiond.Revocation, more []subjectWalk) ([]sessiond.Revocation, []subjectWalk, error) {
	i := 0
	for w := 0; w+6 <= len(args); w += 6 {
		if i+6 > len(reply) {
			return revs, more, errCorrupt
		}
		var head [6]string
		for k := range head {
			head[k], _ = field(&reply[i+k])
		}
		k, err := strconv.Atoi(head[5])
		i += 6
		if err != nil || k < 0 || i+2*k > len(reply) {
			return revs, more, errCorrupt
		}
		subject := args[w+1]
		for ; k > 0; k-- {
			id, _ := field(&reply[i])
			e, _ := field(&reply[i+1])
			exp, err := decTime(e)
			if err != nil {
				return revs, more, errCorrupt
			}
			revs = append(revs, sessiond.Revocation{SessionID: sessiond.SessionID(id), Subject: subject, RevokedAt: at, ExpiresAt: exp, Reason: reason})
			i += 2
		}
		if head[0] == "1" {
			more = append(more, subjectWalk{tag: args[w], subject: subject, pos: batchCursor{m: head[1], s: head[2], em: head[3], es: head[4]}})
		}
	}
	return revs, more, nil
}

// subjectScripts emits revokeSubjectsScript calls for walks: one step of
// each, bulkSubjects subjects a script, grouped by slot on a Cluster.
func (s *Store) subjectScripts(ctx context.Context, walks []subjectWalk, head []string, emit func([]rueidis.LuaExec) bool) error {
	execOf := func(ws []subjectWalk) rueidis.LuaExec {
		keys := make([]string, 0, len(ws))
		args := make([]string, 0, len(head)+6*len(ws))
		args = append(args, head...)
		for _, w := range ws {
			keys = append(keys, s.idxKey(w.tag))
			args = append(args, w.tag, w.subject, w.pos.m, w.pos.s, w.pos.em, w.pos.es)
		}
		if s.crossSlot {
			keys = append(keys, s.recordIndexKeys()...)
		}
		return rueidis.LuaExec{Keys: keys, Args: args}
	}
	if s.crossSlot {
		for chunk := range slices.Chunk(walks, bulkSubjects) {
			if !emit([]rueidis.LuaExec{execOf(chunk)}) {
				return ctx.Err()
			}
		}
		return nil
	}
	for window := range slices.Chunk(walks, bulkWindow) {
		groups := make(map[uint16][]subjectWalk)
		for _, w := range window {
			slot := slotOf(w.tag)
			groups[slot] = append(groups[slot], w)
		}
		var execs []rueidis.LuaExec
		for _, g := range groups {
			for chunk := range slices.Chunk(g, bulkSubjects) {
				execs = append(execs, execOf(chunk))
			}
		}
		for chunk := range slices.Chunk(execs, bulkPipeline) {
			if !emit(chunk) {
				return ctx.Err()
			}
		}
	}
	return nil
}

// slotOf is the Redis Cluster slot of the keys with hash tag tag.
func slotOf(tag string) uint16 { return crc16(tag) & 16383 }

// crc16 is CRC-16/XMODEM, the checksum Redis Cluster takes keys' slots
// from, a byte at a time from crc16Table (bit by bit, it was a tenth of
// the time a Cluster's kill switch spent finding its sessions).
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc = crc<<8 ^ crc16Table[byte(crc>>8)^s[i]]
	}
	return crc
}

// crc16Table holds the CRC of each byte value (polynomial 0x1021): read
// only, filled once.
var crc16Table = func() (t [256]uint16) {
	for b := range t {
		crc := uint16(b) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
		t[b] = crc
	}
	return t
}()

// countLiveScript counts, per strategy, the live index's sessions whose
// earliest expiry (idle or absolute: the index's score) is after a time
// (read-only).
//
//	KEYS: strategies
//	ARGV: live index base, exclusive lower bound ("(" µs)
//	→ {strategy, count, ...}
var countLiveScript = rueidis.NewLuaScriptReadOnly(`
local out = {}
for _, st in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  out[#out + 1] = st
  out[#out + 1] = redis.call('ZCOUNT', ARGV[1] .. st, ARGV[2], '+inf')
end
return out
`)

// revokedSince returns the members (tag and ID) of the sessions that may
// have been revoked at or after since: the revocation index's, and, when
// a bulk revocation at or after since is in the bulk index (its sessions
// are not in the revocation index one by one), every session of the
// expiry index. The caller reads each session to decide.
func (s *Store) revokedSince(ctx context.Context, since time.Time) ([]string, error) {
	from := encTime(since)
	res := s.client.DoMulti(ctx,
		s.client.B().Zrange().Key(s.revKey).Min(from).Max("+inf").Byscore().Build(),
		s.client.B().Zrange().Key(s.bulkKey()).Min(from).Max("+inf").Byscore().Limit(0, 1).Build())
	members, err := res[0].AsStrSlice()
	if err != nil {
		return nil, err
	}
	bulk, err := res[1].AsStrSlice()
	if err != nil || len(bulk) == 0 {
		return members, err
	}
	seen := make(map[string]struct{}, len(members))
	for _, m := range members {
		seen[m] = struct{}{}
	}
	// A session whose absolute expiry is not after since was over before
	// any revocation at or after since, so the walk starts there.
	err = s.livePages(ctx, since, revocationsScan, func(page []string, _ bool) bool {
		for _, m := range page {
			if _, ok := seen[m]; !ok {
				seen[m] = struct{}{}
				members = append(members, m)
			}
		}
		return true
	})
	return members, err
}

// revocationsScan is the page size of the walk of the expiry index by
// Revocations after a bulk revocation.
const revocationsScan = 5000
