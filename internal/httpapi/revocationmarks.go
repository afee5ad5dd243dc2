package httpapi

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond/verifier/stream"
)

// markKey names one watermark: all, or a subject's.
type markKey struct {
	all     bool
	subject string
}

// markReads is one node's read of the store's watermark document, shared
// by every revocation stream it serves. A watermark_raised log entry
// stamped by a node whose clock lags this one's by more than Settle falls
// before every window the streams read; comparing the document at each
// poll sends it anyway, whatever the clocks. A read is reused for a poll
// interval (on the monotonic clock), so that a thousand streams make one
// store read a second, not a thousand.
type markReads struct {
	read func(ctx context.Context) ([]stream.Watermark, error)
	keep time.Duration

	mu    sync.Mutex // held during a read: callers meanwhile wait and share it
	began time.Time  // when the kept read began; zero: none
	marks map[markKey]time.Time
	// ended and err are the last read's end and failure: a caller that
	// asked before it ended shares its outcome, even when the read took
	// longer than keep (else a slow store would be read once per stream,
	// one after the other, each stream's poll and heartbeats waiting).
	ended time.Time
	err   error

	waiting atomic.Int32 // callers waiting for mu (tests)
}

// marks returns rs's shared read, made at first use.
func (rs *RevocationStream) marks() *markReads {
	rs.marksOnce.Do(func() {
		rs.sharedMarks = &markReads{read: rs.Watermarks, keep: orDefault(rs.Poll, DefaultStreamPoll)}
	})
	return rs.sharedMarks
}

// get returns the watermarks of a read begun less than keep ago, or of
// (or the error of) the read under way when it was called, however long
// that took, with when that read began. The map is shared: callers must
// not change it.
func (m *markReads) get(ctx context.Context) (map[markKey]time.Time, time.Time, error) {
	asked := time.Now()
	m.waiting.Add(1)
	m.mu.Lock()
	m.waiting.Add(-1)
	defer m.mu.Unlock()
	if m.ended.After(asked) { // a read under way when this caller asked
		if m.err != nil {
			return nil, time.Time{}, m.err
		}
		return m.marks, m.began, nil
	}
	if !m.began.IsZero() && time.Since(m.began) < m.keep {
		return m.marks, m.began, nil
	}
	began := time.Now()
	list, err := m.read(ctx)
	if err != nil {
		if ctx.Err() == nil { // this caller going away is not the store's answer
			m.ended, m.err = time.Now(), err
		}
		return nil, time.Time{}, err
	}
	m.ended, m.err = time.Now(), nil
	marks := make(map[markKey]time.Time, len(list))
	for _, w := range list {
		marks[markKey{w.All, w.Subject}] = w.IssuedBefore
	}
	m.began, m.marks = began, marks
	return marks, began, nil
}

// sendMarks sends the watermarks of the store's document that are higher
// than the stream has sent or seen (in the log or the document). A
// connection that resumed from a cursor starts from none, so its first
// poll sends every watermark the log did not; one without a cursor starts
// at the present, and its first poll's read is the baseline. A watermark
// that reached the client in its log entry as well comes twice: verifiers
// apply it idempotently. A failed read is logged and skipped: the next
// poll compares again.
func (t *tail) sendMarks(ctx context.Context) (int, error) {
	cur, began, err := t.rs.marks().get(ctx)
	if err != nil {
		if ctx.Err() == nil {
			t.log.LogAttrs(ctx, slog.LevelWarn, "revocation stream: read watermarks", slog.String("request_id", t.reqID),
				slog.String("err", err.Error()))
		}
		return 0, nil
	}
	if t.marks == nil {
		t.marks = make(map[markKey]time.Time, len(cur))
		for k, at := range cur {
			t.marks[k] = at
		}
		return 0, nil
	}
	n := 0
	for k, at := range cur {
		if !at.After(t.marks[k]) {
			continue
		}
		t.marks[k] = at
		// The heartbeat's cursor: a client resuming from it reads the log
		// from where this stream has.
		w := stream.Watermark{All: k.all, Subject: k.subject, IssuedBefore: at.UTC()}
		if err := stream.WriteEvent(t.w, stream.EventWatermark, stream.CursorAt(t.from.Add(t.settle)), w); err != nil {
			return n, err
		}
		n++
	}
	// A subject's watermark the document dropped (no live session can be
	// older) is forgotten here too, or a connection open for weeks would
	// hold every one it ever saw. Not on a read begun before the last
	// watermark taken from the log: it may predate that one.
	if len(t.marks) > len(cur) && began.After(t.sawAt) {
		for k := range t.marks {
			if _, ok := cur[k]; !ok {
				delete(t.marks, k)
			}
		}
	}
	return n, nil
}

// sawMark records a watermark sent from the log, so that the document's
// copy of it is not sent again.
func (t *tail) sawMark(w stream.Watermark) {
	if t.marks == nil {
		return // the baseline, read at the first poll, holds it
	}
	if k := (markKey{w.All, w.Subject}); w.IssuedBefore.After(t.marks[k]) {
		t.marks[k] = w.IssuedBefore
	}
	t.sawAt = time.Now()
}
