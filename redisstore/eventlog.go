package redisstore

import (
	"cmp"
	"context"
	"encoding/base32"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond"
)

var _ sessiond.EventLog = (*Store)(nil)

// The security event log lives in one slot, under the hash tag
// {<prefix>:ev}, so every append and every deletion is one script even on
// a Cluster (docs/redisstore.md, "Event log"):
//
//	<base>e:<id>        hash: t ty sub sid ip ua d (empty ones left out)
//	<base>ids           sorted set, score 0: every event ID (lexicographic)
//	<base>sub:<subject> sorted set, score 0: the subject's event IDs
//	<base>sess:<id>     sorted set, score 0: the session's event IDs
//	<base>type:<type>   sorted set, score 0: the type's event IDs
//	<base>time          sorted set: event ID → Time (µs), for retention, of
//	                    the events in odd (and of every event stored before
//	                    2026-12-04): a regular ID encodes its Time, so
//	                    retention finds those in ids by ID range
//	<base>odd           sorted set, score 0: IDs that do not encode their
//	                    event's Time (not from sessiond.NewEventID)

// Limits of the event log.
const (
	// eventBatch bounds the events of one append script.
	eventBatch = 256
	// eventScanBudget bounds the index entries one query script reads, so
	// a selective query over a large log never blocks Redis for long: the
	// query goes on with another script where the last one stopped.
	eventScanBudget = 2000
	// eventDeleteBatch bounds the events one retention script deletes.
	eventDeleteBatch = 1000
	// oddEventsMax: with more irregular IDs than this, time filters are
	// applied by reading the log rather than by ID range.
	oddEventsMax = 1000
)

// eventPrelude holds what the event scripts share.
const eventPrelude = `
-- first_event_id is firstEventID: the smallest regular ID of an event at
-- us (0 <= us < 2^53, so every step is exact in a double): us big-endian
-- in 8 bytes, then 8 zero bytes, in base32hex.
local DIGITS = '0123456789abcdefghijklmnopqrstuv'
local function first_event_id(us)
  local d = {}
  d[13] = (us % 16) * 2
  local v = math.floor(us / 16)
  for i = 12, 1, -1 do
    d[i] = v % 32
    v = math.floor(v / 32)
  end
  for i = 1, 13 do d[i] = string.sub(DIGITS, d[i] + 1, d[i] + 1) end
  return 'evt_' .. table.concat(d) .. '0000000000000'
end
-- events_before returns up to n events whose Time is before a bound:
-- those time holds (irregular IDs, and events stored before regular ones
-- left it) scored below bound ("(" µs), then the regular ones from ids
-- below the ID idbound ("(" first_event_id of the same µs; "": none),
-- skipping the irregular IDs in that range (odd), which time judges.
local function events_before(ids, time, odd, bound, idbound, n)
  local out, seen = {}, {}
  for _, id in ipairs(redis.call('ZRANGE', time, '-inf', bound, 'BYSCORE', 'LIMIT', 0, n)) do
    out[#out + 1] = id
    seen[id] = true
  end
  if idbound == '' then return out end
  local from, to = '[evt_', idbound
  while #out < n do
    local want = n - #out
    local got = redis.call('ZRANGE', ids, from, to, 'BYLEX', 'LIMIT', 0, want)
    for _, id in ipairs(got) do
      if not seen[id] and not redis.call('ZSCORE', odd, id) then out[#out + 1] = id end
    end
    if #got < want then break end
    from = '(' .. got[#got]
  end
  return out
end
-- drop_event deletes one event and its index entries.
local function drop_event(base, ids, time, odd, id)
  local k = base .. 'e:' .. id
  local f = redis.call('HMGET', k, 'sub', 'sid', 'ty')
  if f[1] then redis.call('ZREM', base .. 'sub:' .. f[1], id) end
  if f[2] then redis.call('ZREM', base .. 'sess:' .. f[2], id) end
  if f[3] then redis.call('ZREM', base .. 'type:' .. f[3], id) end
  redis.call('DEL', k)
  redis.call('ZREM', ids, id)
  redis.call('ZREM', time, id)
  redis.call('ZREM', odd, id)
end
`

// appendEventsScript stores events whose ID is new, then deletes up to 100
// events older than the maximum age (the safety net behind retention).
//
//	KEYS: ids, time, odd
//	ARGV: base, maximum age (s, "0": none), then per event: id, time (µs),
//	      type, subject, session ID, IP, user agent, details JSON, regular
//	      ("1": the ID encodes the time)
var appendEventsScript = rueidis.NewLuaScript(agedLua + eventPrelude + appendEventsFn + `
append_events(KEYS[1], KEYS[2], KEYS[3], ARGV[1], ARGV[2], ARGV, 3, #ARGV)
return 0
`)

// appendEventsFn defines append_events, appendEventsScript's work, which
// the scripts that write a change with its events (recorded.go) share:
// store the events laid out in a[from..to], then the safety-net sweep.
const appendEventsFn = `
local function append_events(ids, time, odd, base, maxage, a, from, to)
  local names = {'ty', 'sub', 'sid', 'ip', 'ua', 'd'}
  for i = from, to, 9 do
    local id = a[i]
    if redis.call('ZADD', ids, 'NX', 0, id) == 1 then
      local f = {'t', a[i + 1]}
      for j = 1, 6 do
        if a[i + 1 + j] ~= '' then
          f[#f + 1] = names[j]
          f[#f + 1] = a[i + 1 + j]
        end
      end
      redis.call('HSET', base .. 'e:' .. id, unpack(f))
      if a[i + 2] ~= '' then redis.call('ZADD', base .. 'type:' .. a[i + 2], 0, id) end
      if a[i + 3] ~= '' then redis.call('ZADD', base .. 'sub:' .. a[i + 3], 0, id) end
      if a[i + 4] ~= '' then redis.call('ZADD', base .. 'sess:' .. a[i + 4], 0, id) end
      if a[i + 8] ~= '1' then
        redis.call('ZADD', odd, 0, id)
        redis.call('ZADD', time, a[i + 1], id)
      end
    end
  end
  if maxage ~= '0' then
    local now = redis.call('TIME')
    local cut = (tonumber(now[1]) - tonumber(maxage)) * 1000000
    local idbound = ''
    if cut > 0 then idbound = '(' .. first_event_id(cut) end
    for _, id in ipairs(events_before(ids, time, odd, '(' .. string.format('%d', cut), idbound, 100)) do
      drop_event(base, ids, time, odd, id)
    end
  end
end
`

// queryEventsScript walks one index in ID order and returns the events
// that pass the filters (read-only).
//
//	KEYS: the index (ids, sub:…, sess:…, type:… or odd)
//	ARGV: base, from, to (ZRANGE BYLEX bounds), want, budget, subject,
//	      session ID, type, since (µs), until (µs) ("": no filter), no
//	      subject ("1": only events without one)
//	→ {next, id, t, ty, sub, sid, ip, ua, d, id, ...}: next is "" when the
//	  range is exhausted, else the last ID read (the walk goes on after it)
var queryEventsScript = rueidis.NewLuaScriptReadOnly(`
local base, from, to = ARGV[1], ARGV[2], ARGV[3]
local want, budget = tonumber(ARGV[4]), tonumber(ARGV[5])
local sub, sid, ty = ARGV[6], ARGV[7], ARGV[8]
local since, till = false, false
if ARGV[9] ~= '' then since = tonumber(ARGV[9]) end
if ARGV[10] ~= '' then till = tonumber(ARGV[10]) end
local nosub = ARGV[11] == '1'
local out = {''}
local found, read = 0, 0
while true do
  local n = math.min(500, budget - read)
  local ids = redis.call('ZRANGE', KEYS[1], from, to, 'BYLEX', 'LIMIT', 0, n)
  for _, id in ipairs(ids) do
    local f = redis.call('HMGET', base .. 'e:' .. id, 't', 'ty', 'sub', 'sid', 'ip', 'ua', 'd')
    if f[1] and (sub == '' or f[3] == sub) and (not nosub or not f[3]) and (sid == '' or f[4] == sid) and (ty == '' or f[2] == ty)
        and (not since or tonumber(f[1]) >= since) and (not till or tonumber(f[1]) < till) then
      out[#out + 1] = id
      for j = 1, 7 do out[#out + 1] = f[j] end
      found = found + 1
      if found == want then
        out[1] = id
        return out
      end
    end
  end
  read = read + #ids
  if #ids < n then return out end
  if read >= budget then
    out[1] = ids[#ids]
    return out
  end
  from = '(' .. ids[#ids]
end
`)

// deleteEventsScript deletes up to n events whose Time is before a bound
// (events_before: those in time oldest first, then the regular ones in ID
// order, which is their Time's).
//
//	KEYS: time, ids, odd
//	ARGV: base, exclusive upper bound ("(" µs), n, the same bound as an
//	      ID ("(" firstEventID; "" when no regular ID is below it)
//	→ how many it deleted
var deleteEventsScript = rueidis.NewLuaScript(eventPrelude + `
local ids = events_before(KEYS[2], KEYS[1], KEYS[3], ARGV[2], ARGV[4], tonumber(ARGV[3]))
for _, id in ipairs(ids) do
  drop_event(ARGV[1], KEYS[2], KEYS[1], KEYS[3], id)
end
return #ids
`)

// Event hash fields, in the order queryEventsScript returns them.
const nEventFields = 7

func (s *Store) evIDs() string { return s.evBase + "ids" }

func (s *Store) evTime() string { return s.evBase + "time" }

func (s *Store) evOdd() string { return s.evBase + "odd" }

// AppendEvents stores events; see sessiond.EventLog. An ID that exists
// already (or earlier in events) is skipped. ErrInvalidArgument, and
// nothing stored, if an event has no ID or Details that do not encode as
// JSON. Up to 256 events are stored by one script, atomically; when a
// later batch fails, the earlier ones stay, and appending the same events
// again stores only what is missing.
func (s *Store) AppendEvents(ctx context.Context, events ...sessiond.Event) error {
	const op = "append events"
	if err := ctxErr(ctx, op); err != nil {
		return err
	}
	args, err := appendEventArgs(nil, events)
	if err != nil {
		return wrap(op, err)
	}
	return s.store(ctx, op, appendEventsScript, s.recKeys[:3:3], s.evBase, args, eventBatch)
}

// appendEventArgs appends the arguments of append_events for events (9
// strings each) to args. ErrInvalidArgument as AppendEvents.
func appendEventArgs(args []string, events []sessiond.Event) ([]string, error) {
	details, err := sessiond.EncodeEvents(events)
	if err != nil {
		return nil, err
	}
	for i, e := range events {
		args = append(args, e.ID, encTime(e.Time), string(e.Type), e.Subject, string(e.SessionID),
			e.Client.IP, e.Client.UserAgent, string(details[i]), boolArg(regularEventID(e.ID, e.Time)))
	}
	return args, nil
}

// eventIDEncoding is sessiond.NewEventID's: base32hex, lower case, no
// padding, which sorts as the bytes it encodes.
var eventIDEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// eventIDLen is the length of an ID from sessiond.NewEventID: "evt_" and
// 16 bytes (time in µs, 64 random bits) in 26 characters.
const eventIDLen = 4 + 26

// regularEventID reports whether id is in sessiond.NewEventID's form and
// encodes t (at the µs the store keeps): then every ID of an event at or
// after a time T sorts at or after firstEventID(T), and every ID of an
// event before T sorts before it.
//
// It decodes by hand, without allocating (every event of every login and
// refresh passes here): only the lower-case digits sessiond.NewEventID
// writes, and the 2 bits past the 16 bytes must be zero, so one ID has one
// spelling.
func regularEventID(id string, t time.Time) bool {
	us := micros(t)
	if len(id) != eventIDLen || !strings.HasPrefix(id, "evt_") || us < 0 {
		return false
	}
	var b [16]byte
	var buf uint64 // the bits not yet in b, at the bottom
	nbits, k := 0, 0
	for i := 4; i < len(id); i++ {
		c := id[i]
		var v byte
		switch {
		case '0' <= c && c <= '9':
			v = c - '0'
		case 'a' <= c && c <= 'v':
			v = c - 'a' + 10
		default:
			return false
		}
		buf = buf<<5 | uint64(v)
		if nbits += 5; nbits >= 8 {
			nbits -= 8
			b[k] = byte(buf >> nbits)
			k++
		}
	}
	if buf&(1<<nbits-1) != 0 {
		return false
	}
	return binary.BigEndian.Uint64(b[:8]) == uint64(us)
}

// firstEventID is the smallest regular ID of an event at us (≥ 0).
func firstEventID(us int64) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(us))
	return "evt_" + strings.ToLower(eventIDEncoding.EncodeToString(b[:]))
}

// floorMicros and ceilMicros are t in unix µs rounded down and up: the
// store keeps µs, so an event time e (µs) is before t exactly when
// e < ceilMicros(t), and at or before t when e <= floorMicros(t).
func floorMicros(t time.Time) int64 { return t.Truncate(time.Microsecond).UnixMicro() }

func ceilMicros(t time.Time) int64 {
	f := t.Truncate(time.Microsecond)
	if f.Equal(t) {
		return f.UnixMicro()
	}
	return f.UnixMicro() + 1
}

// rawEvent is one event as queryEventsScript returns it.
type rawEvent struct {
	id     string
	fields []rueidis.RedisMessage // nEventFields
}

// QueryEvents returns the events q selects, in ID order, after q.Cursor;
// see sessiond.EventLog. Limit 0 means 100, more than 1000 means 1000, a
// negative Limit is ErrInvalidArgument.
//
// It walks the smallest index among those q's filters name (the whole log
// when none) from the cursor, checking the other filters on each event.
// Since and Until also narrow the walk to the range of IDs that
// sessiond.NewEventID gives those times; events whose ID does not encode
// their time are kept apart (<base>odd) and merged in.
func (s *Store) QueryEvents(ctx context.Context, q sessiond.EventQuery) ([]sessiond.Event, string, error) {
	const op = "query events"
	if err := ctxErr(ctx, op); err != nil {
		return nil, "", err
	}
	limit, err := q.PageSize()
	if err != nil {
		return nil, "", err
	}
	want := limit + 1 // one more tells whether another page follows

	var candidates []string
	if q.Subject != "" {
		candidates = append(candidates, s.evBase+"sub:"+q.Subject)
	}
	if q.SessionID != "" {
		candidates = append(candidates, s.evBase+"sess:"+string(q.SessionID))
	}
	if q.Type != "" {
		candidates = append(candidates, s.evBase+"type:"+string(q.Type))
	}
	if len(candidates) == 0 {
		candidates = append(candidates, s.evIDs())
	}
	timed := !q.Since.IsZero() || !q.Until.IsZero()

	// Plan, in one round trip: the smallest index, and how many irregular
	// IDs there are.
	walk, odd := candidates[0], int64(0)
	if len(candidates) > 1 || timed {
		cmds := make(rueidis.Commands, 0, len(candidates)+1)
		for _, k := range candidates {
			cmds = append(cmds, s.client.B().Zcard().Key(k).Build())
		}
		cmds = append(cmds, s.client.B().Zcard().Key(s.evOdd()).Build())
		best := int64(-1)
		for i, r := range s.client.DoMulti(ctx, cmds...) {
			n, err := r.AsInt64()
			if err != nil {
				return nil, "", s.fail(op, err)
			}
			switch {
			case i == len(candidates):
				odd = n
			case best < 0 || n < best:
				walk, best = candidates[i], n
			}
		}
		if best == 0 {
			return []sessiond.Event{}, "", nil
		}
	}

	filter := []string{q.Subject, string(q.SessionID), string(q.Type), "", "", ""}
	if !q.Since.IsZero() {
		filter[3] = itoa(ceilMicros(q.Since))
	}
	if !q.Until.IsZero() {
		filter[4] = itoa(ceilMicros(q.Until))
	}
	if q.NoSubject {
		// An event without a subject is in no sub: index: the script
		// checks each of the walked index's (see docs/redisstore.md).
		filter[5] = "1"
	}
	from, to := "-", "+"
	if q.Cursor != "" {
		from = "(" + q.Cursor
	}
	byRange := timed && odd <= oddEventsMax
	if byRange {
		if us := ceilMicros(q.Since); !q.Since.IsZero() && us >= 0 {
			if first := firstEventID(us); q.Cursor == "" || first > q.Cursor {
				from = "[" + first
			}
		}
		if us := ceilMicros(q.Until); !q.Until.IsZero() && us >= 0 {
			to = "(" + firstEventID(us)
		}
	}
	found, err := s.walkEvents(ctx, op, walk, from, to, want, filter)
	if err != nil {
		return nil, "", err
	}
	if byRange && odd > 0 {
		// Irregular events can sit anywhere in ID order: all of them
		// after the cursor that match, merged with the walk. The walk's
		// want-th match bounds what the page can hold, and every
		// regular match below it is in the walk's range.
		from := "-"
		if q.Cursor != "" {
			from = "(" + q.Cursor
		}
		more, err := s.walkEvents(ctx, op, s.evOdd(), from, "+", want, filter)
		if err != nil {
			return nil, "", err
		}
		found = append(found, more...)
		slices.SortFunc(found, func(a, b rawEvent) int { return cmp.Compare(a.id, b.id) })
		found = slices.CompactFunc(found, func(a, b rawEvent) bool { return a.id == b.id })
	}

	out := make([]sessiond.Event, 0, min(len(found), limit))
	for _, r := range found[:min(len(found), limit)] {
		e, err := decEvent(r)
		if err != nil {
			return nil, "", s.fail(op, fmt.Errorf("event %s: %w", r.id, err))
		}
		out = append(out, e)
	}
	if len(found) > limit {
		return out, out[limit-1].ID, nil
	}
	return out, "", nil
}

// walkEvents runs queryEventsScript over key from from to to until it has
// want matches or the range ends, one bounded script at a time.
func (s *Store) walkEvents(ctx context.Context, op, key, from, to string, want int, filter []string) ([]rawEvent, error) {
	var out []rawEvent
	for {
		args := make([]string, 0, 5+len(filter))
		args = append(args, s.evBase, from, to, itoa(int64(want-len(out))), itoa(eventScanBudget))
		args = append(args, filter...)
		reply, err := queryEventsScript.Exec(ctx, s.client, []string{key}, args).ToArray()
		if err != nil {
			return nil, s.fail(op, err)
		}
		if len(reply) == 0 || (len(reply)-1)%(1+nEventFields) != 0 {
			return nil, s.fail(op, errCorrupt)
		}
		next, _ := field(&reply[0])
		for i := 1; i < len(reply); i += 1 + nEventFields {
			id, _ := field(&reply[i])
			out = append(out, rawEvent{id: id, fields: reply[i+1 : i+1+nEventFields]})
		}
		if len(out) >= want || next == "" {
			return out, nil
		}
		from = "(" + next
		if err := ctxErr(ctx, op); err != nil {
			return nil, err
		}
	}
}

func decEvent(r rawEvent) (sessiond.Event, error) {
	var v [nEventFields]string
	var present [nEventFields]bool
	for i := range v {
		v[i], present[i] = field(&r.fields[i])
	}
	tm, err := decTime(v[0])
	if err != nil || !present[0] {
		return sessiond.Event{}, errCorrupt
	}
	e := sessiond.Event{
		ID:        r.id,
		Time:      tm,
		Type:      sessiond.EventType(v[1]),
		Subject:   v[2],
		SessionID: sessiond.SessionID(v[3]),
		Client:    sessiond.Client{IP: v[4], UserAgent: v[5]},
	}
	if present[6] {
		if err := json.Unmarshal([]byte(v[6]), &e.Details); err != nil {
			return sessiond.Event{}, err
		}
	}
	return e, nil
}

// DeleteEventsBefore deletes up to limit events whose Time is before
// before, oldest first, with their index entries, and returns how many;
// see sessiond.EventLog. ErrInvalidArgument if limit is not positive. One
// script deletes at most 1,000.
func (s *Store) DeleteEventsBefore(ctx context.Context, before time.Time, limit int) (int, error) {
	const op = "delete events"
	if err := ctxErr(ctx, op, sessiond.CheckLimit(limit)); err != nil {
		return 0, err
	}
	keys := []string{s.evTime(), s.evIDs(), s.evOdd()}
	idBound := ""
	if us := ceilMicros(before); us > 0 {
		idBound = "(" + firstEventID(us)
	}
	return s.deleteBefore(ctx, op, deleteEventsScript, keys, s.evBase, before, limit, eventDeleteBatch, idBound)
}
