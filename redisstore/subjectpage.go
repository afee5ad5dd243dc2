package redisstore

import (
	"context"
	"math"
	"strconv"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

var _ sessiond.SubjectPager = (*Store)(nil)

// walkPageFn defines walk_page, a step of a walk through a subject index
// in either direction: after the position (member m, score sc) the next n
// members and their scores, or, with no position (m ""), the first n from
// the end the walk starts at; only those whose absolute expiry is after
// at (µs), the rest being over (so a walk backwards ends at the first of
// them). As next_page (bulk.go), a position whose member has left the
// index is found by rank_after, without a write.
const walkPageFn = rankAfterFn + `
local function walk_page(idx, at, m, sc, n, rev)
  local r
  local t = tonumber(at)
  if m ~= '' and not rev and tonumber(sc) <= t then
    m = '' -- every member after the position that is not over is after at
  end
  if m == '' then
    if rev then
      r = redis.call('ZRANGE', idx, '+inf', '(' .. at, 'BYSCORE', 'REV', 'LIMIT', 0, n, 'WITHSCORES')
    else
      r = redis.call('ZRANGE', idx, '(' .. at, '+inf', 'BYSCORE', 'LIMIT', 0, n, 'WITHSCORES')
    end
  else
    local rank = rev and 'ZREVRANK' or 'ZRANK'
    local from = redis.call(rank, idx, m)
    if from then
      from = from + 1
    elseif rev then
      -- The members sorting before m, walked from the last of them.
      from = redis.call('ZCARD', idx) - rank_after(idx, m, sc)
    else
      from = rank_after(idx, m, sc)
    end
    if rev then
      r = redis.call('ZRANGE', idx, from, from + n - 1, 'REV', 'WITHSCORES')
    else
      r = redis.call('ZRANGE', idx, from, from + n - 1, 'WITHSCORES')
    end
  end
  local ms, ss = {}, {}
  for i = 1, #r, 2 do
    if tonumber(r[i + 1]) > t then
      ms[#ms + 1] = r[i]
      ss[#ss + 1] = r[i + 1]
    end
  end
  return ms, ss
end
`

// pageFields are what the page scripts read of a session: sub, ra, ie, e
// (whether it is the subject's and live), c (its creation), then
// sessionFields.
const pageFields = `'sub', 'ra', 'ie', 'e', 'c', 'sub', 'str', 'c', 'la', 'ie', 'e', 'p', 'ip', 'ua', 'cl', 'ra', 'rr'`

// subjectPageScript reads one step of a ListPage walk (walk_page): count
// members after the position, and one more to tell whether the walk goes
// on; of the count, the sessions of the subject live at now, in full.
//
//	KEYS: subject index
//	ARGV: base, subject, now (µs), last member ("": none yet), its score,
//	      count, "1" to walk from the newest
//	→ {members read, last member, its score, 1 if more follow else 0,
//	   id, sessionFields values..., id, ...}
var subjectPageScript = rueidis.NewLuaScriptReadOnly(prelude + walkPageFn + `
local n = tonumber(ARGV[6])
local ms, ss = walk_page(KEYS[1], ARGV[3], ARGV[4], ARGV[5], n + 1, ARGV[7] == '1')
local read = math.min(#ms, n)
local out = {read, false, false, #ms > n and 1 or 0}
if read > 0 then
  out[2] = ms[read]
  out[3] = ss[read]
end
local now = tonumber(ARGV[3])
for i = 1, read do
  local f = redis.call('HMGET', ARGV[1] .. ms[i], ` + pageFields + `)
  if f[4] and f[1] == ARGV[2] and live(f[2], f[3], f[4], now) then
    out[#out + 1] = ms[i]
    for j = 6, #f do out[#out + 1] = f[j] end
  end
end
return out
`)

// subjectSpanScript reads one step of a ListSpan walk: count members of
// the subject index with the score expiry after the last one (by rank, as
// walk_page), and whether more follow; of those, the sessions of the
// subject created at created and live at now, in full.
//
//	KEYS: subject index
//	ARGV: base, subject, now (µs), expiry (µs), created (µs), last
//	      member ("": none yet), count
//	→ {last member, 1 if more follow else 0, id, sessionFields values..., id, ...}
var subjectSpanScript = rueidis.NewLuaScriptReadOnly(prelude + rankAfterFn + `
local n = tonumber(ARGV[7])
local r
if ARGV[6] == '' then
  r = redis.call('ZRANGE', KEYS[1], ARGV[4], ARGV[4], 'BYSCORE', 'LIMIT', 0, n + 1, 'WITHSCORES')
else
  local from = redis.call('ZRANK', KEYS[1], ARGV[6])
  if from then
    from = from + 1
  else
    from = rank_after(KEYS[1], ARGV[6], ARGV[4])
  end
  r = redis.call('ZRANGE', KEYS[1], from, from + n, 'WITHSCORES')
end
local ms = {}
local e = tonumber(ARGV[4])
for i = 1, #r, 2 do
  if tonumber(r[i + 1]) ~= e then break end
  ms[#ms + 1] = r[i]
end
local read = math.min(#ms, n)
local out = {read > 0 and ms[read] or false, #ms > n and 1 or 0}
local now = tonumber(ARGV[3])
for i = 1, read do
  local f = redis.call('HMGET', ARGV[1] .. ms[i], ` + pageFields + `)
  if f[4] and f[1] == ARGV[2] and f[5] == ARGV[5] and live(f[2], f[3], f[4], now) then
    out[#out + 1] = ms[i]
    for j = 6, #f do out[#out + 1] = f[j] end
  end
end
return out
`)

// pageScriptSessions is how many sessions one page script reads at most,
// as many as a SubjectClients page (sessions.go, clientsPage): about
// 1.3–1.5 ms of Redis's CPU with 4 KB of claims each, well inside the
// 10 ms a script may hold Redis.
const pageScriptSessions = clientsPage

// ListPage reads up to q.Limit of the subject's sessions after q.After, in
// the order of the subject index (absolute expiry, then ID; backwards with
// q.Newest), and returns the live ones. It reads them pageScriptSessions a
// script, so no script holds Redis for long whatever q.Limit is. The walk
// starts at the sessions whose absolute expiry is after q.Now (the index
// holds the others only until a write trims them).
func (s *Store) ListPage(ctx context.Context, q sessiond.PageQuery) (sessiond.Page, error) {
	const op = "list page"
	from, err := sessiond.CheckPageQuery(q)
	if err := ctxErr(ctx, op, err); err != nil {
		return sessiond.Page{}, err
	}
	tag := tagOf(q.Subject)
	keys := []string{s.idxKey(tag)}
	newest := "0"
	if q.Newest {
		newest = "1"
	}
	args := []string{s.sessBase(tag), q.Subject, encTime(q.Now), "", "", "", newest}
	if !from.IsZero() {
		args[3], args[4] = string(from.ID), itoa(from.At.UnixMicro())
	}
	page := sessiond.Page{Sessions: []*sessiond.Session{}}
	const stride = 1 + nSessionFields
	for left := q.Limit; left > 0; {
		count := min(left, pageScriptSessions)
		args[5] = strconv.Itoa(count)
		reply, err := subjectPageScript.Exec(ctx, s.client, keys, args).ToArray()
		if err != nil {
			return sessiond.Page{}, s.fail(op, err)
		}
		if len(reply) < 4 {
			return sessiond.Page{}, s.fail(op, errCorrupt)
		}
		more, err := reply[3].AsInt64()
		if err != nil {
			return sessiond.Page{}, s.fail(op, errCorrupt)
		}
		rows := reply[4:]
		for i := 0; i+stride <= len(rows); i += stride {
			id, _ := field(&rows[i])
			sess, ok, err := decSession(sessiond.SessionID(id), rows[i+1:i+stride])
			if err != nil {
				return sessiond.Page{}, s.fail(op, err)
			}
			if ok && sess.Subject == q.Subject && sess.Live(q.Now) {
				page.Sessions = append(page.Sessions, sess)
			}
		}
		if more == 0 {
			return page, nil
		}
		left -= count
		args[3], _ = field(&reply[1])
		args[4], _ = field(&reply[2])
	}
	next, err := scoreCursor(args[3], args[4])
	if err != nil {
		return sessiond.Page{}, s.fail(op, err)
	}
	page.Next = next
	return page, nil
}

// scoreCursor is the cursor of a subject index member and its score as a
// script returns it (Redis formats a score as a double).
func scoreCursor(member, score string) (string, error) {
	f, err := strconv.ParseFloat(score, 64)
	if err != nil || f < 0 || f >= 1<<53 || f != math.Trunc(f) || !sessiond.SessionID(member).Valid() {
		return "", errCorrupt
	}
	return sessiond.PageCursor{At: time.UnixMicro(int64(f)), ID: sessiond.SessionID(member)}.String(), nil
}

// ListSpan returns the subject's sessions live at now created at created
// and ending at expires: the members of the subject index at that score
// (a rotation's family, its sessions all ending then),
// pageScriptSessions a script.
func (s *Store) ListSpan(ctx context.Context, subject string, created, expires, now time.Time) ([]*sessiond.Session, error) {
	const op = "list span"
	if err := ctxErr(ctx, op); err != nil {
		return nil, err
	}
	tag := tagOf(subject)
	keys := []string{s.idxKey(tag)}
	args := []string{s.sessBase(tag), subject, encTime(now), encTime(expires), encTime(created), "", strconv.Itoa(pageScriptSessions)}
	out := []*sessiond.Session{}
	const stride = 1 + nSessionFields
	for {
		reply, err := subjectSpanScript.Exec(ctx, s.client, keys, args).ToArray()
		if err != nil {
			return nil, s.fail(op, err)
		}
		if len(reply) < 2 {
			return nil, s.fail(op, errCorrupt)
		}
		more, err := reply[1].AsInt64()
		if err != nil {
			return nil, s.fail(op, errCorrupt)
		}
		rows := reply[2:]
		for i := 0; i+stride <= len(rows); i += stride {
			id, _ := field(&rows[i])
			sess, ok, err := decSession(sessiond.SessionID(id), rows[i+1:i+stride])
			if err != nil {
				return nil, s.fail(op, err)
			}
			if ok && sess.Subject == subject && sess.Live(now) {
				out = append(out, sess)
			}
		}
		if more == 0 {
			return out, nil
		}
		args[5], _ = field(&reply[0])
	}
}
