package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/verifier/stream"
)

// Event types the revocation stream reads from the event log besides the
// Manager's session.revoked. The server emits them (internal/server): the
// Manager's own incident and key events do not carry the subjects list,
// the exact watermark or the retired key IDs.
const (
	// EventWatermarkRaised: details "all" (bool), "subjects" ([]string),
	// "issued_before" (RFC 3339 with nanoseconds).
	EventWatermarkRaised = sessiond.EventWatermarkRaised
	// EventKeysRetired: details "kids" ([]string), the key IDs that no
	// longer verify.
	EventKeysRetired = sessiond.EventKeysRetired
)

// streamTypes are the event log entries the stream turns into events.
var streamTypes = []sessiond.EventType{sessiond.EventSessionRevoked, EventWatermarkRaised, EventKeysRetired}

// Revocation stream defaults (RevocationStream zero values).
const (
	DefaultStreamPoll      = time.Second
	DefaultStreamHeartbeat = 10 * time.Second
	DefaultStreamSettle    = 10 * time.Second
)

// RevocationStream serves GET /v1/revocations/stream and GET
// /v1/revocations/snapshot: a tail of the durable event log, so a client of
// any node sees the revocations of every node.
type RevocationStream struct {
	// Log is the store's durable event log. Required.
	Log sessiond.EventLog
	// Revocations returns revocations made at or after since whose session
	// had not expired by then (sessiond.Store.Revocations). Required.
	Revocations func(ctx context.Context, since time.Time) ([]sessiond.Revocation, error)
	// Page returns them a page at a time, in the order Revocations
	// returns them (sessiond.RevocationPager), so that a snapshot holds a
	// page of them at a time rather than all. Nil: the snapshot reads
	// Revocations whole.
	Page func(ctx context.Context, q sessiond.RevocationQuery) (sessiond.RevocationPage, error)
	// Watermarks returns the current incident watermarks. Required.
	Watermarks func(ctx context.Context) ([]stream.Watermark, error)
	// Wake returns a channel closed at the next revocation made on any
	// node (the store's revocation feed), so the stream polls at once
	// instead of at the next Poll tick. Nil: poll only.
	Wake func() <-chan struct{}
	// Recent returns the revocations the store's feed announced after
	// sequence number after, oldest first, and the newest sequence number
	// (with after past the newest: none). A woken stream sends them at
	// once, before their event log entries settle; the log entries follow
	// with their own cursors. Nil: the stream waits for the log.
	Recent func(after uint64) ([]sessiond.Revocation, uint64)
	// AccessLifetime and Leeway bound how long an access token of a
	// revoked session can live: the `until` of its event.
	AccessLifetime time.Duration
	Leeway         time.Duration
	// Retention is how long the event log keeps events; a Last-Event-ID
	// older than that gets `event: reset`. Zero: kept forever.
	Retention time.Duration
	// Poll is how often the log is read when nothing wakes the stream.
	// Zero: DefaultStreamPoll.
	Poll time.Duration
	// Heartbeat is how often a comment keeps idle connections open.
	// Zero: DefaultStreamHeartbeat.
	Heartbeat time.Duration
	// Settle is how late an event may reach the log after its time (commit
	// delay and clock skew between nodes): every read, and every resume,
	// looks that far back, and events already sent are skipped. Zero:
	// DefaultStreamSettle.
	Settle time.Duration
	// Closing, when closed, ends every open stream (server shutdown).
	Closing <-chan struct{}
	// Now is the clock; nil: time.Now.
	Now func() time.Time

	windowOnce  sync.Once
	shared      *logWindow // every stream's read of the recent log
	marksOnce   sync.Once
	sharedMarks *markReads // every stream's read of the watermark document
}

// Waker is a RevocationStream.Wake: Next returns a channel that the
// following Wake closes. Make it with NewWaker; it is safe for concurrent
// use.
type Waker struct {
	mu sync.Mutex
	ch chan struct{}
}

// NewWaker returns a Waker whose first channel is open.
func NewWaker() *Waker { return &Waker{ch: make(chan struct{})} }

// Next returns the channel closed at the next Wake.
func (w *Waker) Next() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ch
}

// Wake closes the channel Next has been returning and starts a new one.
func (w *Waker) Wake() {
	w.mu.Lock()
	close(w.ch)
	w.ch = make(chan struct{})
	w.mu.Unlock()
}

func (rs *RevocationStream) now() time.Time {
	if rs.Now != nil {
		return rs.Now().UTC()
	}
	return time.Now().UTC()
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// until is when no access token of a session revoked at `at` is valid any
// more (sessiond.RevocationHorizon).
func (rs *RevocationStream) until(at, sessionExpires time.Time) time.Time {
	return sessiond.RevocationHorizon(at, sessionExpires, rs.AccessLifetime, rs.Leeway)
}

// slack is how long past its until a revocation is still sent: a
// verifier may accept tokens up to stream.MaxLeeway past their expiry,
// more than this server's leeway that until allows for, and one that
// connects in between must still learn of it.
func (rs *RevocationStream) slack() time.Duration {
	return max(stream.MaxLeeway-rs.Leeway, 0)
}

// revokedHorizon is the time before which a revocation is no longer sent
// at now: every access token of its session has expired (until, with no
// session expiry known), a verifier's leeway included (slack). The
// snapshot reads the store and the stream the log from it.
func (rs *RevocationStream) revokedHorizon(now time.Time) time.Time {
	return now.Add(-sessiond.RevokeWriteMargin - rs.AccessLifetime - rs.Leeway - time.Second - rs.slack())
}

// sent reports whether a revocation with until is still sent at now.
func (rs *RevocationStream) sent(until, now time.Time) bool {
	return until.Add(rs.slack()).After(now)
}

func (s *server) streamConfigured() (*RevocationStream, error) {
	if s.stream == nil {
		return nil, notFound("this server has no revocation stream")
	}
	return s.stream, nil
}

// GET /v1/revocations/snapshot (HEAD: its headers, the store not read)
//
// The document is written entry by entry as it is encoded, gzipped when
// the client accepts it (snapshotbody.go), never held whole: 200,000
// revocations are 34 MB of JSON. The store is read a page at a time
// (snapshotpages.go), the next page while one is written. The first page
// and the watermarks are read before the status is sent, so a failed read
// there is still a problem answer; one after it cuts the connection, and
// the client sees a truncated document, which no verifier applies. The
// document outlives server.read_timeout and write_timeout, as a stream
// does: each write to the client has write_timeout of its own, so a slow
// client gets all of it and one that stops reading is dropped.
func (s *server) revocationSnapshot(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.streamConfigured()
	if err != nil {
		return err
	}
	if r.Method == http.MethodHead {
		// GET's headers and no body: reading the store (every revocation
		// of the horizon, a page at a time) would only be thrown away.
		snapshotHeaders(w.Header(), r)
		w.WriteHeader(http.StatusOK)
		return nil
	}
	now := rs.now()
	// The cursor comes first: whatever happens while the snapshot is read
	// is after it, and arrives again on the stream.
	cursor := stream.CursorAt(now)
	// As far back as an entry's until reaches (sessiond.RevokeWriteMargin
	// included, as the stream's and the Manager's revoked set's do).
	pages := &snapshotPages{s: s, rs: rs, ctx: r.Context(), q: sessiond.RevocationQuery{Since: rs.revokedHorizon(now),
		Except: sessiond.ReasonIncident, Limit: snapshotPage}}
	defer pages.stop()
	page, err := pages.next()
	var marks []stream.Watermark
	if err == nil {
		ctx, cancel := s.storeContext(r.Context())
		marks, err = rs.Watermarks(ctx)
		err = storeDeadline(ctx, err)
		cancel()
	}
	if err != nil {
		return err
	}
	if marks == nil {
		marks = []stream.Watermark{}
	}
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{}) // the request has been read
	sw := newSnapshotWriter(w, r, rc, s.writeTimeout)
	sw.begin()
	for {
		for _, rv := range page {
			if rv.Reason == sessiond.ReasonIncident {
				continue // covered by a watermark, at a constant size
			}
			ev := stream.Revoked{SessionID: string(rv.SessionID), Subject: rv.Subject, RevokedAt: rv.RevokedAt.UTC(),
				Reason: string(rv.Reason), Until: rs.until(rv.RevokedAt, rv.ExpiresAt).UTC()}
			if rs.sent(ev.Until, now) {
				sw.revoked(ev)
			}
		}
		if pages.over || sw.err != nil {
			break
		}
		if page, err = pages.next(); err != nil {
			if r.Context().Err() == nil {
				s.log.LogAttrs(r.Context(), slog.LevelWarn, "revocation snapshot: read a page of the store; the connection is cut",
					slog.String("request_id", infoFrom(r.Context()).id), slog.String("err", err.Error()))
			}
			// The status is sent: only a cut connection tells the client
			// that the document is not whole.
			panic(http.ErrAbortHandler)
		}
	}
	// A write past its deadline (a client that stopped reading) cancels
	// the request's context too (net/http does on a failed write): it is
	// logged all the same, as a client gone is not.
	if err := sw.end(marks, cursor); err != nil && (r.Context().Err() == nil || errors.Is(err, os.ErrDeadlineExceeded)) {
		// The status is sent: the client sees a truncated document,
		// which no verifier applies.
		s.log.LogAttrs(r.Context(), slog.LevelWarn, "revocation snapshot: write", slog.String("request_id", infoFrom(r.Context()).id),
			slog.String("err", err.Error()))
	}
	return nil
}

// errStreamCursor answers a Last-Event-ID that is not a cursor.
var errStreamCursor = badRequest("Last-Event-ID is not a cursor of this stream")

// GET /v1/revocations/stream
func (s *server) revocationStream(w http.ResponseWriter, r *http.Request) error {
	rs, err := s.streamConfigured()
	if err != nil {
		return err
	}
	now := rs.now()
	settle := orDefault(rs.Settle, DefaultStreamSettle)
	from := now.Add(-settle)
	reset := ""
	resume := false
	if len(r.Header.Values("Last-Event-ID")) > 1 {
		return badRequest("Last-Event-ID is given more than once")
	}
	if last := r.Header.Get("Last-Event-ID"); last != "" {
		if len(last) > 64 {
			return errStreamCursor
		}
		_, t, err := stream.ParseCursor(last)
		if err != nil {
			return errStreamCursor
		}
		switch {
		case rs.Retention > 0 && t.Before(now.Add(-rs.Retention)):
			reset = "cursor_expired"
		case t.After(now.Add(time.Minute)):
			reset = "cursor_in_future" // no node wrote it: the client's state is not ours
		}
		from = t.Add(-settle)
		resume = true
	}
	// A client over its key's limit learns it before the stream starts,
	// as a problem it can act on; a stream that ends, however it ends,
	// gives its slot back.
	info := infoFrom(r.Context())
	if !s.streams.acquire(r.Context(), info.keyID, info.id) {
		return tooMany(w, streamRetryAfter, s.streams.refusal())
	}
	defer s.streams.release(info.keyID)

	rc := http.NewResponseController(w)
	// A stream outlives server.read_timeout and write_timeout: the request
	// has been read, and each write gets its own deadline.
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Now().Add(3 * orDefault(rs.Heartbeat, DefaultStreamHeartbeat)))
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no") // NGINX: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		// GET's headers and no stream: its writes would go nowhere, so it
		// would hold the slot and the connection until the client hangs
		// up, and never learn that it did once the client's next request
		// on the connection is read.
		return nil
	}
	if reset != "" {
		_ = stream.WriteEvent(w, stream.EventReset, stream.CursorAt(now), stream.Reset{Reason: reset})
		_ = rc.Flush()
		return nil
	}
	secret, _ := bearerKey(r.Header.Get("Authorization"))
	t := &tail{rs: rs, w: w, rc: rc, from: from, sent: map[string]time.Time{}, settle: settle, log: s.log,
		reqID: info.id,
		// The key was checked when the stream opened; a stream outlives
		// that check, so it asks again before each write: a revoked key,
		// or one that lost the verify scope, ends the stream (the key
		// set is cached, so this costs no store read).
		allowed: func(ctx context.Context) bool {
			key, err := s.auth(ctx, sessiond.Secret(secret))
			return err == nil && key.Allows(apikey.ScopeVerify)
		}}
	if resume {
		// The client's state is as old as its cursor: a watermark raised
		// since by a node whose clock lags by more than Settle is in no
		// window this stream reads, so the first poll sends the whole
		// document (sendMarks) rather than taking it as the baseline.
		t.marks = map[markKey]time.Time{}
	}
	if err := t.run(r.Context()); errors.Is(err, errKeyRefused) {
		t.log.LogAttrs(r.Context(), slog.LevelInfo, "revocation stream ended: its API key is revoked or lost the verify scope",
			slog.String("request_id", t.reqID))
	} else if err != nil && r.Context().Err() == nil {
		t.log.LogAttrs(r.Context(), slog.LevelWarn, "revocation stream ended", slog.String("request_id", t.reqID),
			slog.String("err", err.Error()))
	}
	return nil
}

// tail follows the event log for one connection.
type tail struct {
	rs     *RevocationStream
	w      http.ResponseWriter
	rc     *http.ResponseController
	from   time.Time            // every read starts here
	sent   map[string]time.Time // log event IDs sent, with their time, since from
	settle time.Duration
	log    *slog.Logger
	reqID  string
	seq    uint64 // the last feed revocation seen (RevocationStream.Recent)
	// marks are the highest watermarks this stream has sent or seen, in
	// the store's document or the log. Nil before the first poll of a
	// connection without a cursor: that poll's document is its baseline.
	marks map[markKey]time.Time
	// sawAt is when sawMark last took a watermark from the log: a read of
	// the document begun before it may not hold that one yet.
	sawAt time.Time
	// allowed reports whether the stream's API key may still read it.
	allowed func(context.Context) bool
}

// errKeyRefused ends a stream whose API key no longer allows it.
var errKeyRefused = errors.New("the stream's API key no longer allows it")

// burst is when the stream reads the log again after a wake-up: the feed
// can announce a revocation a moment before its event is in the log.
var burst = []time.Duration{0, 10 * time.Millisecond, 30 * time.Millisecond, 100 * time.Millisecond, 300 * time.Millisecond, 700 * time.Millisecond}

func (t *tail) run(ctx context.Context) error {
	every := orDefault(t.rs.Poll, DefaultStreamPoll)
	// The polls of every stream of this node fall on the same instants
	// (multiples of every on the wall clock), so they share a read of the
	// log (revocationwindow.go) instead of each reading at its own phase.
	poll := time.NewTimer(untilAligned(time.Now(), every))
	defer poll.Stop()
	beat := time.NewTicker(orDefault(t.rs.Heartbeat, DefaultStreamHeartbeat))
	defer beat.Stop()
	var wake <-chan struct{}
	if t.rs.Wake != nil {
		wake = t.rs.Wake()
	}
	if t.rs.Recent != nil {
		_, t.seq = t.rs.Recent(^uint64(0))
	}
	// The first read catches up from the cursor; the heartbeat after it
	// tells the client it is up to date.
	if err := t.poll(ctx); err != nil {
		return err
	}
	if err := t.heartbeat(); err != nil {
		return err
	}
	var burstAt []time.Time
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		var tick bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.rs.Closing:
			return nil
		case <-wake:
		case <-timer.C:
			tick = true
		case <-poll.C:
			tick = true
			poll.Reset(untilAligned(time.Now(), every))
		case <-beat.C:
			if !t.allowed(ctx) {
				return errKeyRefused
			}
			if err := t.heartbeat(); err != nil {
				return err
			}
			continue
		}
		if !t.allowed(ctx) {
			return errKeyRefused
		}
		if tick {
			if err := t.poll(ctx); err != nil {
				return err
			}
		} else {
			wake = t.rs.Wake()
			if err := t.sendRecent(); err != nil {
				return err
			}
			start := time.Now()
			burstAt = burstAt[:0]
			for _, d := range burst[1:] {
				burstAt = append(burstAt, start.Add(d))
			}
			if err := t.poll(ctx); err != nil {
				return err
			}
		}
		// Arm the timer for the next burst read still ahead.
		for len(burstAt) > 0 && !time.Now().Before(burstAt[0]) {
			burstAt = burstAt[1:]
		}
		if len(burstAt) > 0 {
			timer.Reset(time.Until(burstAt[0]))
		}
	}
}

// untilAligned is how long from now to the next multiple of every since
// the Unix epoch (never zero: a poll that fires on the instant waits a
// whole interval for the next).
func untilAligned(now time.Time, every time.Duration) time.Duration {
	return every - time.Duration(now.UnixNano()%int64(every))
}

// sendRecent sends what the store's feed announced since the last wake.
// Their id is the heartbeat's cursor, not a log entry's: a client resuming
// from it is sent everything that may not have settled in the log, these
// revocations' own log entries included.
func (t *tail) sendRecent() error {
	if t.rs.Recent == nil {
		return nil
	}
	revs, last := t.rs.Recent(t.seq)
	t.seq = last
	now := t.rs.now()
	wrote := false
	t.deadline()
	for _, rv := range revs {
		if rv.SessionID == "" || rv.Reason == sessiond.ReasonIncident {
			continue // a watermark covers incident revocations
		}
		ev := stream.Revoked{SessionID: string(rv.SessionID), Subject: rv.Subject, RevokedAt: rv.RevokedAt.UTC(),
			Reason: string(rv.Reason), Until: t.rs.until(rv.RevokedAt, rv.ExpiresAt).UTC()}
		if !t.rs.sent(ev.Until, now) {
			continue
		}
		if err := stream.WriteEvent(t.w, stream.EventRevoked, stream.CursorAt(t.from.Add(t.settle)), ev); err != nil {
			return err
		}
		wrote = true
	}
	if wrote {
		return t.rc.Flush()
	}
	return nil
}

func (t *tail) heartbeat() error {
	t.deadline()
	// The cursor a client may resume from: everything before it minus
	// Settle has been read, and a resume looks Settle back.
	if err := stream.WriteHeartbeat(t.w, stream.CursorAt(t.from.Add(t.settle))); err != nil {
		return err
	}
	return t.rc.Flush()
}

// poll reads the log from t.from and sends what was not sent yet.
func (t *tail) poll(ctx context.Context) error {
	now := t.rs.now()
	if back := now.Add(-t.settle); back.Before(t.from) {
		// A cursor stamped by a node whose clock runs ahead, or this
		// node's clock stepped back: entries this clock stamps from now
		// on would fall before the window and never be sent. Read from
		// Settle before this clock instead (what comes again is skipped
		// or, once forgotten, sent again: at least once), and the cursor
		// follows this clock.
		t.from = back
	}
	from := make(map[sessiond.EventType]time.Time, len(streamTypes))
	for _, typ := range streamTypes {
		from[typ] = t.from
	}
	if h := t.rs.revokedHorizon(now); h.After(t.from) {
		// A revocation from before h has no access token left to stop
		// (send skips it): a client resuming from an old cursor must not
		// make the stream load days of logouts only to drop them.
		// Watermarks and retired keys stay in force, so they are read
		// from the cursor.
		from[sessiond.EventSessionRevoked] = h
	}
	// A stream following live shares this node's read of the recent log
	// (revocationwindow.go); one catching up reads its own.
	events, ok, err := t.rs.window().read(ctx, from)
	if err != nil {
		return err
	}
	if !ok {
		if events, err = readLog(ctx, t.rs.Log, streamTypes, func(typ sessiond.EventType) time.Time { return from[typ] }); err != nil {
			return err
		}
	}
	wrote := false
	t.deadline()
	for _, e := range events {
		if _, dup := t.sent[e.ID]; dup {
			continue
		}
		t.sent[e.ID] = e.Time
		n, err := t.send(e, now)
		if err != nil {
			return err
		}
		wrote = wrote || n > 0
	}
	// Entries stamped more than Settle behind this clock are never in the
	// window: their watermarks come from the store's document.
	n, err := t.sendMarks(ctx)
	if err != nil {
		return err
	}
	wrote = wrote || n > 0
	// Move the window: what is older than Settle is final.
	if next := now.Add(-t.settle); next.After(t.from) {
		t.from = next
		for id, at := range t.sent {
			if at.Before(t.from.Add(-time.Second)) {
				delete(t.sent, id)
			}
		}
	}
	if wrote {
		return t.rc.Flush()
	}
	return nil
}

// send writes the stream events of one log event and returns how many.
// A log entry it cannot read is logged and skipped: the other events must
// still flow.
func (t *tail) send(e sessiond.Event, now time.Time) (int, error) {
	bad := func(msg string) (int, error) {
		t.log.LogAttrs(context.Background(), slog.LevelError, "revocation stream: unreadable event log entry",
			slog.String("request_id", t.reqID), slog.String("event_id", e.ID), slog.String("type", string(e.Type)),
			slog.String("err", msg))
		return 0, nil
	}
	switch e.Type {
	case sessiond.EventSessionRevoked:
		if e.SessionID == "" {
			return bad("no session_id")
		}
		reason, _ := e.Details["reason"].(string)
		// The revocation's stored time, as the feed's copy and the
		// snapshot carry it; the event's own time (when it was recorded)
		// for entries written before events carried it.
		at := e.Time
		if s, ok := e.Details["revoked_at"].(string); ok {
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				at = t
			}
		}
		ev := stream.Revoked{SessionID: string(e.SessionID), Subject: e.Subject, RevokedAt: at.UTC(), Reason: reason,
			Until: t.rs.until(at, time.Time{}).UTC()}
		if !t.rs.sent(ev.Until, now) {
			return 0, nil // every token of the session has expired, leeways included
		}
		return 1, stream.WriteEvent(t.w, stream.EventRevoked, e.ID, ev)
	case EventWatermarkRaised:
		ts, _ := e.Details["issued_before"].(string)
		ib, err := time.Parse(time.RFC3339Nano, ts)
		if err != nil {
			return bad("issued_before is not a time")
		}
		var marks []stream.Watermark
		if all, _ := e.Details["all"].(bool); all {
			marks = append(marks, stream.Watermark{All: true, IssuedBefore: ib.UTC()})
		}
		for _, sub := range detailStrings(e.Details["subjects"]) {
			marks = append(marks, stream.Watermark{Subject: sub, IssuedBefore: ib.UTC()})
		}
		if len(marks) == 0 {
			return bad("neither all nor subjects")
		}
		for i, m := range marks {
			t.sawMark(m)
			if err := stream.WriteEvent(t.w, stream.EventWatermark, stream.SubID(e.ID, i+1), m); err != nil {
				return i, err
			}
		}
		return len(marks), nil
	case EventKeysRetired:
		n := 0
		for _, kid := range detailStrings(e.Details["kids"]) {
			n++
			if err := stream.WriteEvent(t.w, stream.EventKeyRetired, stream.SubID(e.ID, n), stream.KeyRetired{Kid: kid}); err != nil {
				return n, err
			}
		}
		if n == 0 {
			return bad("no kids")
		}
		return n, nil
	}
	return 0, errors.New("unexpected event type " + string(e.Type))
}

// detailStrings reads a list of strings from event details: []string as
// emitted, []any once a store has decoded it from JSON. Empty strings and
// other types are skipped.
func detailStrings(v any) []string {
	var out []string
	switch l := v.(type) {
	case []string:
		for _, s := range l {
			if s != "" {
				out = append(out, s)
			}
		}
	case []any:
		for _, x := range l {
			if s, ok := x.(string); ok && s != "" {
				out = append(out, s)
			}
		}
	}
	return out
}

// validate reports a RevocationStream that cannot serve.
func (rs *RevocationStream) validate() error {
	if rs == nil {
		return nil
	}
	for _, f := range []struct {
		name string
		nil  bool
	}{{"Stream.Log", rs.Log == nil}, {"Stream.Revocations", rs.Revocations == nil}, {"Stream.Watermarks", rs.Watermarks == nil}} {
		if f.nil {
			return fmt.Errorf("httpapi: new: %w", &sessiond.ArgumentError{Field: f.name, Msg: "is required"})
		}
	}
	if rs.AccessLifetime <= 0 || rs.Leeway < 0 || rs.Retention < 0 {
		return fmt.Errorf("httpapi: new: %w", &sessiond.ArgumentError{Field: "Stream", Msg: "AccessLifetime must be positive, Leeway and Retention not negative"})
	}
	return nil
}

// deadline gives the next writes of a stream a bounded time, so a client
// that stopped reading is dropped instead of holding the handler.
func (t *tail) deadline() {
	_ = t.rc.SetWriteDeadline(time.Now().Add(3 * orDefault(t.rs.Heartbeat, DefaultStreamHeartbeat)))
}
