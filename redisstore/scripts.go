package redisstore

import "github.com/redis/rueidis"

// The scripts. Each runs atomically on one slot: its declared keys share
// the subject's hash tag, and the session keys it derives from subject-index
// members (base .. id) carry the same tag, which Redis Cluster accepts for
// undeclared keys of the script's own slot. Lua never formats a time: every
// time it stores or returns is a string it was given or read, so nothing
// is rounded through a double.
//
// Replies start with a status: ok, conflict, notfound, reused, limit.

// prelude holds helpers shared by the write scripts.
const prelude = `
-- cutoff is the exclusive ZREMRANGEBYSCORE bound below which a subject-index
-- member's session key has certainly been expired by Redis: now - 1 ms, in µs.
local function cutoff()
  local t = redis.call('TIME')
  local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) - 1
  return '(' .. string.format('%d', ms) .. '000'
end
local function trim(idx)
  redis.call('ZREMRANGEBYSCORE', idx, '-inf', cutoff())
end
-- keep_until makes key live at least until ms (PEXPIREAT never shortens).
local function keep_until(key, ms)
  local cur = redis.call('PEXPIRETIME', key)
  if cur == -1 or cur < tonumber(ms) then
    redis.call('PEXPIREAT', key, ms)
  end
end
-- sweep drops from the global indexes (GC, expiries, revocations) up to 100
-- sessions whose absolute expiry has passed: Redis has expired their keys.
local function sweep(gc, exp, rev)
  local dead = redis.call('ZRANGE', exp, '-inf', cutoff(), 'BYSCORE', 'LIMIT', 0, 100)
  if #dead > 0 then
    redis.call('ZREM', gc, unpack(dead))
    redis.call('ZREM', rev, unpack(dead))
    redis.call('ZREM', exp, unpack(dead))
  end
end
local function live(f_ra, f_ie, f_e, now)
  return f_ra == '0' and now < tonumber(f_ie) and now < tonumber(f_e)
end
`

// createScript stores a session, optionally after enforcing a limit.
//
//	KEYS: session key, subject index
//	ARGV: id, subject, base, now (created, µs), expires (µs), expires (ms),
//	      max (0: no limit), evict ("1"/"0"), field, value, ...
//	→ {"conflict"} | {"limit"} | {"ok", evicted id, its expiry, ...}
var createScript = rueidis.NewLuaScript(prelude + `
if redis.call('EXISTS', KEYS[1]) == 1 then return {'conflict'} end
local out = {'ok'}
local max = tonumber(ARGV[7])
if max > 0 then
  trim(KEYS[2])
  local now = tonumber(ARGV[4])
  local found = {}
  for _, id in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    local f = redis.call('HMGET', ARGV[3] .. id, 'sub', 'ra', 'ie', 'e', 'la', 'c')
    if not f[4] then
      redis.call('ZREM', KEYS[2], id)
    elseif f[1] == ARGV[2] and live(f[2], f[3], f[4], now) then
      found[#found + 1] = {id = id, e = f[4], la = tonumber(f[5]), c = tonumber(f[6])}
    end
  end
  if #found >= max then
    if ARGV[8] ~= '1' then return {'limit'} end
    table.sort(found, function(a, b)
      if a.la ~= b.la then return a.la < b.la end
      if a.c ~= b.c then return a.c < b.c end
      return a.id < b.id
    end)
    for i = 1, #found - max + 1 do
      redis.call('HSET', ARGV[3] .. found[i].id, 'ra', ARGV[4], 'rr', 'limit')
      out[#out + 1] = found[i].id
      out[#out + 1] = found[i].e
    end
  end
end
redis.call('HSET', KEYS[1], unpack(ARGV, 9))
redis.call('PEXPIREAT', KEYS[1], ARGV[6])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[1])
keep_until(KEYS[2], ARGV[6])
trim(KEYS[2])
return out
`)

// touchScript records activity unless the session is revoked.
//
//	KEYS: session key
//	ARGV: last active, idle expiry
//	→ {"notfound"} | {"ok"} (revoked) | {"ok", old idle expiry, expiry}
var touchScript = rueidis.NewLuaScript(`
local f = redis.call('HMGET', KEYS[1], 'e', 'ra', 'ie')
if not f[1] then return {'notfound'} end
if f[2] ~= '0' then return {'ok'} end
redis.call('HSET', KEYS[1], 'la', ARGV[1], 'ie', ARGV[2])
return {'ok', f[3], f[1]}
`)

// swapScript is the refresh compare-and-swap.
//
//	KEYS: session key
//	ARGV: old token field, next token field, next token value, now,
//	      grace since, last active, idle expiry
//	→ {"notfound"} | {"reused"} | {"conflict"} | {"ok"} (session revoked:
//	  activity not written) | {"ok", old idle expiry, expiry}
var swapScript = rueidis.NewLuaScript(`
local f = redis.call('HMGET', KEYS[1], 'e', 'ra', 'ie', ARGV[1])
if not f[1] or not f[4] then return {'notfound'} end
local kind, issued, expires, retired = string.match(f[4], '^([^|]*)|([^|]*)|([^|]*)|([^|]*)$')
if kind ~= '2' then return {'notfound'} end
if retired ~= '0' then
  local now, since = tonumber(ARGV[4]), tonumber(ARGV[5])
  if not (since < now and tonumber(retired) >= since) then return {'reused'} end
end
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then return {'conflict'} end
if retired == '0' then
  redis.call('HSET', KEYS[1], ARGV[1], kind .. '|' .. issued .. '|' .. expires .. '|' .. ARGV[4])
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
if f[2] ~= '0' then return {'ok'} end
redis.call('HSET', KEYS[1], 'la', ARGV[6], 'ie', ARGV[7])
return {'ok', f[3], f[1]}
`)

// revokeScript marks one session revoked unless it already is.
//
//	KEYS: session key
//	ARGV: revoked at, reason
//	→ nil (not found) | the session's fields, in sessionFields order
var revokeScript = rueidis.NewLuaScript(`
local f = redis.call('HMGET', KEYS[1], 'sub', 'str', 'c', 'la', 'ie', 'e', 'p', 'ip', 'ua', 'cl', 'ra', 'rr')
if not f[6] then return false end
if f[11] == '0' then
  redis.call('HSET', KEYS[1], 'ra', ARGV[1], 'rr', ARGV[2])
  f[11], f[12] = ARGV[1], ARGV[2]
end
return f
`)

// revokeSubjectScript revokes every live session of a subject.
//
//	KEYS: subject index
//	ARGV: base, subject, except id, has except ("1"/"0"), at, reason
//	→ {id, expiry, created, ...} of the sessions it revoked
var revokeSubjectScript = rueidis.NewLuaScript(prelude + `
trim(KEYS[1])
local at = tonumber(ARGV[5])
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if ARGV[4] ~= '1' or id ~= ARGV[3] then
    local k = ARGV[1] .. id
    local f = redis.call('HMGET', k, 'sub', 'ra', 'ie', 'e', 'c')
    if not f[4] then
      redis.call('ZREM', KEYS[1], id)
    elseif f[1] == ARGV[2] and live(f[2], f[3], f[4], at) then
      redis.call('HSET', k, 'ra', ARGV[5], 'rr', ARGV[6])
      out[#out + 1] = id
      out[#out + 1] = f[4]
      out[#out + 1] = f[5]
    end
  end
end
return out
`)

// listScript reads every session of a subject index (read-only).
//
//	KEYS: subject index
//	ARGV: base
//	→ {id, sessionFields values..., id, ...}
var listScript = rueidis.NewLuaScriptReadOnly(`
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local f = redis.call('HMGET', ARGV[1] .. id, 'sub', 'str', 'c', 'la', 'ie', 'e', 'p', 'ip', 'ua', 'cl', 'ra', 'rr')
  if f[6] then
    out[#out + 1] = id
    for i = 1, 12 do out[#out + 1] = f[i] end
  end
end
return out
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
trim(KEYS[1])
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

// indexScript enters a session in the global indexes: the GC index at its
// earliest expiry (or earlier than it was: ZADD LT) and the expiry index at
// its absolute expiry, and sweeps dead entries.
//
//	KEYS: GC index, expiry index, revocation index (one slot)
//	ARGV: member, earliest expiry (µs), absolute expiry (µs), (ms)
var indexScript = rueidis.NewLuaScript(prelude + `
redis.call('ZADD', KEYS[1], 'LT', ARGV[2], ARGV[1])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
keep_until(KEYS[1], ARGV[4])
keep_until(KEYS[2], ARGV[4])
sweep(KEYS[1], KEYS[2], KEYS[3])
return 0
`)

// recordScript adds revocations to the revocation index and publishes
// each one that was not there yet, so a retried revoke never publishes
// twice but a revoke whose first recording failed still does.
//
//	KEYS: revocation index, GC index, expiry index (one slot)
//	ARGV: channel, then per revocation: revoked at (µs), member, payload,
//	      session expiry (µs), (ms)
var recordScript = rueidis.NewLuaScript(prelude + `
for i = 2, #ARGV, 5 do
  if redis.call('ZADD', KEYS[1], 'NX', ARGV[i], ARGV[i + 1]) == 1 then
    redis.call('PUBLISH', ARGV[1], ARGV[i + 2])
  end
  redis.call('ZADD', KEYS[3], ARGV[i + 3], ARGV[i + 1])
  keep_until(KEYS[1], ARGV[i + 4])
  keep_until(KEYS[3], ARGV[i + 4])
end
sweep(KEYS[2], KEYS[3], KEYS[1])
return 0
`)

// putMetaScript replaces a shared document if its version is still the
// given one (0: it must not exist).
//
//	KEYS: meta key
//	ARGV: expected version, value
//	→ the new version | nil (version moved: conflict)
var putMetaScript = rueidis.NewLuaScript(`
local cur = redis.call('HGET', KEYS[1], 'ver')
local v = 0
if cur then v = tonumber(cur) end
if v ~= tonumber(ARGV[1]) then return false end
redis.call('HSET', KEYS[1], 'val', ARGV[2], 'ver', v + 1)
return v + 1
`)
