package redisstore

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"slices"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

// The scripts. Each runs atomically on one slot: its declared keys share
// the subject's hash tag, and the session keys it derives from subject-index
// members (base .. id) carry the same tag, which Redis Cluster accepts for
// undeclared keys of the script's own slot. Lua never formats a time: every
// time it stores or returns is a string it was given or read, so nothing
// is rounded through a double.
//
// Replies start with a status: ok, conflict, notfound, reused, limit.

// linger is how long a session hash and its entries in the global indexes
// outlive the session's absolute expiry. A hybrid Manager collects a
// session only MaxVerifierLeeway and its own leeway (at most as much, the
// signer's bound) and a second past its expiry: until then its revocation
// must stay in Revocations (the snapshot verifiers load, the revoked set a
// restarted node rebuilds), since the session's last access token may end
// at its expiry and a verifier accepts it up to a minute later. The ID and
// token keys still expire at the absolute expiry: Get and Lookup do not
// find the session past it.
const linger = 2*sessiond.MaxVerifierLeeway + time.Second

// aheadMargin bounds how far Redis's clock may be ahead of the nodes'
// before it shortens the linger. Redis expires a session hash by its own
// clock, while verifiers count the linger on theirs: a Redis ahead by
// more than the linger less a verifier's leeway dropped a revoked
// session from Revocations while its last access token was still
// accepted. So the hash is kept later by how far Redis's clock is ahead
// of the creating node's (up to aheadMargin: a session stored with an old
// creation time is not kept a lifetime longer), and the sweep of the
// global indexes waits aheadMargin more.
const aheadMargin = time.Hour

// allowOOM is the first line of the scripts Redis runs even when it is
// out of memory (maxmemory reached under noeviction): those that revoke
// (a refused logout or kill switch would leave sessions live), and those
// that only rewrite what a session or a delivery already holds (touch and
// activity, on which the database strategy's verify depends; claiming and
// finishing webhook deliveries, which carry revocations out). A revocation
// adds 1.2-1.6 KB (its index entry and events; docs/redisstore.md,
// "Memory"), and each session is revoked once.
// Without the flag Redis refuses a script at its first write that may
// need memory unless an earlier write ran, after which nothing stops it:
// what failed at OOM followed the order of each script's commands
// (RevokeSubject ran, Revoke did not). Logins, refreshes, events and
// one-time keys stay refused: they are what fills Redis.
const allowOOM = "#!lua flags=allow-oom\n"

// prelude holds helpers shared by the write scripts.
var prelude = `
local linger_ms = ` + strconv.FormatInt(linger.Milliseconds(), 10) + `
local ahead_ms = ` + strconv.FormatInt(aheadMargin.Milliseconds(), 10) + `
-- redis_ms is Redis's TIME in ms; it reads TIME once per script.
local tms = nil
local function redis_ms()
  if tms then return tms end
  local t = redis.call('TIME')
  tms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  return tms
end
-- cutoff is the exclusive ZREMRANGEBYSCORE bound, in µs, below which a
-- subject-index member's session has expired by Redis's clock and by the
-- caller's (at, µs), less 1 ms for the ms rounding of PEXPIREAT. Redis's
-- alone would drop, with Redis ahead, sessions still live on the nodes,
-- which RevokeSubject must find. An at older than a linger and aheadMargin
-- counts as that: below it every member's hash is gone (hash_until).
local function cutoff(at)
  local ms = redis_ms()
  local a = math.floor(tonumber(at) / 1000)
  if a < ms then ms = math.max(a, ms - linger_ms - ahead_ms) end
  return '(' .. string.format('%d', ms - 1) .. '000'
end
-- hash_until is when Redis expires a session hash: a linger past the
-- session's expiry (expms), later by as far as Redis's clock is ahead of
-- the creating node's (created, µs), at most ahead_ms (aheadMargin).
local function hash_until(expms, created)
  local ahead = redis_ms() - math.floor(tonumber(created) / 1000)
  if ahead < 0 then ahead = 0 elseif ahead > ahead_ms then ahead = ahead_ms end
  return string.format('%d', tonumber(expms) + linger_ms + ahead)
end
local function trim(idx, at)
  redis.call('ZREMRANGEBYSCORE', idx, '-inf', cutoff(at))
end
-- keep_until makes key live at least until ms (PEXPIREAT never shortens).
-- When it must extend it, it gives an hour more: the next writes, whose
-- sessions mostly end a little later, then only read the TTL.
-- The linger and aheadMargin are added: an index entry lives as long as
-- its session's hash may (hash_until).
local function keep_until(key, ms)
  local cur = redis.call('PEXPIRETIME', key)
  if cur == -1 or cur < tonumber(ms) + linger_ms + ahead_ms then
    redis.call('PEXPIREAT', key, string.format('%d', tonumber(ms) + linger_ms + ahead_ms + 3600000))
  end
end
-- unindex removes sessions (refs) from the global indexes: GC, expiries,
-- revocations and the live index of every strategy.
local function unindex(gc, exp, rev, strats, live, refs)
  redis.call('ZREM', gc, unpack(refs))
  redis.call('ZREM', rev, unpack(refs))
  redis.call('ZREM', exp, unpack(refs))
  for _, st in ipairs(redis.call('SMEMBERS', strats)) do
    redis.call('ZREM', live .. st, unpack(refs))
  end
end
-- sweep drops from the global indexes up to 100 sessions whose absolute
-- expiry has passed a linger and aheadMargin ago by Redis's clock: Redis
-- has expired their keys (hash_until).
local function sweep(gc, exp, rev, strats, live)
  local ms = redis_ms() - 1 - linger_ms - ahead_ms
  local dead = redis.call('ZRANGE', exp, '-inf', '(' .. string.format('%d', ms) .. '000', 'BYSCORE', 'LIMIT', 0, 100)
  if #dead > 0 then unindex(gc, exp, rev, strats, live, dead) end
end
local function live(f_ra, f_ie, f_e, now)
  return f_ra == '0' and now < tonumber(f_ie) and now < tonumber(f_e)
end
-- subject_live trims a subject index (dropping the members whose session
-- is gone) and returns the keys of the sessions of subject live at at,
-- except the ID except (false: none), and {id, expiry, created, ...} of
-- the same sessions. With born_by (nil: any), only the sessions created
-- by then.
local function subject_live(idx, base, subject, except, at, born_by)
  trim(idx, at)
  local keys, out = {}, {}
  for _, id in ipairs(redis.call('ZRANGE', idx, 0, -1)) do
    if id ~= except then
      local k = base .. id
      local f = redis.call('HMGET', k, 'sub', 'ra', 'ie', 'e', 'c')
      if not f[4] then
        redis.call('ZREM', idx, id)
      elseif f[1] == subject and live(f[2], f[3], f[4], at) and (not born_by or not f[5] or tonumber(f[5]) <= born_by) then
        keys[#keys + 1] = k
        out[#out + 1] = id
        out[#out + 1] = f[4]
        out[#out + 1] = f[5]
      end
    end
  end
  return keys, out
end
`

// agedLua defines aged, the safety-net sweep's query that appending events
// and enqueuing deliveries share: up to 100 members of the sorted set key
// scored (µs) more than maxage seconds ago by Redis's clock; none when
// maxage is "0".
const agedLua = `
local function aged(key, maxage)
  if maxage == '0' then return {} end
  local now = redis.call('TIME')
  local cut = '(' .. string.format('%d', tonumber(now[1]) - tonumber(maxage)) .. '000000'
  return redis.call('ZRANGE', key, '-inf', cut, 'BYSCORE', 'LIMIT', 0, 100)
end
`

// createScript stores a session, optionally after enforcing a limit.
//
//	KEYS: session key, subject index
//	ARGV: id, subject, base, now (created, µs), expires (µs), expires (ms),
//	      max (0: no limit), evict ("1"/"0"), n, then n strings: field,
//	      value, ...
//	→ {"conflict"} | {"limit"} | {"ok", evicted id, its expiry, ...}
var createScript = rueidis.NewLuaScript(prelude + `
local victims_ready = nil
` + createBody)

// createBody is createScript's source, which createRecordedScript shares:
// it calls victims_ready (when not nil) before evicting anything.
//
// With a limit it reads the subject index in its order (absolute expiry)
// limitChunk members at a time, and stops once it has read limitRead and
// found max-1+MaxLimitEvictions live sessions (sessiond.LimitRead): a
// subject far over its limit is not read whole by each of its logins. It
// drops the revoked sessions it reads from the index (a revocation is
// final, and every reader of the index wants live sessions), so a
// subject's history is read once, not by every login. It evicts at most
// sessiond.MaxLimitEvictions, the least recently active of the live
// sessions read. When victims_ready is not ready, it answers the victims
// and the MaxLimitEvictions sessions after them.
var createBody = `
if redis.call('EXISTS', KEYS[1]) == 1 then return {'conflict'} end
local out = {'ok'}
local max = tonumber(ARGV[7])
if max > 0 then
  trim(KEYS[2], ARGV[4])
  local now = tonumber(ARGV[4])
  local found, pos, read = {}, 0, 0
  while true do
    local ids = redis.call('ZRANGE', KEYS[2], pos, pos + ` + strconv.Itoa(limitChunk-1) + `)
    for _, id in ipairs(ids) do
      local f = redis.call('HMGET', ARGV[3] .. id, 'sub', 'ra', 'ie', 'e', 'la', 'c')
      if not f[4] or f[2] ~= '0' then
        redis.call('ZREM', KEYS[2], id)
      else
        pos = pos + 1
        if f[1] == ARGV[2] and live(f[2], f[3], f[4], now) then
          found[#found + 1] = {id = id, e = f[4], la = tonumber(f[5]), c = tonumber(f[6])}
        end
      end
    end
    read = read + #ids
    if #ids < ` + strconv.Itoa(limitChunk) + ` or (read >= ` + strconv.Itoa(limitRead) + ` and #found >= max - 1 + ` + strconv.Itoa(sessiond.MaxLimitEvictions) + `) then break end
  end
  if #found >= max then
    if ARGV[8] ~= '1' then return {'limit'} end
    table.sort(found, function(a, b)
      if a.la ~= b.la then return a.la < b.la end
      if a.c ~= b.c then return a.c < b.c end
      return a.id < b.id
    end)
    local n = math.min(#found - max + 1, ` + strconv.Itoa(sessiond.MaxLimitEvictions) + `)
    if victims_ready and not victims_ready(found, n) then
      -- The next sessions too, not only today's victims: a concurrent
      -- login that commits before the caller's next call changes which
      -- are the least recently active, and they must be prepared too.
      local ids = {'prepare'}
      for i = 1, math.min(#found, n + ` + strconv.Itoa(sessiond.MaxLimitEvictions) + `) do
        ids[#ids + 1] = found[i].id
        ids[#ids + 1] = found[i].e
      end
      return ids
    end
    for i = 1, n do
      redis.call('HSET', ARGV[3] .. found[i].id, 'ra', ARGV[4], 'rr', 'limit')
      out[#out + 1] = found[i].id
      out[#out + 1] = found[i].e
    end
  end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 10, 9 + tonumber(ARGV[9])))
redis.call('PEXPIREAT', KEYS[1], hash_until(ARGV[6], ARGV[4]))
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
keep_until(KEYS[2], ARGV[6])
trim(KEYS[2], ARGV[4])
return out
`

// touchScript records activity unless the session is revoked.
//
//	KEYS: session key
//	ARGV: last active, idle expiry
//	→ {"notfound"} | {"revoked"} | {"ok", old idle expiry, expiry, strategy}
var touchScript = newPairedScript(allowOOM + touchBody)

// touchBody is touchScript's source, which touchRecordedScript shares. It
// answers the strategy too, which that script's activity call needs.
const touchBody = laterLua + `
local f = redis.call('HMGET', KEYS[1], 'e', 'ra', 'ie', 'str', 'la')
if not f[1] then return {'notfound'} end
if f[2] ~= '0' then return {'revoked'} end
redis.call('HSET', KEYS[1], 'la', later(f[5], ARGV[1]), 'ie', later(f[3], ARGV[2]))
return {'ok', f[3], f[1], f[4]}
`

// laterLua defines later, which the activity writes (touch, swap) store
// instead of the time given: the later of it and the stored one (a
// string of µs, nil when absent). Activity never moves back, so a node
// whose clock is behind cannot shorten a session a node ahead extended.
const laterLua = `
local function later(stored, given)
  if stored and tonumber(stored) > tonumber(given) then return stored end
  return given
end
`

// swapScript is the refresh compare-and-swap.
//
//	KEYS: session key
//	ARGV: old token field, next token field, next token value, now,
//	      grace since, last active, idle expiry
//	→ {"notfound"} | {"revoked"} | {"reused"} | {"conflict"} |
//	  {"ok", old idle expiry, expiry, strategy}
//
// The session field 'cr' holds the field of its current refresh token.
// A revoked session is refused here, in the same step as the swap, not
// only by the Manager's check before it (which may have read a cached or
// stale session): a revocation that lands between the two still wins.
var swapScript = newPairedScript(swapBody)

// swapBody is swapScript's source, which swapReservedScript shares. It
// reads what it needs in one HMGET and writes in one HSET.
const swapBody = laterLua + `
local f = redis.call('HMGET', KEYS[1], 'e', 'ra', 'ie', ARGV[1], ARGV[2], 'cr', 'str', 'la')
if not f[1] or not f[4] then return {'notfound'} end
local kind, issued, expires, retired = string.match(f[4], '^([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
if kind ~= '2' then return {'notfound'} end
if f[2] ~= '0' then return {'revoked'} end
if retired ~= '0' then
  local now, since = tonumber(ARGV[4]), tonumber(ARGV[5])
  if not (since < now and tonumber(retired) >= since) then return {'reused'} end
end
if f[5] then return {'conflict'} end
local set = {}
-- retire retires the refresh token in field fld (value v) if it is current.
local function retire(fld, v)
  local k, i, e, r = string.match(v, '^([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
  if k == '2' and r == '0' then
    set[#set + 1] = fld
    set[#set + 1] = k .. '|' .. i .. '|' .. e .. '|' .. ARGV[4]
  end
end
retire(ARGV[1], f[4])
-- Next becomes the session's only current refresh token: a sibling issued
-- by an earlier swap within the grace window is retired, so one token
-- never forks into several live chains. 'cr' names the current one;
-- sessions written before it existed are scanned once.
local cr = f[6]
if cr then
  if cr ~= ARGV[1] then
    local v = redis.call('HGET', KEYS[1], cr)
    if v then retire(cr, v) end
  end
else
  for _, fld in ipairs(redis.call('HKEYS', KEYS[1])) do
    if string.sub(fld, 1, 2) == 't:' and fld ~= ARGV[1] then retire(fld, redis.call('HGET', KEYS[1], fld)) end
  end
end
set[#set + 1], set[#set + 2], set[#set + 3], set[#set + 4] = ARGV[2], ARGV[3], 'cr', ARGV[2]
set[#set + 1], set[#set + 2], set[#set + 3], set[#set + 4] = 'la', later(f[8], ARGV[6]), 'ie', later(f[3], ARGV[7])
redis.call('HSET', KEYS[1], unpack(set))
return {'ok', f[3], f[1], f[7]}
`

// revokeScript marks one session revoked unless it already is (on a
// Cluster; outside one Revoke runs revokeRecordedScript, which records the
// revocation in the same step).
//
//	KEYS: session key
//	ARGV: revoked at, reason
//	→ nil (not found) | the session's fields, in sessionFields order
var revokeScript = newPairedScript(allowOOM + `
local f = redis.call('HMGET', KEYS[1], 'sub', 'str', 'c', 'la', 'ie', 'e', 'p', 'ip', 'ua', 'cl', 'ra', 'rr')
if not f[6] then return false end
if f[11] == '0' then
  redis.call('HSET', KEYS[1], 'ra', ARGV[1], 'rr', ARGV[2])
  f[11], f[12] = ARGV[1], ARGV[2]
end
return f
`)

// recordSubjectFn defines rec_subject, which records (recordFn), when
// there are any, the revocations out lists ({id, expiry, created, ...}) of
// sessions of the subject ARGV[2] under tag, revoked at ARGV[5] for
// ARGV[6], as the subject scripts' arguments have them. The revocation,
// GC and expiry indexes and the strategies are KEYS[j] to KEYS[j + 3].
const recordSubjectFn = `
local function rec_subject(j, channel, livebase, tag, out)
  if #out == 0 then return end
  rec_open(KEYS[j], KEYS[j + 1], KEYS[j + 2], KEYS[j + 3], channel, livebase)
  for i = 1, #out, 3 do rec_revoked(tag, out[i], ARGV[2], ARGV[5], ARGV[6], out[i + 1]) end
  rec_close()
end
`

// subjectPageFn defines subject_page, one step of a walk through a
// subject's index that reads a page of its live sessions (List,
// SubjectClients): the next page of the index KEYS[1] (next_page: ARGV[6]
// members after the position ARGV[4], ARGV[5], or from the first whose
// absolute expiry is after ARGV[3]). It returns how many members it read
// and the position of the last (member, score; false when none), then
// what take(session key) returns for each session of the page that is of
// subject ARGV[2] and live at ARGV[3] (µs); take returns the session's
// fields, which start sub, ra, ie, e. A session that is gone is skipped:
// the write scripts drop it from the index.
const subjectPageFn = `
local function subject_page(take)
  local batch = next_page(KEYS[1], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6]))
  local out = {#batch, false, false}
  if #batch > 0 then
    out[2] = batch[#batch]
    out[3] = redis.call('ZSCORE', KEYS[1], batch[#batch])
  end
  local now = tonumber(ARGV[3])
  for _, id in ipairs(batch) do
    local f = take(ARGV[1] .. id)
    if f[4] and f[1] == ARGV[2] and live(f[2], f[3], f[4], now) then
      out[#out + 1] = id
      for i = 5, #f do out[#out + 1] = f[i] end
    end
  end
  return out
end
`

// listScript reads a page of a subject's live sessions (subject_page), the
// whole of each. It is read-only (EVALSHA_RO), so Redis runs it when it
// is out of memory: an operator lists a subject's sessions to end them.
//
//	KEYS: subject index
//	ARGV: base, subject, now (µs), last member ("": none yet), its score, count
//	→ {members read, last member, its score, id, sessionFields values..., id, ...}
var listScript = rueidis.NewLuaScriptReadOnly(prelude + nextPageFn + subjectPageFn + `
return subject_page(function(k)
  return redis.call('HMGET', k, 'sub', 'ra', 'ie', 'e', 'sub', 'str', 'c', 'la', 'ie', 'e', 'p', 'ip', 'ua', 'cl', 'ra', 'rr')
end)
`)

// gcScript deletes the given sessions of one subject that expired (idle or
// absolute) before a time, and reports on each.
//
//	KEYS: subject index, session key, ...
//	ARGV: before, id, ... (one per session key)
//	→ per session: "d", its token hashes joined by ","   (deleted)
//	               "g", ""                                (already gone)
//	               "a", its earliest expiry               (not expired)
var gcScript = rueidis.NewLuaScript(prelude + `
trim(KEYS[1], ARGV[1])
local before = tonumber(ARGV[1])
local out = {}
for i = 2, #KEYS do
  local id = ARGV[i]
  local f = redis.call('HMGET', KEYS[i], 'ie', 'e')
  if not f[2] then
    redis.call('ZREM', KEYS[1], id)
    out[#out + 1] = 'g'
    out[#out + 1] = ''
  else
    local m = f[2]
    if f[1] and tonumber(f[1]) < tonumber(m) then m = f[1] end
    if tonumber(m) < before then
      local toks = {}
      for _, k in ipairs(redis.call('HKEYS', KEYS[i])) do
        if string.sub(k, 1, 2) == 't:' then toks[#toks + 1] = string.sub(k, 3) end
      end
      redis.call('DEL', KEYS[i])
      redis.call('ZREM', KEYS[1], id)
      out[#out + 1] = 'd'
      out[#out + 1] = table.concat(toks, ',')
    else
      out[#out + 1] = 'a'
      out[#out + 1] = m
    end
  end
end
return out
`)

// gcMoveScript moves GC index entries to their sessions' real earliest
// expiry (gcScript's "a" answers). It only moves members already there
// (XX), so it runs when Redis is out of memory (allowOOM), where a plain
// ZADD is refused: the collection stalled then behind the early entries
// of sessions kept alive by their activity, and freed nothing at the time
// Redis most needed it.
//
//	KEYS: GC index
//	ARGV: score, member, ... (at most dropBatch members)
var gcMoveScript = rueidis.NewLuaScript(allowOOM + `
redis.call('ZADD', KEYS[1], 'XX', unpack(ARGV))
return 0
`)

// indexScript enters a new session in the global indexes (index_session).
//
//	KEYS: GC index, expiry index, revocation index, strategies (one slot)
//	ARGV: live index base, member, earliest expiry (µs), absolute expiry
//	      (µs), (ms), strategy, add to the live index ("1"/"0"), sweep
//	      dead sessions ("1"/"0")
var indexScript = rueidis.NewLuaScript(prelude + indexFn + `
index_session(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], ARGV[6], ARGV[7], false, ARGV[8] == '1')
return 0
`)

// indexFn defines index_session, which enters a new session in the global
// indexes: the GC index at its earliest expiry (or earlier than it was:
// ZADD LT), the expiry index at its absolute expiry and, if it is not
// revoked (live "1"), the live index of its strategy at its earliest
// expiry (unless the revocation index already has it: a revocation
// recorded first wins; fresh says the session was stored by the same
// script, so none can be). With dosweep it sweeps dead entries (one index
// write in sweepEvery does). It needs the prelude.
const indexFn = `
local function index_session(gc, exp, rev, strats, livebase, member, earliest, expires, expms, strategy, live, fresh, dosweep)
  redis.call('ZADD', gc, 'LT', earliest, member)
  redis.call('ZADD', exp, expires, member)
  keep_until(gc, expms)
  keep_until(exp, expms)
  if live == '1' and (fresh or not redis.call('ZSCORE', rev, member)) then
    local lk = livebase .. strategy
    redis.call('ZADD', lk, earliest, member)
    redis.call('SADD', strats, strategy)
    keep_until(lk, expms)
    keep_until(strats, expms)
  end
  if dosweep then sweep(gc, exp, rev, strats, livebase) end
end
`

// activityScript follows a session's new idle expiry in the global
// indexes (activity).
//
//	KEYS: GC index, expiry index, strategies (one slot)
//	ARGV: live index base, member, idle expiry (µs)
var activityScript = newPairedScript(allowOOM + activityFn + `
activity(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV[3], false, false)
return 0
`)

// activityFn defines activity, which follows a session's new idle expiry
// in the global indexes: the GC index only ever moves earlier
// (DeleteExpired finds an entry that is early and moves it), the live
// index of the session's strategy (that of strategy when known, else each
// one's), if it is there (not revoked), to the new earliest expiry, only
// ever later, as the session's own (later in touchBody). A
// session without an expiry entry is gone and left alone. expires is the
// session's absolute expiry when the caller read it from the session hash
// in the same script (the session exists: no ZSCORE of the expiry index
// needed, and the entries it moves must exist already, XX); false
// otherwise.
const activityFn = `
local function activity(gc, exp, strats, livebase, member, idle, strategy, expires)
  local e = expires
  if not e then e = redis.call('ZSCORE', exp, member) end
  if not e then return end
  local m = idle
  if tonumber(e) < tonumber(m) then m = e end
  redis.call('ZADD', gc, 'XX', 'LT', m, member)
  if strategy then
    redis.call('ZADD', livebase .. strategy, 'XX', 'GT', m, member)
    return
  end
  for _, st in ipairs(redis.call('SMEMBERS', strats)) do
    redis.call('ZADD', livebase .. st, 'XX', 'GT', m, member)
  end
end
`

// recordFn defines how a script records revocations: the record script,
// and outside a Cluster every script that revokes, so that there a
// revocation is never stored without its record and its feed message.
// rec_open names the global indexes (one slot), the channel ("": publish
// nothing) and the live index base; rec_add records one revocation: it
// enters it in the revocation index and, when it was not there yet,
// publishes payload (so a revocation recorded twice is published once,
// and one whose record was lost is published when recorded again), enters
// the session's absolute expiry in the expiry index and takes it out of
// every strategy's live index; rec_close keeps the two indexes it wrote
// until the latest expiry (ms) recorded and sweeps dead sessions.
// rec_revoked is rec_add for a revocation of session id under tag, given
// as the session hash holds it (times in µs): it builds the feed message
// (feedMessage) and the member. It needs the prelude.
const recordFn = `
local R = nil
local function rec_open(rev, gc, exp, strats, channel, livebase)
  R = {rev = rev, gc = gc, exp = exp, strats = strats, channel = channel, live = livebase,
    names = redis.call('SMEMBERS', strats), last = nil}
end
local function rec_until(ms)
  if not R.last or tonumber(ms) > tonumber(R.last) then R.last = ms end
end
local function rec_add(at, member, payload, expires, expms)
  if redis.call('ZADD', R.rev, 'NX', at, member) == 1 and R.channel ~= '' then
    redis.call('PUBLISH', R.channel, payload)
  end
  redis.call('ZADD', R.exp, expires, member)
  rec_until(expms)
  for _, st in ipairs(R.names) do
    redis.call('ZREM', R.live .. st, member)
  end
end
local function rec_close()
  if R.last then
    keep_until(R.rev, R.last)
    keep_until(R.exp, R.last)
  end
  sweep(R.gc, R.exp, R.rev, R.strats, R.live)
end
local function rec_revoked(tag, id, subject, at, reason, expires)
  local payload = '{"id":' .. cjson.encode(id) .. ',"subject":' .. cjson.encode(subject or '') ..
    ',"revoked_at":' .. at .. ',"expires_at":' .. expires .. ',"reason":' .. cjson.encode(reason or '') .. '}'
  rec_add(at, tag .. id, payload, expires, string.format('%d', math.ceil(tonumber(expires) / 1000)))
end
`

// recordScript adds revocations to the revocation index, takes them out of
// the live indexes and, unless the channel is empty (bulk revocations),
// publishes each one that was not there yet (recordFn). Outside a Cluster
// only bulk revocations use it: the other scripts that revoke record
// what they revoke themselves.
//
//	KEYS: revocation index, GC index, expiry index, strategies (one slot)
//	ARGV: channel ("": do not publish), live index base, then per
//	      revocation: revoked at (µs), member, payload, session expiry
//	      (µs), (ms)
var recordScript = newPairedScript(allowOOM + prelude + recordFn + `
rec_open(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2])
if ARGV[1] == '' then
  -- Nothing to publish: one variadic command per index.
  local rev, exp, refs = {}, {}, {}
  for i = 3, #ARGV, 5 do
    rev[#rev + 1], rev[#rev + 2] = ARGV[i], ARGV[i + 1]
    exp[#exp + 1], exp[#exp + 2] = ARGV[i + 3], ARGV[i + 1]
    refs[#refs + 1] = ARGV[i + 1]
    rec_until(ARGV[i + 4])
  end
  if #refs > 0 then
    redis.call('ZADD', KEYS[1], 'NX', unpack(rev))
    redis.call('ZADD', KEYS[3], 'NX', unpack(exp)) -- an absolute expiry never moves
    for _, st in ipairs(R.names) do
      redis.call('ZREM', ARGV[2] .. st, unpack(refs))
    end
  end
else
  for i = 3, #ARGV, 5 do
    rec_add(ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4])
  end
end
rec_close()
return 0
`)

// dropScript removes sessions that are gone from the global indexes.
//
//	KEYS: GC index, expiry index, revocation index, strategies (one slot)
//	ARGV: live index base, member, ... (at most dropBatch members)
var dropScript = rueidis.NewLuaScript(prelude + `
unindex(KEYS[1], KEYS[2], KEYS[3], KEYS[4], ARGV[1], {unpack(ARGV, 2)})
return 0
`)

// putMetaScript replaces a shared document if its version is still the
// given one (0: it must not exist). Paired: a revoking document's write
// goes out with WAIT (execAcked).
//
//	KEYS: meta key
//	ARGV: expected version, value
//	→ the new version | nil (version moved: conflict)
var putMetaScript = newPairedScript(putMetaBody)

// putRevokingMetaScript is putMetaScript for the documents that revoke
// (RevokingMeta, PutRevokingMeta): Redis runs it when it is out of memory,
// as it does the scripts that revoke sessions; the kill switch writes its
// watermarks with it before it revokes anything.
var putRevokingMetaScript = newPairedScript(allowOOM + putMetaBody)

const putMetaBody = `
local cur = redis.call('HGET', KEYS[1], 'ver')
local v = 0
if cur then v = tonumber(cur) end
if v ~= tonumber(ARGV[1]) then return false end
redis.call('HSET', KEYS[1], 'val', ARGV[2], 'ver', v + 1)
return v + 1
`

// pairedScript is a script that can share a round trip with another
// (execPair: EVALSHA with the SHA-1 Redis gives the script), or with WAIT
// (execAcked: EVAL).
type pairedScript struct {
	*rueidis.Lua
	sha string
	src string // sent with EVAL by the revocations that wait for replicas (execAcked)
}

func newPairedScript(src string) pairedScript {
	sum := sha1.Sum([]byte(src))
	return pairedScript{Lua: rueidis.NewLuaScript(src), sha: hex.EncodeToString(sum[:]), src: src}
}

// execPair sends two scripts in one round trip (pipelined; each atomic on
// its own, in its own slot) and returns their results. One that Redis has
// not loaded (NOSCRIPT) is sent again with its source.
func (s *Store) execPair(ctx context.Context, a pairedScript, aKeys, aArgs []string, b pairedScript, bKeys, bArgs []string) (rueidis.RedisResult, rueidis.RedisResult) {
	res := s.client.DoMulti(ctx,
		s.client.B().Evalsha().Sha1(a.sha).Numkeys(int64(len(aKeys))).Key(aKeys...).Arg(aArgs...).Build(),
		s.client.B().Evalsha().Sha1(b.sha).Numkeys(int64(len(bKeys))).Key(bKeys...).Arg(bArgs...).Build())
	if err, ok := rueidis.IsRedisErr(res[0].Error()); ok && err.IsNoScript() {
		res[0] = a.Exec(ctx, s.client, aKeys, aArgs)
	}
	if err, ok := rueidis.IsRedisErr(res[1].Error()); ok && err.IsNoScript() {
		res[1] = b.Exec(ctx, s.client, bKeys, bArgs)
	}
	return res[0], res[1]
}

// store runs script on args (records of the event log or the outbox, laid
// out flat, recordStride strings each) in chunks of at most batch records,
// each call given base and the maximum age first ("0", no safety-net
// sweep, unless sweepDue). Each chunk is stored atomically; when one
// fails, those before it stay.
func (s *Store) store(ctx context.Context, op string, script *rueidis.Lua, keys []string, base string, args []string, batch int) error {
	for part := range slices.Chunk(args, recordStride*batch) {
		a := make([]string, 0, 2+len(part))
		a = append(append(a, base, s.maxAge(s.sweepDue(len(part)/recordStride))), part...)
		if err := script.Exec(ctx, s.client, keys, a).Error(); err != nil {
			return s.fail(op, err)
		}
	}
	return nil
}

// deleteBefore runs script, which deletes up to n records older than a
// bound, in calls of at most batch until limit records are deleted or a
// call deletes fewer than it may, and returns how many it deleted. Each
// call's arguments are base, the bound, n, then extra.
func (s *Store) deleteBefore(ctx context.Context, op string, script *rueidis.Lua, keys []string, base string, before time.Time, limit, batch int, extra ...string) (int, error) {
	bound := "(" + itoa(ceilMicros(before))
	deleted := 0
	for deleted < limit {
		n := min(limit-deleted, batch)
		got, err := script.Exec(ctx, s.client, keys, append([]string{base, bound, itoa(int64(n))}, extra...)).AsInt64()
		if err != nil {
			return deleted, s.fail(op, err)
		}
		deleted += int(got)
		if int(got) < n {
			break
		}
	}
	return deleted, nil
}
