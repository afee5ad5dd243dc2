package redisstore

import (
	"context"
	"crypto/rand"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

var _ sessiond.BulkRevoker = (*Store)(nil)

// Bulk revocation (the incident kill switch) and the live-session count.
// See docs/redisstore.md, "Bulk revocation" and "Live sessions".

const (
	// bulkBatch bounds the sessions of one revocation script, and
	// bulkSubjects the subjects, so no script holds Redis for long. 250:
	// revokeRefsRecordScript also records what it revokes, about twice
	// the work per session of revokeRefsScript, which took 500.
	bulkBatch    = 250
	bulkSubjects = 256
	// bulkScan is the COUNT of each ZSCAN of the expiry index.
	bulkScan = 1000
	// bulkWindow: on a Cluster, where a script touches one slot, this
	// many sessions (or subjects) are grouped by slot at once, so that
	// sessions of different subjects sharing a slot share a script.
	bulkWindow = 16384
	// bulkPipeline bounds the scripts of one pipelined round trip on a
	// Cluster.
	bulkPipeline = 512
	// bulkWorkers round trips are in flight at once.
	bulkWorkers = 4
)

// revokeRefsScript revokes the given sessions that are live at a time
// and, with an issued-before bound, were created before it.
//
//	KEYS: session keys
//	ARGV: at (µs), reason, issued before (µs, "": any), then the ID of
//	      each session key
//	→ {id, subject, absolute expiry, ...} of the sessions it revoked
var revokeRefsScript = rueidis.NewLuaScript(prelude + `
local at = tonumber(ARGV[1])
local ib = false
if ARGV[3] ~= '' then ib = tonumber(ARGV[3]) end
local out = {}
for i = 1, #KEYS do
  local f = redis.call('HMGET', KEYS[i], 'sub', 'ra', 'ie', 'e', 'c')
  if f[4] and live(f[2], f[3], f[4], at) and (not ib or tonumber(f[5]) < ib) then
    redis.call('HSET', KEYS[i], 'ra', ARGV[1], 'rr', ARGV[2])
    out[#out + 1] = ARGV[3 + i]
    out[#out + 1] = f[1]
    out[#out + 1] = f[4]
  end
end
return out
`)

// revokeRefsRecordScript is revokeRefsScript and the bulk form of
// recordScript in one, for a Redis that is not a Cluster (the session keys
// and the global indexes are in different slots): the sessions it revokes
// go out of the live indexes in the same script, so nothing is sent back
// and forth per session, and a batch is revoked and recorded or neither.
// They do not go to the revocation index one by one: the incident's entry
// in the bulk index (bulkBeginScript, written before the first batch) is
// what makes Revocations find them. Its callers find the sessions in the
// expiry index, so it does not add them there.
//
//	KEYS: session keys, then the revocation index, GC index, expiry
//	      index, strategies, bulk index
//	ARGV: at (µs), reason, issued before (µs, "": any), live index base,
//	      then the member (tag and ID) of each session key
//	→ {count revoked, distinct subject, ...}
var revokeRefsRecordScript = rueidis.NewLuaScript(prelude + `
local n = #KEYS - 5
local rev, gc, exp, strats, bulk = KEYS[n + 1], KEYS[n + 2], KEYS[n + 3], KEYS[n + 4], KEYS[n + 5]
local at = tonumber(ARGV[1])
local ib = false
if ARGV[3] ~= '' then ib = tonumber(ARGV[3]) end
local refs, subs, seen = {}, {0}, {}
local last = 0 -- the latest absolute expiry revoked (µs)
for i = 1, n do
  local f
  if ib then
    f = redis.call('HMGET', KEYS[i], 'sub', 'ra', 'ie', 'e', 'c')
  else
    f = redis.call('HMGET', KEYS[i], 'sub', 'ra', 'ie', 'e')
  end
  if f[4] and live(f[2], f[3], f[4], at) and (not ib or tonumber(f[5]) < ib) then
    redis.call('HSET', KEYS[i], 'ra', ARGV[1], 'rr', ARGV[2])
    refs[#refs + 1] = ARGV[4 + i]
    local e = tonumber(f[4])
    if e > last then last = e end
    if not seen[f[1]] then
      seen[f[1]] = true
      subs[#subs + 1] = f[1]
    end
  end
end
if #refs > 0 then
  for _, st in ipairs(redis.call('SMEMBERS', strats)) do
    redis.call('ZREM', ARGV[4] .. st, unpack(refs))
  end
  keep_until(bulk, string.format('%d', math.ceil(last / 1000)))
end
sweep(gc, exp, rev, strats, ARGV[4])
subs[1] = #refs
return subs
`)

// bulkBeginScript starts a bulk revocation when Redis is not a Cluster:
// it enters the incident in the bulk index (member: at and a random
// suffix, score: at), which tells Revocations to look for its sessions in
// the session hashes, and, for a revocation of every session, sets each
// strategy's live index aside (RENAME, O(1)) so that the sessions it is
// about to revoke need no removal one by one: CountLive reads only the
// fresh live indexes, which gain the sessions created from now on. The
// caller deletes the set-aside indexes (UNLINK: Redis frees them in the
// background) once every batch is done.
//
//	KEYS: bulk index, strategies, expiry index
//	ARGV: at (µs), incident member, live index base, "1": set aside
//	→ the names the live indexes now have
var bulkBeginScript = rueidis.NewLuaScript(prelude + `
local bulk, strats, exp = KEYS[1], KEYS[2], KEYS[3]
redis.call('ZADD', bulk, ARGV[1], ARGV[2])
local t = redis.call('PEXPIRETIME', exp)
if t > 0 then
  keep_until(bulk, t)
elseif redis.call('PEXPIRETIME', bulk) == -1 then
  redis.call('PEXPIRE', bulk, 86400000) -- no session indexed: nothing to keep it for
end
local out = {}
if ARGV[4] == '1' then
  for _, st in ipairs(redis.call('SMEMBERS', strats)) do
    local k = ARGV[3] .. st
    if redis.call('EXISTS', k) == 1 then
      local to = k .. ':bulk:' .. ARGV[2]
      redis.call('RENAME', k, to)
      out[#out + 1] = to
    end
  end
end
return out
`)

// revokeSubjectsScript revokes the sessions of the given subjects that are
// live at a time and, with an issued-before bound, were created before it.
// It trims each subject index as revokeSubjectScript does.
//
//	KEYS: subject indexes
//	ARGV: prefix, at (µs), reason, issued before (µs, "": any), then per
//	      subject index: tag, subject
//	→ {id, subject, absolute expiry, ...} of the sessions it revoked
var revokeSubjectsScript = rueidis.NewLuaScript(prelude + `
local at = tonumber(ARGV[2])
local ib = false
if ARGV[4] ~= '' then ib = tonumber(ARGV[4]) end
local out = {}
for i = 1, #KEYS do
  trim(KEYS[i])
  local subject = ARGV[4 + 2 * i]
  local base = ARGV[1] .. ':{' .. ARGV[3 + 2 * i] .. '}:s:'
  for _, id in ipairs(redis.call('ZRANGE', KEYS[i], 0, -1)) do
    local k = base .. id
    local f = redis.call('HMGET', k, 'sub', 'ra', 'ie', 'e', 'c')
    if not f[4] then
      redis.call('ZREM', KEYS[i], id)
    elseif f[1] == subject and live(f[2], f[3], f[4], at) and (not ib or tonumber(f[5]) < ib) then
      redis.call('HSET', k, 'ra', ARGV[2], 'rr', ARGV[3])
      out[#out + 1] = id
      out[#out + 1] = subject
      out[#out + 1] = f[4]
    end
  end
end
return out
`)

// RevokeMatching revokes every session live at at that f selects, with
// reason; see sessiond.BulkRevoker. It returns how many it revoked and
// their distinct subjects, sorted. ErrInvalidArgument if f sets nothing.
//
// With Subjects it reads those subjects' indexes; otherwise it walks the
// global expiry index (ZSCAN) and skips sessions whose absolute expiry is
// not after at. Either way each script revokes at most 500 sessions (or
// 256 subjects) of one slot, or of any slots when Redis is not a Cluster,
// and several run at once. Unlike Revoke it publishes nothing: the
// revocations go to the revocation index (Revocations) only, and the
// Manager's incident watermark is what stops the sessions' tokens on
// every node. When it fails part way (ErrStoreUnavailable, a canceled
// ctx) it returns what it revoked so far; calling it again finishes the
// job and counts only the rest.
func (s *Store) RevokeMatching(ctx context.Context, f sessiond.RevokeFilter, at time.Time, reason sessiond.RevokeReason) (int, []string, error) {
	const op = "revoke matching"
	if err := ctxErr(ctx, op, f.Validate()); err != nil {
		return 0, nil, err
	}
	if at.IsZero() {
		return 0, nil, wrap(op, &sessiond.ArgumentError{Field: "at", Msg: "must be set"})
	}
	b := &bulkRevocation{s: s, at: at, reason: reason, subjects: make(map[string]struct{})}
	issuedBefore := ""
	if !f.IssuedBefore.IsZero() {
		issuedBefore = itoa(ceilMicros(f.IssuedBefore))
	}
	var err error
	if len(f.Subjects) > 0 {
		err = b.run(ctx, revokeSubjectsScript, func(ctx context.Context, emit func([]rueidis.LuaExec) bool) error {
			return s.subjectBatches(ctx, f.Subjects, at, reason, issuedBefore, emit)
		})
	} else {
		script := revokeRefsScript
		var aside []string
		if s.crossSlot {
			script, b.recorded = revokeRefsRecordScript, true
			aside, err = s.bulkBegin(ctx, at, f.IssuedBefore.IsZero())
		}
		if err == nil {
			err = b.run(ctx, script, func(ctx context.Context, emit func([]rueidis.LuaExec) bool) error {
				return s.sessionBatches(ctx, at, reason, issuedBefore, emit)
			})
		}
		if err == nil && len(aside) > 0 {
			// Every session the set-aside indexes held is now revoked or
			// not live at at; after a failure they stay until their TTL
			// (see bulkBegin).
			err = s.client.Do(ctx, s.client.B().Unlink().Key(aside...).Build()).Error()
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
	subjects := make([]string, 0, len(b.subjects))
	for sub := range b.subjects {
		subjects = append(subjects, sub)
	}
	slices.Sort(subjects)
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
// revokes every session (all), sets the live indexes aside; it returns
// their new names. A revocation that fails after this leaves the sessions
// it has not reached out of CountLive until it is run again (which
// revokes them) or they end; the set-aside indexes expire with the
// sessions they held.
func (s *Store) bulkBegin(ctx context.Context, at time.Time, all bool) ([]string, error) {
	member := encTime(at) + ":" + rand.Text()
	setAside := "0"
	if all {
		setAside = "1"
	}
	return bulkBeginScript.Exec(ctx, s.client, []string{s.bulkKey(), s.stratKey, s.expKey},
		[]string{encTime(at), member, s.liveBase, setAside}).AsStrSlice()
}

// bulkRevocation runs revocation scripts on bulkWorkers goroutines and
// adds up what they revoked.
type bulkRevocation struct {
	s      *Store
	at     time.Time
	reason sessiond.RevokeReason
	// recorded: the script records its revocations itself
	// (revokeRefsRecordScript) and answers a count and subjects.
	recorded bool

	mu       sync.Mutex
	n        int
	subjects map[string]struct{}
}

// run calls produce, which emits batches of scripts (false: stop, the run
// failed), and executes them on the workers. It returns the first error.
func (b *bulkRevocation) run(ctx context.Context, script *rueidis.Lua, produce func(context.Context, func([]rueidis.LuaExec) bool) error) error {
	ctx, cancel := context.WithCancel(ctx)
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
			cancel()
		})
	}
	for range bulkWorkers {
		wg.Go(func() {
			for execs := range work {
				if ctx.Err() != nil {
					continue // drain
				}
				if err := b.exec(ctx, script, execs); err != nil {
					failed(err)
				}
			}
		})
	}
	err := produce(ctx, func(execs []rueidis.LuaExec) bool {
		select {
		case work <- execs:
			return true
		case <-ctx.Done():
			return false
		}
	})
	close(work)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// exec runs one batch of scripts (pipelined) and records what they
// revoked in the revocation index, without publishing.
func (b *bulkRevocation) exec(ctx context.Context, script *rueidis.Lua, execs []rueidis.LuaExec) error {
	if b.recorded {
		return b.execRecorded(ctx, script, execs)
	}
	var results []rueidis.RedisResult
	if len(execs) == 1 {
		results = []rueidis.RedisResult{script.Exec(ctx, b.s.client, execs[0].Keys, execs[0].Args)}
	} else {
		results = script.ExecMulti(ctx, b.s.client, execs...)
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
	// What a script revoked is revoked, whatever happened to the others:
	// record it and count it.
	if err := b.s.record(ctx, revs, false); err != nil && firstErr == nil {
		firstErr = err
	}
	b.mu.Lock()
	b.n += len(revs)
	for _, r := range revs {
		b.subjects[r.Subject] = struct{}{}
	}
	b.mu.Unlock()
	return firstErr
}

// execRecorded runs one batch of revokeRefsRecordScript, which records
// what it revokes itself, and counts what it revoked.
func (b *bulkRevocation) execRecorded(ctx context.Context, script *rueidis.Lua, execs []rueidis.LuaExec) error {
	s := b.s
	for i := range execs {
		execs[i].Keys = append(slices.Clip(execs[i].Keys), s.revKey, s.gcKey, s.expKey, s.stratKey, s.bulkKey())
	}
	var results []rueidis.RedisResult
	if len(execs) == 1 {
		results = []rueidis.RedisResult{script.Exec(ctx, s.client, execs[0].Keys, execs[0].Args)}
	} else {
		results = script.ExecMulti(ctx, s.client, execs...)
	}
	var firstErr error
	for _, res := range results {
		reply, err := res.ToArray()
		if err == nil && len(reply) == 0 {
			err = errCorrupt
		}
		var n int64
		if err == nil {
			n, err = reply[0].AsInt64()
		}
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		b.mu.Lock()
		b.n += int(n)
		for i := 1; i < len(reply); i++ {
			sub, _ := field(&reply[i])
			b.subjects[sub] = struct{}{}
		}
		b.mu.Unlock()
	}
	return firstErr
}

// sessionBatches walks the expiry index and emits revokeRefsScript
// batches of the sessions whose absolute expiry is after at. ZSCAN
// returns every member present for the whole walk at least once; one
// returned twice is already revoked the second time, and not counted.
func (s *Store) sessionBatches(ctx context.Context, at time.Time, reason sessiond.RevokeReason, issuedBefore string, emit func([]rueidis.LuaExec) bool) error {
	atUS := float64(micros(at))
	head := []string{encTime(at), string(reason), issuedBefore}
	if s.crossSlot {
		// revokeRefsRecordScript: it takes members, to record them.
		head = append(head, s.liveBase)
	}
	type sref struct {
		tag string
		id  sessiond.SessionID
	}
	var pending []sref
	execOf := func(refs []sref) rueidis.LuaExec {
		keys := make([]string, 0, len(refs))
		args := make([]string, 0, len(head)+len(refs))
		args = append(args, head...)
		for _, r := range refs {
			keys = append(keys, s.sessKey(r.tag, r.id))
			if s.crossSlot {
				args = append(args, ref(r.tag, r.id))
			} else {
				args = append(args, string(r.id))
			}
		}
		return rueidis.LuaExec{Keys: keys, Args: args}
	}
	flush := func(final bool) bool {
		if s.crossSlot {
			for len(pending) >= bulkBatch || final && len(pending) > 0 {
				n := min(len(pending), bulkBatch)
				if !emit([]rueidis.LuaExec{execOf(pending[:n])}) {
					return false
				}
				pending = pending[n:]
			}
			return true
		}
		if len(pending) < bulkWindow && !final {
			return true
		}
		groups := make(map[uint16][]sref)
		for _, r := range pending {
			slot := slotOf(r.tag)
			groups[slot] = append(groups[slot], r)
		}
		pending = nil
		var execs []rueidis.LuaExec
		for _, g := range groups {
			for chunk := range slices.Chunk(g, bulkBatch) {
				execs = append(execs, execOf(chunk))
			}
		}
		for chunk := range slices.Chunk(execs, bulkPipeline) {
			if !emit(chunk) {
				return false
			}
		}
		return true
	}
	var cursor uint64
	for {
		e, err := s.client.Do(ctx, s.client.B().Zscan().Key(s.expKey).Cursor(cursor).Count(bulkScan).Build()).AsScanEntry()
		if err != nil {
			return err
		}
		for i := 0; i+1 < len(e.Elements); i += 2 {
			score, err := strconv.ParseFloat(e.Elements[i+1], 64)
			if err != nil || score <= atUS {
				continue // not live at at
			}
			if tag, id, ok := parseRef(e.Elements[i]); ok {
				pending = append(pending, sref{tag, id})
			}
		}
		cursor = e.Cursor
		if !flush(cursor == 0) {
			return ctx.Err()
		}
		if cursor == 0 {
			return nil
		}
	}
}

// subjectBatches emits revokeSubjectsScript batches for the distinct
// subjects.
func (s *Store) subjectBatches(ctx context.Context, subjects []string, at time.Time, reason sessiond.RevokeReason, issuedBefore string, emit func([]rueidis.LuaExec) bool) error {
	type subj struct{ tag, subject string }
	seen := make(map[string]struct{}, len(subjects))
	var all []subj
	for _, sub := range subjects {
		if _, ok := seen[sub]; !ok {
			seen[sub] = struct{}{}
			all = append(all, subj{tagOf(sub), sub})
		}
	}
	head := []string{s.prefix, encTime(at), string(reason), issuedBefore}
	execOf := func(ss []subj) rueidis.LuaExec {
		keys := make([]string, 0, len(ss))
		args := make([]string, 0, len(head)+2*len(ss))
		args = append(args, head...)
		for _, x := range ss {
			keys = append(keys, s.idxKey(x.tag))
			args = append(args, x.tag, x.subject)
		}
		return rueidis.LuaExec{Keys: keys, Args: args}
	}
	if s.crossSlot {
		for chunk := range slices.Chunk(all, bulkSubjects) {
			if !emit([]rueidis.LuaExec{execOf(chunk)}) {
				return ctx.Err()
			}
		}
		return nil
	}
	for window := range slices.Chunk(all, bulkWindow) {
		groups := make(map[uint16][]subj)
		for _, x := range window {
			slot := slotOf(x.tag)
			groups[slot] = append(groups[slot], x)
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

// crc16 is CRC-16/XMODEM, the checksum Redis Cluster takes keys' slots from.
func crc16(s string) uint16 {
	var crc uint16
	for i := 0; i < len(s); i++ {
		crc ^= uint16(s[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return crc
}

// countLiveScript counts, per strategy, the live index's sessions whose
// absolute expiry is after a time (read-only).
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
	var cursor uint64
	for {
		e, err := s.client.Do(ctx, s.client.B().Zscan().Key(s.expKey).Cursor(cursor).Count(revocationsScan).Build()).AsScanEntry()
		if err != nil {
			return nil, err
		}
		for i := 0; i+1 < len(e.Elements); i += 2 {
			if _, ok := seen[e.Elements[i]]; !ok {
				seen[e.Elements[i]] = struct{}{}
				members = append(members, e.Elements[i])
			}
		}
		if cursor = e.Cursor; cursor == 0 {
			return members, nil
		}
	}
}

// revocationsScan is the COUNT of each ZSCAN of the expiry index by
// Revocations after a bulk revocation.
const revocationsScan = 5000
