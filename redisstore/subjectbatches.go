package redisstore

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

var _ sessiond.SubjectBatchRevoker = (*Store)(nil)

// A subject's sessions revoked a batch a script (RevokeSubjectBatch, and
// RevokeSubject's walk), so that no script holds Redis for long however
// many sessions the subject has: one script over 100,000 took 2.2–12.1 s
// (docs/PERFORMANCE.md, "Revoking a huge subject's sessions").

const (
	// subjectBatch bounds the sessions one script revokes: about 128 ×
	// 9–22 µs of Redis (with their records), well inside the 10 ms a
	// script may hold it.
	subjectBatch = 128
	// subjectBatchScan bounds the members of the subject index one script
	// reads, as a multiple of its batch: revoked and expired sessions stay
	// in the index until their absolute expiry, and a script that met only
	// those would otherwise read on to the end.
	subjectBatchScan = 4
)

// walkSubjectFn defines walk_subject, one step of a walk through a subject
// index, which the subject batch scripts (subjectBatchLua) and the kill
// switch's (revokeSubjectsScript) share.
//
// The walk goes through the subject index in its order, (absolute expiry,
// member), from the member after the position to the end bound: the last
// member when the walk began. A member's score never moves, so every
// session present for the whole walk lies after the position until a
// step walks it, and before the end bound; one added meanwhile past the
// end bound is not the walk's. A member that has left the index (a
// position, the end bound) is ranked without it (rank_after, bulk.go), as
// next_page does.
//
// A step reads members until it has found limit sessions to take and one
// more (more: sessions remain), the end bound, or budget members; in the
// last case it cannot tell, and answers more. The position it answers is
// the last member it read before the one more. A session to take is live
// at at, of subject, not except, and, with issued before ib (µs; false:
// any), created before it; a live session created at or after ib is
// passed, as the walk never takes it. With born_by (µs; nil: none) a live
// session created after it ends the step as the one more does, rather
// than be passed: the next step, prepared afresh, takes it.
//
// It takes ZREM of the members whose session is gone, and returns the
// keys of the sessions found, {id, absolute expiry, created, IP,
// User-Agent, ...} of the same sessions, more, the position (member,
// score; "" before the first), the end bound, and how many members it
// read.
const walkSubjectFn = rankAfterFn + `
local function walk_subject(idx, base, subject, except, at, ib, born_by, pm, ps, em, es, limit, budget)
  local atn = tonumber(at)
  local function after(m, sc)
    local r = redis.call('ZRANK', idx, m)
    if r then return r + 1 end
    return rank_after(idx, m, sc)
  end
  if em == '' then
    local last = redis.call('ZRANGE', idx, -1, -1, 'WITHSCORES')
    if #last == 0 then return {}, {}, false, '', '', '', '', 0 end
    em, es = last[1], last[2]
  end
  local stop = after(em, es)
  local from
  if pm == '' then
    from = redis.call('ZCOUNT', idx, '-inf', at)
  else
    from = after(pm, ps)
  end
  local found, out, gone = {}, {}, {}
  local more, r = false, from
  while not more and r < stop and r - from < budget do
    local page = redis.call('ZRANGE', idx, r, math.min(stop, from + budget, r + limit + 1) - 1, 'WITHSCORES')
    if #page == 0 then r = stop break end
    for i = 1, #page, 2 do
      local id = page[i]
      if id ~= except then
        local f = redis.call('HMGET', base .. id, 'sub', 'ra', 'ie', 'e', 'c', 'ip', 'ua')
        if not f[4] then
          gone[#gone + 1] = id
        elseif f[1] == subject and live(f[2], f[3], f[4], atn) and not (ib and tonumber(f[5] or '0') >= ib) then
          -- The position never passes a live session it leaves: one created
          -- after the prepared ones ends the step as the one more does.
          if #found == limit or (born_by and f[5] and tonumber(f[5]) > born_by) then
            more = true
            break
          end
          found[#found + 1] = base .. id
          local k = #out
          out[k + 1], out[k + 2], out[k + 3], out[k + 4], out[k + 5] = id, f[4], f[5] or '0', f[6] or '', f[7] or ''
        end
      end
      pm, ps = id, page[i + 1]
      r = r + 1
    end
  end
  if r < stop then more = true end
  if #gone > 0 then redis.call('ZREM', idx, unpack(gone)) end
  return found, out, more, pm, ps, em, es, r - from
end
`

// subjectBatchLua is the source of the subject batch scripts: one step of
// a walk (walk_subject) with at most limit sessions and budget members;
// store is what a script runs once it has revoked at least one session
// (found, their keys; out, their rows), with the tail of its arguments
// from ARGV[j].
//
// With n ≥ 0 prepared sessions the script revokes only when the sessions
// it finds are exactly those, and more is what they were prepared with;
// otherwise it changes nothing and answers "prepare" and what it found.
// On a try after the first (n > 0) it takes only the sessions created by
// at or by the latest of the prepared ones, whichever is later, as
// revokeSubjectLua does: logins made meanwhile cannot hold the batch off.
// It stops at a live session created later, as at the one more, rather
// than pass it: the next batch, prepared afresh, takes it. Passing it
// would leave it behind the position for good, and "created later" may be
// only a clock running ahead on the server that made it.
// n = -1 revokes what it finds, with no records.
//
//	KEYS: subject index, then the script's own
//	ARGV: base, subject, except id, has except ("1"/"0"), at (µs), reason,
//	      position member ("": none), its score, end member ("": none yet,
//	      the script takes the last), its score, limit, budget, n,
//	      prepared more ("1"/"0"), the n prepared IDs, then the script's
//	      own (from ARGV[j])
//	→ {"ok"|"prepare", more ("1"/"0"), position member, its score, end
//	  member, its score, then per session: id, absolute expiry, created,
//	  IP, User-Agent}
func subjectBatchLua(store string) string {
	return walkSubjectFn + `
local idx, base, subject = KEYS[1], ARGV[1], ARGV[2]
local except = ARGV[4] == '1' and ARGV[3]
local at = tonumber(ARGV[5])
local limit, budget, n = tonumber(ARGV[11]), tonumber(ARGV[12]), tonumber(ARGV[13])
local j = 15 + math.max(n, 0)
local prepared, born_by = {}, nil
if n > 0 then
  born_by = at
  for i = 15, 14 + n do
    prepared[ARGV[i]] = true
    local c = tonumber(redis.call('HGET', base .. ARGV[i], 'c'))
    if c and c > born_by then born_by = c end
  end
end
local found, out, more, pm, ps, em, es = walk_subject(idx, base, subject, except, ARGV[5], false, born_by,
  ARGV[7], ARGV[8], ARGV[9], ARGV[10], limit, budget)
local ready = true
if n >= 0 then
  ready = #found == n and (n == 0 or (more and '1' or '0') == ARGV[14])
  for i = 1, #out, 5 do
    if not prepared[out[i]] then ready = false end
  end
end
local reply = {ready and 'ok' or 'prepare', more and '1' or '0', pm, ps, em, es}
if ready and #found > 0 then
  for _, k in ipairs(found) do redis.call('HSET', k, 'ra', ARGV[5], 'rr', ARGV[6]) end
` + store + `
end
for _, v in ipairs(out) do reply[#reply + 1] = v end
return reply
`
}

// revokeSubjectBatchScript is the batch outside a Cluster: it also writes
// the records block (when n > 0) and records the revocations (recordFn),
// so a batch, its records, its index entries and its feed messages are
// one step.
//
//	KEYS: subject index, the six record keys, revocation index, GC index,
//	      expiry index, strategies
//	ARGV: subjectBatchLua's, then channel, live index base, tag, event
//	      log base, outbox base, maximum age, records block
var revokeSubjectBatchScript = newPairedScript(allowOOM + prelude + recordsLua + recordFn + subjectBatchLua(`
if n > 0 then write_block(2, ARGV, j + 6, ARGV[j + 3], ARGV[j + 4], ARGV[j + 5]) end
rec_open(KEYS[8], KEYS[9], KEYS[10], KEYS[11], ARGV[j], ARGV[j + 1])
for i = 1, #out, 5 do rec_revoked(ARGV[j + 2], out[i], subject, ARGV[5], ARGV[6], out[i + 1]) end
rec_close()`))

// revokeSubjectBatchPendingScript is the batch on a Cluster: the records
// go to the pending hash of the subject's slot (pending.go), and the
// store records the revocations after it (record).
//
//	KEYS: subject index, pending hash
//	ARGV: subjectBatchLua's, then the field and the records ("": none)
var revokeSubjectBatchPendingScript = newPairedScript(allowOOM + prelude + pendLua + subjectBatchLua(`
if n > 0 and ARGV[#ARGV] ~= '' then pend() end`))

// batchCursor is where a walk through a subject index is: the last member
// read and its score ("" before the first), and the end bound; and
// whether a wait for replicas fell short on an earlier batch (gaveUp: the
// rest of the walk does not wait, as the kill switch's, which would
// otherwise wait Options.RevocationWait a batch while replicas are down).
type batchCursor struct {
	m, s, em, es string
	gaveUp       bool
}

// maxCursor bounds a cursor's length: four members and scores, the tag
// and the MAC.
const maxCursor = 4096

// encodeCursor is c as RevokeSubjectBatch returns it, for the subject of
// tag: its fields as JSON, then an HMAC-SHA256 of them under the store's
// own random key (cursorKey), so that a cursor the store did not return
// (a made-up position would skip sessions) is refused.
func (s *Store) encodeCursor(tag string, c batchCursor) string {
	b, _ := json.Marshal([]string{tag, c.m, c.s, c.em, c.es, boolArg(c.gaveUp)})
	return base64.RawURLEncoding.EncodeToString(b) + "." + base64.RawURLEncoding.EncodeToString(s.cursorMAC(b))
}

// cursorMAC is the MAC of a cursor's JSON.
func (s *Store) cursorMAC(b []byte) []byte {
	h := hmac.New(sha256.New, s.cursorKey[:])
	h.Write(b)
	return h.Sum(nil)
}

// parseBatchCursor reads a cursor encodeCursor returned for tag's subject
// ("": the start).
func (s *Store) parseBatchCursor(tag, cursor string) (batchCursor, error) {
	if cursor == "" {
		return batchCursor{}, nil
	}
	bad := func(msg string) (batchCursor, error) {
		return batchCursor{}, &sessiond.ArgumentError{Field: "cursor", Msg: msg}
	}
	if len(cursor) > maxCursor {
		return bad("too long")
	}
	body, sum, _ := strings.Cut(cursor, ".")
	b, err1 := base64.RawURLEncoding.DecodeString(body)
	mac, err2 := base64.RawURLEncoding.DecodeString(sum)
	if err1 != nil || err2 != nil || !hmac.Equal(mac, s.cursorMAC(b)) {
		return bad("not a cursor this store returned")
	}
	var f []string
	if json.Unmarshal(b, &f) != nil || len(f) != 6 {
		return bad("not a cursor this store returned")
	}
	if f[0] != tag {
		return bad("a cursor of another subject")
	}
	c := batchCursor{m: f[1], s: f[2], em: f[3], es: f[4], gaveUp: f[5] == "1"}
	if !score(c.es) || c.em == "" || (c.m == "") != (c.s == "") || c.m != "" && !score(c.s) || f[5] != "0" && f[5] != "1" {
		return bad("not a cursor this store returned")
	}
	return c, nil
}

// score reports whether v is a sorted-set score as Redis writes one: a
// number, not NaN or infinite (ZADD would refuse NaN).
func score(v string) bool {
	f, err := strconv.ParseFloat(v, 64)
	return err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
}

// subjectBatchReply is what a batch script answered.
type subjectBatchReply struct {
	status  string
	more    bool
	pos     batchCursor
	revs    []sessiond.Revocation
	created []time.Time
	clients []sessiond.Client
}

// next is the cursor after b: "" when the walk is done.
func (b *subjectBatchReply) next(s *Store, tag string) string {
	if !b.more {
		return ""
	}
	return s.encodeCursor(tag, b.pos)
}

func decodeSubjectBatch(reply []rueidis.RedisMessage, subject string, at time.Time, reason sessiond.RevokeReason) (*subjectBatchReply, error) {
	if len(reply) < 6 || (len(reply)-6)%5 != 0 {
		return nil, errCorrupt
	}
	var head [6]string
	for i := range head {
		head[i], _ = field(&reply[i])
	}
	b := &subjectBatchReply{status: head[0], more: head[1] == "1", pos: batchCursor{m: head[2], s: head[3], em: head[4], es: head[5]}}
	rows := (len(reply) - 6) / 5
	b.revs = make([]sessiond.Revocation, 0, rows)
	b.created = make([]time.Time, 0, rows)
	b.clients = make([]sessiond.Client, 0, rows)
	for i := 6; i < len(reply); i += 5 {
		var f [5]string
		for k := range f {
			f[k], _ = field(&reply[i+k])
		}
		exp, err1 := decTime(f[1])
		created, err2 := decTime(f[2])
		if err1 != nil || err2 != nil {
			return nil, errCorrupt
		}
		b.revs = append(b.revs, sessiond.Revocation{SessionID: sessiond.SessionID(f[0]), Subject: subject, RevokedAt: at, ExpiresAt: exp, Reason: reason})
		b.created = append(b.created, created)
		b.clients = append(b.clients, sessiond.Client{IP: f[3], UserAgent: f[4]})
	}
	return b, nil
}

// RevokeSubjectBatch revokes, in one script, up to limit (at most 128) of
// subject's sessions live at at, except except, after cursor, and returns
// them, their clients and the cursor after them; see
// sessiond.SubjectBatchRevoker. A script reads at most four times limit
// members of the subject index, so a batch may revoke fewer, even none,
// with a cursor to go on from. With revoked the first script finds the
// sessions and a second revokes exactly those and stores their records
// (outside a Cluster it also records the revocations; on a Cluster the
// records are kept pending in the subject's slot, then moved, and the
// revocations recorded after it), as RevokeSubjectRecorded does; without
// it one script revokes. The script that revokes waits for replicas
// unless a wait fell short on an earlier batch of the walk (the cursor
// says so). The cursor is signed with a random key of s's own: one s did
// not return (a made-up position, another Store's) is ErrInvalidArgument.
// On a Cluster, a batch whose script committed but whose revocations
// could not then be recorded (the revocation index and the feed, in
// another slot) is returned with the error; the next batch of any walk,
// or the minutely sweep, records them.
func (s *Store) RevokeSubjectBatch(ctx context.Context, subject string, except sessiond.SessionID, at time.Time,
	reason sessiond.RevokeReason, cursor string, limit int,
	revoked func([]sessiond.Revocation, []sessiond.Client, bool) sessiond.ChangeRecords) ([]sessiond.Revocation, []sessiond.Client, string, error) {
	const op = "revoke subject"
	if err := ctxErr(ctx, op, sessiond.CheckLimit(limit)); err != nil {
		return nil, nil, "", err
	}
	if at.IsZero() {
		return nil, nil, "", wrap(op, &sessiond.ArgumentError{Field: "at", Msg: "must be set"})
	}
	tag := tagOf(subject)
	cur, err := s.parseBatchCursor(tag, cursor)
	if err != nil {
		return nil, nil, "", wrap(op, err)
	}
	var gaveUp atomic.Bool
	gaveUp.Store(cur.gaveUp)
	b, err := s.revokeSubjectBatch(ctx, op, tag, subject, except, at, reason, cur, min(limit, subjectBatch), &gaveUp, revoked)
	if b == nil {
		return nil, nil, "", err
	}
	b.pos.gaveUp = gaveUp.Load()
	return b.revs, b.clients, b.next(s, tag), err
}

// revokeSubjectBatch runs one batch of the walk through subject's index
// from cur, revoking up to limit sessions, with the records revoked
// returns when it is not nil. It waits for replicas unless gaveUp, and
// sets it when a wait falls short (execAckedUnless). On a Cluster it
// first records the revocations of earlier batches whose record step
// failed (recordUnrecorded); when this batch's fails, it returns the
// batch with the error, the batch being revoked and its records stored.
func (s *Store) revokeSubjectBatch(ctx context.Context, op, tag, subject string, except sessiond.SessionID, at time.Time,
	reason sessiond.RevokeReason, cur batchCursor, limit int, gaveUp *atomic.Bool,
	revoked func([]sessiond.Revocation, []sessiond.Client, bool) sessiond.ChangeRecords) (*subjectBatchReply, error) {
	script, keys := revokeSubjectBatchScript, append(append([]string{s.idxKey(tag)}, s.recordKeys()...), s.recordIndexKeys()...)
	if !s.crossSlot {
		s.recordUnrecorded(ctx, op, gaveUp)
		script, keys = revokeSubjectBatchPendingScript, []string{s.idxKey(tag), s.pendingKey(slotOf(tag))}
	}
	head := []string{s.sessBase(tag), subject, string(except), boolArg(except != ""), encTime(at), string(reason),
		cur.m, cur.s, cur.em, cur.es, itoa(int64(limit)), itoa(int64(limit * subjectBatchScan))}
	var (
		ids   []string
		more  bool
		block = noRecords
		pend  pending // on a Cluster, once prepared with records
	)
	for try := range maxPrepare {
		n := "-1"
		if revoked != nil {
			n = itoa(int64(len(ids)))
		}
		args := append(append(slices.Clip(head), n, boolArg(more)), ids...)
		if s.crossSlot {
			args = s.recordsHeader(append(args, s.channel, s.liveBase, tag), revoked != nil && s.sweepDue(records(block)))
			args = append(args, block...)
		} else {
			args = append(args, pend.field, pend.payload)
		}
		// The first try with records, prepared for no session, revokes
		// none: it does not wait for replicas.
		var res rueidis.RedisResult
		if revoked != nil && try == 0 {
			res = script.Exec(ctx, s.client, keys, args)
		} else {
			res = s.execAckedUnless(ctx, op, gaveUp, script, rueidis.LuaExec{Keys: keys, Args: args})[0]
		}
		reply, err := res.ToArray()
		if err != nil {
			return nil, s.fail(op, err)
		}
		b, err := decodeSubjectBatch(reply, subject, at, reason)
		if err != nil {
			return nil, s.fail(op, err)
		}
		// The first script fixes the end bound; the tries after it keep it.
		head[8], head[9] = b.pos.em, b.pos.es
		if b.status == "ok" {
			if len(b.revs) == 0 {
				return b, nil
			}
			for _, r := range b.revs {
				s.wrote(s.sessKey(tag, r.SessionID))
			}
			if s.observeBatch != nil {
				s.observeBatch(len(b.revs))
			}
			if err := s.killedAfterRevoke(); err != nil {
				return nil, err
			}
			if pend.key != "" {
				s.settle(ctx, op, pend)
			}
			if !s.crossSlot {
				if err := s.recordBatch(ctx, op, gaveUp, b.revs); err != nil {
					// The batch is revoked and its records stored: the
					// caller counts it, and the next batch or the pending
					// sweep records it for the other nodes.
					s.keepUnrecorded(b.revs)
					return b, s.fail(op+": record", err)
				}
			}
			return b, nil
		}
		if b.status != "prepare" || revoked == nil {
			return nil, s.fail(op, errCorrupt)
		}
		ids = ids[:0]
		for _, r := range b.revs {
			ids = append(ids, string(r.SessionID))
		}
		more = b.more
		block, pend = noRecords, pending{}
		if len(ids) == 0 {
			continue // the sessions prepared ended meanwhile: revoked is not for none
		}
		if block, err = appendBlock(nil, revoked(b.revs, b.clients, b.more)); err != nil {
			return nil, wrap(op, err)
		}
		if !s.crossSlot && records(block) > 0 {
			if pend, err = s.pendFor(tag, block); err != nil {
				return nil, wrap(op, err)
			}
		}
	}
	return nil, fmt.Errorf("redisstore: %s: sessions to revoke kept changing: %w", op, sessiond.ErrConflict)
}

// errRecordCut is what a record step fails with under failRecordAt.
var errRecordCut = errors.New("cut off after the batch's script (test)")

// recordBatch records a committed batch's revocations (recordExec,
// publishing them).
func (s *Store) recordBatch(ctx context.Context, op string, gaveUp *atomic.Bool, revs []sessiond.Revocation) error {
	if s.failRecordAt.Load() > 0 && s.failRecordAt.Add(-1) == 0 {
		return errRecordCut
	}
	return s.recordExec(ctx, op, gaveUp, revs, true)
}

// maxUnrecorded bounds the revocations kept for a later record step: 512
// batches' worth, about 100 bytes each. Past it the oldest are dropped
// with a warning: their sessions are revoked, but only a node that reads
// them (Lookup) learns of it.
const maxUnrecorded = 512 * subjectBatch

// keepUnrecorded keeps revs, committed but not recorded, for
// recordUnrecorded.
func (s *Store) keepUnrecorded(revs []sessiond.Revocation) {
	s.unrecorded.mu.Lock()
	defer s.unrecorded.mu.Unlock()
	s.unrecorded.revs = append(s.unrecorded.revs, revs...)
	if over := len(s.unrecorded.revs) - maxUnrecorded; over > 0 {
		s.log.Warn("redisstore: revocations dropped unrecorded: other nodes learn of them only by reading their sessions", "dropped", over)
		s.unrecorded.revs = slices.Delete(s.unrecorded.revs, 0, over)
	}
}

// recordUnrecorded records and publishes the revocations keepUnrecorded
// kept; those it cannot record stay for the next call. A failure is
// logged, not returned: the caller's own change goes on (its sessions are
// as well revoked for being recorded late).
func (s *Store) recordUnrecorded(ctx context.Context, op string, gaveUp *atomic.Bool) {
	s.unrecorded.mu.Lock()
	revs := s.unrecorded.revs
	s.unrecorded.revs = nil
	s.unrecorded.mu.Unlock()
	if len(revs) == 0 {
		return
	}
	if err := s.recordExec(ctx, op, gaveUp, revs, true); err != nil {
		s.log.Warn("redisstore: revocations still unrecorded: they are retried with the next subject batch or sweep", "revocations", len(revs), "err", err.Error())
		s.keepUnrecorded(revs)
	}
}
