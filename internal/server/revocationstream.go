package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/verifier/stream"
)

// watermarkDoc is the MetaStore document in which the Manager keeps the
// incident watermarks ({"all": time, "subjects": {subject: time}}). The
// Manager has no accessor for them yet, so the snapshot reads the document.
const watermarkDoc = "revocation_watermarks"

// attachRevocationStream serves the revocation stream on hopts when the
// store keeps an event log, and wraps the kill switch so the log records
// what the stream needs (the exact watermark, the retired key IDs). The
// returned func ends open streams; call it when the server shuts down.
func attachRevocationStream(bg context.Context, hopts *httpapi.Options, cfg config.Config, store sessiond.Store,
	mgr *sessiond.Manager, keys *signing.Keys, events *fanout) (func(), error) {
	if hopts.Incident != nil {
		meta, _ := store.(sessiond.MetaStore)
		hopts.Incident = recordIncident(hopts.Incident, meta, keys, events)
	}
	if events.log == nil {
		return func() {}, nil
	}
	meta, _ := store.(sessiond.MetaStore)
	hub := newWakeHub()
	if n, ok := store.(sessiond.RevocationNotifier); ok {
		if err := n.SubscribeRevocations(bg, hub.add, hub.Wake); err != nil {
			return nil, fmt.Errorf("subscribe to revocations for the stream: %w", err)
		}
	}
	closing := make(chan struct{})
	var page func(context.Context, sessiond.RevocationQuery) (sessiond.RevocationPage, error)
	if p, ok := store.(sessiond.RevocationPager); ok {
		page = p.PageRevocations
	}
	hopts.Stream = &httpapi.RevocationStream{
		Log:            events.log,
		Revocations:    store.Revocations,
		Page:           page,
		Watermarks:     func(ctx context.Context) ([]stream.Watermark, error) { return readWatermarks(ctx, meta) },
		Wake:           hub.Next,
		Recent:         hub.recent,
		AccessLifetime: mgr.Lifetimes().Access,
		Leeway:         cfg.JWT.Leeway.Std(),
		Retention:      retention(cfg),
		Closing:        closing,
	}
	var once sync.Once
	return func() { once.Do(func() { close(closing) }) }, nil
}

// recordIncident runs the kill switch with an explicit issued_before (now
// when the request has none) and records in the event log the watermarks
// it raised and the signing keys it retired. The watermarks are read back
// from the store: the Manager may have raised one past issued_before (a
// second incident in the same second covers the logins in between).
func recordIncident(next func(context.Context, httpapi.IncidentRequest) (int, error), meta sessiond.MetaStore, keys *signing.Keys,
	events *fanout) func(context.Context, httpapi.IncidentRequest) (int, error) {
	return func(ctx context.Context, req httpapi.IncidentRequest) (int, error) {
		now := events.now().UTC().Truncate(time.Microsecond)
		if req.IssuedBefore.IsZero() || req.IssuedBefore.After(now) {
			req.IssuedBefore = now
		}
		var kids []string
		if req.RotateKeys && keys != nil {
			for _, k := range keys.Ring().Keys() {
				kids = append(kids, k.ID)
			}
		}
		type result struct {
			n   int
			err error
		}
		done := make(chan result, 1)
		go func() {
			n, err := next(ctx, req)
			done <- result{n, err}
		}()
		retired := func() bool {
			return !slices.ContainsFunc(keys.Ring().Keys(), func(k jwttoken.KeyInfo) bool { return slices.Contains(kids, k.ID) })
		}
		marksSent, keysSent := false, len(kids) == 0
		sendMarks := func(onlyStored bool) {
			for _, d := range raisedWatermarks(ctx, meta, req, events, onlyStored) {
				events.emit(ctx, sessiond.Event{Type: httpapi.EventWatermarkRaised, Details: d})
			}
			marksSent = true
		}
		sendKeys := func() {
			events.emit(ctx, sessiond.Event{Type: httpapi.EventKeysRetired, Details: map[string]any{"kids": kids, "reason": req.Reason}})
			keysSent = true
		}
		// The bulk write can take minutes on a large store, and every
		// sessiond node refuses the tokens as soon as the watermark is
		// stored: the verifiers following the stream hear of it (and of
		// the keys retired) then, not when the bulk write returns.
		poll := time.NewTicker(incidentPoll)
		defer poll.Stop()
		var res result
	wait:
		for {
			select {
			case res = <-done:
				break wait
			case <-poll.C:
				if !marksSent && watermarksStored(ctx, meta, req) {
					sendMarks(true)
				}
				if !keysSent && retired() {
					sendKeys()
				}
			}
		}
		// Whatever the bulk write returned: what took effect.
		if !marksSent {
			sendMarks(res.err != nil)
		}
		if !keysSent && retired() {
			sendKeys()
		}
		return res.n, res.err
	}
}

// incidentPoll is how often a running kill switch looks whether its
// watermarks are stored, to tell the revocation stream.
const incidentPoll = 100 * time.Millisecond

// watermarksStored reports whether the store holds req's watermarks (at
// issued_before or later). A raise writes all of an incident's in one
// document, so one subject's tells for all.
func watermarksStored(ctx context.Context, meta sessiond.MetaStore, req httpapi.IncidentRequest) bool {
	stored, err := readWatermarks(ctx, meta)
	if err != nil {
		return false
	}
	for _, w := range stored {
		if w.IssuedBefore.Before(req.IssuedBefore) {
			continue
		}
		if len(req.Subjects) == 0 && w.All || len(req.Subjects) > 0 && !w.All && w.Subject == req.Subjects[0] {
			return true
		}
	}
	return false
}

// raisedWatermarks returns the details of the revocation.watermark_raised
// events of an incident: one for all, or one per distinct watermark among
// its subjects (usually one). A watermark is the stored one when that is
// later than issued_before (never lower: a verifier would let through
// logins sessiond refuses), else issued_before. onlyStored (the incident
// failed): only the watermarks the store holds at issued_before or later,
// the ones that took effect.
func raisedWatermarks(ctx context.Context, meta sessiond.MetaStore, req httpapi.IncidentRequest, events *fanout, onlyStored bool) []map[string]any {
	var all time.Time
	subjects := map[string]time.Time{}
	stored, err := readWatermarks(ctx, meta)
	if err != nil {
		events.slog.WarnContext(ctx, "revocation stream: read back watermarks", "err", err)
	}
	for _, w := range stored {
		if w.All {
			all = w.IssuedBefore
		} else {
			subjects[w.Subject] = w.IssuedBefore
		}
	}
	at := func(t time.Time) time.Time {
		if t.After(req.IssuedBefore) {
			return t.UTC()
		}
		return req.IssuedBefore.UTC()
	}
	detail := func(all bool, t time.Time) map[string]any {
		return map[string]any{"all": all, "issued_before": t.Format(time.RFC3339Nano), "reason": req.Reason}
	}
	raised := func(t time.Time) bool { return !onlyStored || !t.Before(req.IssuedBefore) }
	if len(req.Subjects) == 0 {
		if !raised(all) {
			return nil
		}
		return []map[string]any{detail(true, at(all))}
	}
	groups := map[time.Time][]string{}
	for _, s := range req.Subjects {
		if !raised(subjects[s]) {
			continue
		}
		t := at(subjects[s])
		groups[t] = append(groups[t], s)
	}
	var out []map[string]any
	for _, t := range slices.SortedFunc(maps.Keys(groups), time.Time.Compare) {
		d := detail(false, t)
		d["subjects"] = groups[t]
		out = append(out, d)
	}
	return out
}

// readWatermarks returns the shared incident watermarks.
func readWatermarks(ctx context.Context, meta sessiond.MetaStore) ([]stream.Watermark, error) {
	out := []stream.Watermark{}
	if meta == nil {
		return out, nil
	}
	raw, _, err := meta.GetMeta(ctx, watermarkDoc)
	if errors.Is(err, sessiond.ErrNotFound) {
		return out, nil
	} else if err != nil {
		return nil, fmt.Errorf("load watermarks: %w", err)
	}
	var doc struct {
		All      time.Time            `json:"all"`
		Subjects map[string]time.Time `json:"subjects"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("stored watermarks are corrupt: %w", err)
	}
	if !doc.All.IsZero() {
		out = append(out, stream.Watermark{All: true, IssuedBefore: doc.All.UTC()})
	}
	for _, s := range slices.Sorted(func(yield func(string) bool) {
		for s := range doc.Subjects {
			if !yield(s) {
				return
			}
		}
	}) {
		out = append(out, stream.Watermark{Subject: s, IssuedBefore: doc.Subjects[s].UTC()})
	}
	return out, nil
}

// wakeHub tells every open stream of a revocation on any node: Next
// returns a channel that Wake closes, and recent the last revocations the
// store's feed announced.
type wakeHub struct {
	*httpapi.Waker
	mu   sync.Mutex
	ring [hubRing]sessiond.Revocation
	seq  uint64 // sequence number of the newest entry; ring[seq%hubRing]
}

// hubRing is how many feed revocations a stream can fall behind by before
// it relies on the event log alone.
const hubRing = 1024

func newWakeHub() *wakeHub { return &wakeHub{Waker: httpapi.NewWaker()} }

func (h *wakeHub) add(r sessiond.Revocation) {
	h.mu.Lock()
	h.seq++
	h.ring[h.seq%hubRing] = r
	h.mu.Unlock()
	h.Wake()
}

func (h *wakeHub) recent(after uint64) ([]sessiond.Revocation, uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if after >= h.seq {
		return nil, h.seq
	}
	from := max(after+1, h.seq-min(h.seq, hubRing-1))
	out := make([]sessiond.Revocation, 0, h.seq-from+1)
	for i := from; i <= h.seq; i++ {
		out = append(out, h.ring[i%hubRing])
	}
	return out, h.seq
}

// retention is how long the event log keeps events: events.retention, or
// Redis's safety net (redisstore's default MaxEventAge) when that is
// shorter or retention is off, so a cursor older than what may have been
// deleted gets a reset rather than a gap.
func retention(cfg config.Config) time.Duration {
	keep := cfg.Events.Retention.Std()
	const redisMaxAge = 400 * 24 * time.Hour
	if cfg.Store.Driver == "redis" && (keep <= 0 || keep > redisMaxAge) {
		return redisMaxAge
	}
	return max(keep, 0)
}
