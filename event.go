package sessiond

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"
)

// EventType names a lifecycle or security event.
type EventType string

// Events the Manager emits. Other packages (the server, the kill switch)
// add their own types; these names are part of the public contract.
const (
	EventSessionCreated   EventType = "session.created"
	EventSessionRefreshed EventType = "session.refreshed"
	EventSessionRotated   EventType = "session.rotated"
	EventSessionRevoked   EventType = "session.revoked"
	EventRefreshReused    EventType = "session.refresh_token_reused"
	EventBulkRevoked      EventType = "session.bulk_revoked"
)

// Events of the operator console (internal/console): an operator signed
// in with an admin API key, or signed out (ASVS 16.3.1). A refused
// sign-in is the server's api_key.auth_failed.
const (
	EventConsoleSignedIn  EventType = "console.signed_in"
	EventConsoleSignedOut EventType = "console.signed_out"
)

// Event is one entry of the security event log. It never holds a token.
type Event struct {
	ID        string         `json:"id"`
	Time      time.Time      `json:"time"`
	Type      EventType      `json:"type"`
	Subject   string         `json:"subject,omitempty"`
	SessionID SessionID      `json:"session_id,omitempty"`
	Client    Client         `json:"client"`
	Details   map[string]any `json:"details,omitempty"`
}

// EventSink receives events (the durable event log, webhooks, metrics).
// Record must be safe for concurrent use; its errors are logged, never
// returned to the caller of the operation that produced the event.
type EventSink interface {
	Record(ctx context.Context, e Event) error
}

// BatchSink is an EventSink that records several events in one call, in
// fewer store writes than one Record each (the server's: one append to the
// event log and one to the webhook outbox for them all). The Manager uses
// it for the events it records off the request's path in runs (the
// concurrent-login check's); without it, it calls Record for each, in
// order.
type BatchSink interface {
	EventSink
	// RecordBatch records events as Record would record each, in their
	// order: no event is stored after a later one of the same call.
	RecordBatch(ctx context.Context, events []Event) error
}

// ChangeEventWriter is implemented by a Store (that is also an EventLog,
// and usually an Outbox) whose writes store the events and webhook
// deliveries they carry (RefreshSwap.Events, RefreshSwap.Deliveries) in the
// same transaction as the change: a crash cannot keep the change and lose
// its event, or the reverse. WritesChangeEvents reports whether it does.
type ChangeEventWriter interface {
	WritesChangeEvents() bool
}

// ChangeRecords are the durable records of one change: its events and
// their webhook outbox deliveries, as AtomicSink.Prepare returns them.
type ChangeRecords struct {
	Events     []Event
	Deliveries []Delivery
}

// ChangeRecorder is implemented by a ChangeEventWriter that also writes the
// records of a session's creation and revocation in the change's own
// transaction (while WritesChangeEvents reports true). The Manager uses it
// for Create, Rotate, the evictions of a session limit and every single
// revocation; without it those events are recorded after the change.
type ChangeRecorder interface {
	ChangeEventWriter
	// CreateRecorded stores s and its tokens as Store.Create does (max 0)
	// or as Limiter.CreateLimited does (max > 0), and in the same
	// transaction rec and, for each session it evicts, evicted(r) (r as
	// CreateLimited returns it; evicted may be nil). On error nothing is
	// stored, records included.
	CreateRecorded(ctx context.Context, s *Session, max int, evict bool, rec ChangeRecords,
		evicted func(Revocation) ChangeRecords, tokens ...Token) ([]Revocation, error)
	// RevokeRecorded revokes as Store.Revoke does. When this call is the
	// one that revokes the session it also stores revoked(s), s the session
	// as revoked, in the same transaction, and reports recorded true; a
	// session already revoked is returned unchanged and nothing is stored.
	// revoked may be nil: the call then only revokes, and still reports
	// whether it was the one that did.
	RevokeRecorded(ctx context.Context, id SessionID, at time.Time, reason RevokeReason,
		revoked func(*Session) ChangeRecords) (s *Session, recorded bool, err error)
}

// SubjectChangeRecorder is implemented by a ChangeRecorder that also writes
// the records of a subject's bulk revocation in the revocation's own
// transaction (while WritesChangeEvents reports true). The Manager uses it
// for RevokeSubject, unless the store is a SubjectBatchRevoker (which
// writes each batch's records with the batch); without either those
// events are recorded after the change. It is an interface of its own so
// that a ChangeRecorder written before it keeps working.
type SubjectChangeRecorder interface {
	ChangeRecorder
	// RevokeSubjectRecorded revokes as Store.RevokeSubject does. When it
	// revokes at least one session it also stores revoked(revs), revs the
	// revocations in the order it returns them, in the same transaction;
	// when it revokes none it does not call revoked. A store that learns
	// which sessions it revokes only as it revokes them may call revoked
	// more than once (with the sessions of the moment) and stores what the
	// last call returned. On error nothing is stored, records included.
	// A store whose one transaction over a very large subject would hold
	// up its other clients for long may refuse such a subject with
	// ErrUnsupported (redisstore: over 128 sessions in the subject's
	// index); such a store is a SubjectBatchRevoker, which the Manager
	// uses instead.
	RevokeSubjectRecorded(ctx context.Context, subject string, except SessionID, at time.Time, reason RevokeReason,
		revoked func(revs []Revocation) ChangeRecords) ([]Revocation, error)
}

// TouchRecorder is implemented by a ChangeEventWriter that also writes the
// records of a session's activity in the activity's own transaction (while
// WritesChangeEvents reports true). The Manager uses it for a hybrid
// refresh with Options.NoRotation, whose only store write is the session's
// activity; without it that refresh's event is recorded after the change.
// It is an interface of its own so that a ChangeRecorder written before it
// keeps working.
type TouchRecorder interface {
	ChangeEventWriter
	// TouchRecorded records activity as Store.Touch does and, in the same
	// transaction, rec. ErrNotFound if the session does not exist,
	// ErrRevoked if it is revoked, ErrInvalidArgument if the store refuses
	// a record: in each case nothing is written, records included.
	TouchRecorded(ctx context.Context, id SessionID, lastActive, idleExpires time.Time, rec ChangeRecords) error
}

// AtomicSink is an EventSink that can hand its durable writes to the store
// so they commit with the change that caused the event. The Manager uses it
// when its store is a ChangeEventWriter and the flow's write carries events.
type AtomicSink interface {
	EventSink
	// Prepare returns what the store must write with the change that
	// causes e: the event as the log keeps it and its outbox deliveries.
	// ok false: the sink cannot hand these writes over, and the Manager
	// calls Record after the change instead.
	Prepare(ctx context.Context, e Event) (events []Event, ds []Delivery, ok bool, err error)
	// Committed tells the sink that the change carrying e is committed,
	// with the writes Prepare returned: it does the rest (metrics), not
	// those writes.
	Committed(ctx context.Context, e Event)
}

// eventIDEncoding is base32hex: its alphabet is in byte order, so IDs sort
// as their bytes do.
var eventIDEncoding = base32.HexEncoding.WithPadding(base32.NoPadding)

// NewEventID returns a unique event ID that sorts by t: "evt_" and 26
// characters encoding t in unix microseconds and 64 random bits. Stores
// page the event log by ID.
func NewEventID(t time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(t.UnixMicro()))
	_, _ = rand.Read(b[8:])
	return "evt_" + strings.ToLower(eventIDEncoding.EncodeToString(b[:]))
}

// eventIDAfter returns an ID for an event at t that sorts after prev (an
// ID from NewEventID, or ""), and the event's time, which that ID encodes:
// NewEventID's own and t when it sorts later, else prev plus one, as a
// 128-bit number, and the time it encodes when that is after t. For events
// stamped back to back that must keep their order in the log, which is
// read in ID order: in one microsecond NewEventID's random bits would
// order them at random, and with the wall clock stepped back its IDs sort
// before the run's last. The run's events then stay at prev's time, in
// their IDs and their Time alike, until the clock passes it again: the
// console's pages and live tail take an event's time from its ID, and a
// reader by time sees the run in its order too.
func eventIDAfter(prev string, t time.Time) (string, time.Time) {
	id := NewEventID(t)
	if id > prev {
		return id, t
	}
	b, err := eventIDEncoding.DecodeString(strings.ToUpper(strings.TrimPrefix(prev, "evt_")))
	if err != nil || len(b) != 16 || "evt_"+strings.ToLower(eventIDEncoding.EncodeToString(b)) != prev {
		return id, t // not NewEventID's: no order to keep
	}
	hi, lo := binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])+1
	if lo == 0 { // the random bits wrapped: carry into the time
		if hi == ^uint64(0) {
			return id, t // no ID sorts later
		}
		hi++
	}
	binary.BigEndian.PutUint64(b[:8], hi)
	binary.BigEndian.PutUint64(b[8:], lo)
	if us := int64(hi); us > t.UnixMicro() {
		t = time.UnixMicro(us).In(t.Location())
	}
	return "evt_" + strings.ToLower(eventIDEncoding.EncodeToString(b)), t
}

// recordTimeout is the least time the record of an event of a change
// already made gets, whatever is left of its caller's deadline
// (recordContext).
const recordTimeout = 5 * time.Second

// loopContext keys the Manager in its own loops' context (New).
type loopContext struct{}

// recordContext is the context an event of a change already made is
// recorded with: ctx's values, not its cancellation. A client that hangs
// up once its logout is done, or a request timeout that fires once the
// change is made (a slow store), must not cost the logout's audit record
// (a store-backed sink fails at once with a done context). It ends at
// ctx's deadline or recordTimeout from now, whichever is later. An event
// of one of the Manager's own loops keeps ctx as it is: Close ends it and
// waits for the loop, which must not wait out a store that does not
// answer.
func (m *Manager) recordContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if ctx.Value(loopContext{}) == m {
		return ctx, func() {}
	}
	d := time.Now().Add(recordTimeout)
	if cd, ok := ctx.Deadline(); ok && cd.After(d) {
		d = cd
	}
	return context.WithDeadline(context.WithoutCancel(ctx), d)
}

// emit logs e and hands it to the EventSink; a sink that fails is logged,
// never returned: an event must not undo the operation it reports.
func (m *Manager) emit(ctx context.Context, e Event) {
	e = m.stamp(e)
	m.logEvent(ctx, e)
	m.record(ctx, e)
}

// record hands e, stamped and logged, to the EventSink, as emit does.
func (m *Manager) record(ctx context.Context, e Event) {
	if m.events == nil {
		return
	}
	ctx, cancel := m.recordContext(ctx)
	defer cancel()
	if err := m.events.Record(ctx, e); err != nil {
		m.log.ErrorContext(ctx, "record event", "event_id", e.ID, "type", string(e.Type), "err", err)
	}
}

// recordEvents hands events, stamped and logged, to the EventSink in their
// order: in one call of a BatchSink, else one Record each.
func (m *Manager) recordEvents(ctx context.Context, events []Event) {
	b, ok := m.events.(BatchSink)
	if !ok || len(events) == 1 {
		for i, e := range events {
			// ctx is a loop's, which Close ends: a sink that writes on
			// regardless must not make it wait for the rest of the run,
			// a write each, as it waits for no more than one otherwise.
			if ctx.Err() != nil {
				m.log.WarnContext(ctx, "events not recorded: the manager is closing", "event_ids", eventIDs(events[i:]))
				return
			}
			m.record(ctx, e)
		}
		return
	}
	ctx, cancel := m.recordContext(ctx)
	defer cancel()
	if err := b.RecordBatch(ctx, events); err != nil {
		m.log.ErrorContext(ctx, "record events", "event_ids", eventIDs(events), "err", err)
	}
}

func eventIDs(events []Event) []string {
	ids := make([]string, len(events))
	for i, e := range events {
		ids[i] = e.ID
	}
	return ids
}

// stamp gives e its time and ID when it has none, and its client in the
// form CleanClient gives: verify, refresh and Record take the client as a
// caller passes it (httpsession relays a browser's User-Agent of up to
// the server's header limit, invalid UTF-8 included), and the log keeps
// every event for its retention; with Options.EventIPPrefixes, its
// addresses cut to them.
func (m *Manager) stamp(e Event) Event {
	e.Client = eventClient(e.Client)
	e = m.eventIP.MaskEvent(e)
	if e.Time.IsZero() {
		e.Time = m.now()
	}
	if e.ID == "" {
		e.ID = NewEventID(e.Time)
	}
	return e
}

// eventClient is c as CleanClient cleans it; an address that does not
// parse is dropped rather than refused, since the event must still be
// recorded.
func eventClient(c Client) Client {
	if cc, err := CleanClient(c); err == nil {
		return cc
	}
	cc, _ := CleanClient(Client{UserAgent: c.UserAgent})
	return cc
}

// logEvent writes e's log line, at e.LogLevel().
func (m *Manager) logEvent(ctx context.Context, e Event) {
	m.log.LogAttrs(ctx, e.LogLevel(), "event", slog.String("event_id", e.ID), slog.String("type", string(e.Type)),
		slog.String("subject", e.Subject), slog.String("session_id", string(e.SessionID)),
		slog.String("client_ip", e.Client.IP), e.DetailsAttr())
}

// DetailsAttr is e's details for a log line: a group with one attribute
// per key, in key order. As one value (a map) a text handler would quote
// the whole map and not the values inside it, and a value a client chose
// (an Origin header, a User-Agent) could then pass for other fields.
func (e Event) DetailsAttr() slog.Attr {
	keys := slices.Sorted(maps.Keys(e.Details))
	attrs := make([]any, 0, len(keys))
	for _, k := range keys {
		attrs = append(attrs, slog.Any(k, e.Details[k]))
	}
	return slog.Group("details", attrs...)
}

// carried is an event whose durable writes go with a store change.
type carried struct {
	event      Event
	events     []Event
	deliveries []Delivery
	ok         bool // the store can write them with the change
	written    bool // it did: emit must not
}

// prepare stamps e and, when the sink and the store can, returns the writes
// the store makes with the change. Without them (ok false) the caller
// emits e after the change as usual.
func (m *Manager) prepare(ctx context.Context, e Event) carried {
	c := carried{event: m.stamp(e)}
	sink, ok := m.events.(AtomicSink)
	if !ok {
		return c
	}
	if w, ok := m.store.(ChangeEventWriter); !ok || !w.WritesChangeEvents() {
		return c
	}
	events, ds, ok, err := sink.Prepare(ctx, c.event)
	if err != nil {
		m.log.ErrorContext(ctx, "prepare event", "event_id", c.event.ID, "type", string(c.event.Type), "err", err)
		return c
	}
	c.events, c.deliveries, c.ok = events, ds, ok
	return c
}

// prepareAll prepares each of es as prepare does and returns them with the
// records the store writes for all of them in one change.
func (m *Manager) prepareAll(ctx context.Context, es []Event) ([]carried, ChangeRecords) {
	cs := make([]carried, len(es))
	var out ChangeRecords
	for i, e := range es {
		cs[i] = m.prepare(ctx, e)
		r := cs[i].records()
		out.Events = append(out.Events, r.Events...)
		out.Deliveries = append(out.Deliveries, r.Deliveries...)
	}
	return cs, out
}

// records returns what the store writes with the change carrying c
// (nothing when the sink cannot hand it over).
func (c *carried) records() ChangeRecords {
	if !c.ok {
		return ChangeRecords{}
	}
	return ChangeRecords{Events: c.events, Deliveries: c.deliveries}
}

// recorder returns the store as a ChangeRecorder when the Manager can hand
// it a change's records: the sink is an AtomicSink and the store writes
// change events.
func (m *Manager) recorder() (ChangeRecorder, bool) {
	if _, ok := m.events.(AtomicSink); !ok {
		return nil, false
	}
	r, ok := m.store.(ChangeRecorder)
	if !ok || !r.WritesChangeEvents() {
		return nil, false
	}
	return r, true
}

// committed finishes a carried event once its change is committed (or,
// when the store did not carry it, records it as emit does).
func (m *Manager) committed(ctx context.Context, c *carried) {
	if !c.ok || !c.written {
		m.emit(ctx, c.event)
		return
	}
	m.logEvent(ctx, c.event)
	m.events.(AtomicSink).Committed(ctx, c.event)
}

// commitEvent is committed for the event of a login or refresh, which in
// the jwt strategy is the only durable record of it (nothing else is
// stored): there it is recorded before the tokens are handed out, and a
// sink that fails (a store that is down) fails the login or refresh, as a
// store that is down fails them in the other strategies, rather than
// issue tokens no event log will ever show.
func (m *Manager) commitEvent(ctx context.Context, c *carried) error {
	if m.flow.keepsSessions() || m.events == nil {
		m.committed(ctx, c)
		return nil
	}
	m.logEvent(ctx, c.event)
	if err := m.events.Record(ctx, c.event); err != nil {
		m.log.ErrorContext(ctx, "record event", "event_id", c.event.ID, "type", string(c.event.Type), "err", err)
		return fmt.Errorf("sessiond: record %s: %w", c.event.Type, err)
	}
	return nil
}
