package anomaly

import (
	"hash/maphash"
	"net/netip"
	"sync"
	"time"
)

// tracker remembers, per session, the networks it was seen from within the
// window: the memory of distinct_ips. It holds at most limit sessions, split
// over up to 16 shards so concurrent verifies rarely wait on one lock; a
// full shard forgets its least recently seen session, and every shard drops
// sessions whose newest sighting has left the window as it goes.
//
// Per session it keeps at most threshold networks, the most recently seen:
// the count within the window reaches threshold exactly when the threshold
// most recent networks are all within it, so nothing more is needed.
//
// Sessions are keyed by a hash of their ID under a per-tracker random seed,
// so the tracker retains no caller string; two sessions sharing a 64-bit
// hash would share a history (odds about Tracked/2⁶⁴ per new session).
type tracker struct {
	seed      maphash.Seed
	window    int64 // nanoseconds
	threshold int
	shards    []trackerShard
}

// Shards: one per minShardSessions tracked sessions, at most maxShards.
// Below 2*minShardSessions there is one shard and eviction is exact LRU.
const (
	maxShards        = 16
	minShardSessions = 1024
)

type trackerShard struct {
	mu    sync.Mutex
	max   int
	index map[uint64]int32 // session key → slot
	slots []slot
	// A doubly linked list through slots, most recently seen first, and a
	// list of free slots through slot.next; -1 ends both.
	head, tail, free int32
}

type slot struct {
	key        uint64
	prev, next int32
	fired      bool       // threshold reached and reported; reset below it
	last       int64      // newest sighting, unix nanoseconds
	nets       []sighting // cap threshold, allocated once per slot
}

type sighting struct {
	net netip.Prefix
	at  int64 // unix nanoseconds
}

func newTracker(limit, threshold int, window time.Duration) *tracker {
	n := min(maxShards, max(1, limit/minShardSessions))
	t := &tracker{seed: maphash.MakeSeed(), window: int64(window), threshold: threshold,
		shards: make([]trackerShard, n)}
	for i := range t.shards {
		s := &t.shards[i]
		s.max = limit / n
		if i < limit%n {
			s.max++
		}
		s.index = make(map[uint64]int32)
		s.head, s.tail, s.free = -1, -1, -1
	}
	return t
}

// observe records that session id was seen from net at now. It returns how
// many distinct networks (at most threshold) the session was seen from
// within the window, and whether this sighting made the count reach the
// threshold: true once per crossing, again only after the count has fallen
// below it.
func (t *tracker) observe(id string, net netip.Prefix, now time.Time) (count int, crossed bool) {
	key := maphash.String(t.seed, id)
	at := now.UnixNano()
	s := &t.shards[key%uint64(len(t.shards))]
	s.mu.Lock()
	defer s.mu.Unlock()

	s.expire(at, t.window)
	i, ok := s.index[key]
	if ok {
		s.unlink(i)
	} else {
		i = s.alloc(key)
		if s.slots[i].nets == nil {
			s.slots[i].nets = make([]sighting, 0, t.threshold)
		}
	}
	s.pushFront(i)
	e := &s.slots[i]
	e.last = max(e.last, at)

	kept := e.nets[:0]
	oldest := -1
	found := false
	for _, x := range e.nets {
		if at-x.at >= t.window {
			continue
		}
		if x.net == net {
			x.at, found = max(x.at, at), true
		}
		kept = append(kept, x)
		if oldest < 0 || x.at < kept[oldest].at {
			oldest = len(kept) - 1
		}
	}
	e.nets = kept
	if len(e.nets) < t.threshold {
		// Older networks left the window: the count fell below the
		// threshold before this request, so this one may cross it anew.
		e.fired = false
	}
	switch {
	case found:
	case len(e.nets) < cap(e.nets):
		e.nets = append(e.nets, sighting{net: net, at: at})
	default:
		// Full: the count stays at threshold whichever network goes, and
		// the least recent is the first to leave the window anyway.
		e.nets[oldest] = sighting{net: net, at: at}
	}

	count = len(e.nets)
	if count >= t.threshold {
		crossed, e.fired = !e.fired, true
	} else {
		e.fired = false
	}
	return count, crossed
}

// expire frees up to two sessions at the cold end whose newest sighting
// has left the window: a little work per call keeps idle sessions from
// lingering until eviction, without a background goroutine.
func (s *trackerShard) expire(at, window int64) {
	for range 2 {
		i := s.tail
		if i < 0 || at-s.slots[i].last < window {
			return
		}
		s.unlink(i)
		delete(s.index, s.slots[i].key)
		s.slots[i].next = s.free
		s.free = i
	}
}

// alloc returns a cleared slot for key, evicting the least recently seen
// session when the shard is full. The slot is not linked.
func (s *trackerShard) alloc(key uint64) int32 {
	var i int32
	switch {
	case len(s.index) >= s.max:
		i = s.tail
		s.unlink(i)
		delete(s.index, s.slots[i].key)
	case s.free >= 0:
		i = s.free
		s.free = s.slots[i].next
	default:
		s.slots = append(s.slots, slot{})
		i = int32(len(s.slots) - 1)
	}
	e := &s.slots[i]
	e.key, e.fired, e.last, e.nets = key, false, 0, e.nets[:0]
	s.index[key] = i
	return i
}

func (s *trackerShard) pushFront(i int32) {
	e := &s.slots[i]
	e.prev, e.next = -1, s.head
	if s.head >= 0 {
		s.slots[s.head].prev = i
	}
	s.head = i
	if s.tail < 0 {
		s.tail = i
	}
}

func (s *trackerShard) unlink(i int32) {
	e := &s.slots[i]
	if e.prev >= 0 {
		s.slots[e.prev].next = e.next
	} else {
		s.head = e.next
	}
	if e.next >= 0 {
		s.slots[e.next].prev = e.prev
	} else {
		s.tail = e.prev
	}
	e.prev, e.next = -1, -1
}

func (t *tracker) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.index)
		s.mu.Unlock()
	}
	return n
}
