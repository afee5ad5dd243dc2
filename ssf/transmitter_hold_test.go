package ssf_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/ssf"
	"github.com/sessiond/sessiond/webhook"
)

// TestTransmitter_PausedPushHoldIsBounded: a paused push stream holds its
// SETs (no attempt spent) for 7 days from when each was recorded, then
// ends them dead: whoever holds an ssf key cannot pause a stream that
// covers every subject and keep every revocation as an outbox row re-read
// each minute for as long as the pause lasts. More SETs than a paused
// poll stream may queue (MaxQueued), so neither bound hides the other.
func TestTransmitter_PausedPushHoldIsBounded(t *testing.T) {
	ctx := context.Background()
	rcv, pushed := jtiServer(t)
	clock := sessiondtest.NewClock(time.Now())
	tx, srv, st := newTransmitterServerWith(t, func(o *ssf.TransmitterOptions) { o.Clock = clock })
	id := createStream(t, srv, `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"`+rcv.URL+`"}}`)
	setStatus(t, srv, id, ssf.StatusPaused)
	const n = ssf.MaxQueued + 50
	for i := range n {
		ds, err := tx.Deliveries(ctx, revokedEvent(fmt.Sprintf("evt_hold%05d", i)))
		if err != nil || len(ds) != 1 {
			t.Fatalf("Deliveries = %v, %v", ds, err)
		}
		if err := st.EnqueueDeliveries(ctx, ds...); err != nil {
			t.Fatal(err)
		}
	}
	d, err := webhook.New(webhook.Options{Outbox: st, Senders: []webhook.Sender{tx}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	round := func() {
		t.Helper()
		for {
			got, err := d.DeliverDue(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got == 0 {
				return
			}
		}
	}
	count := func(state sessiond.DeliveryState) int {
		t.Helper()
		c, err := st.CountDeliveries(ctx, state)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	round()
	clock.Advance(6 * 24 * time.Hour) // within the hold: still kept, no attempt spent
	round()
	held, err := st.ListDeliveries(ctx, sessiond.DeliveryPending, 1)
	if err != nil || len(held) != 1 || held[0].Attempts != 0 || count(sessiond.DeliveryPending) != n {
		t.Fatalf("after 6 days paused: %d pending (%v, %v); want all %d held with 0 attempts", count(sessiond.DeliveryPending), held, err, n)
	}
	clock.Advance(24 * time.Hour) // 7 days
	round()
	if pending, dead := count(sessiond.DeliveryPending), count(sessiond.DeliveryDead); pending != 0 || dead != n {
		t.Errorf("after 7 days paused: %d pending, %d dead; want none pending, all %d dead", pending, dead, n)
	}
	if l, err := st.ListDeliveries(ctx, sessiond.DeliveryDead, 1); err != nil || len(l) != 1 || !strings.Contains(l[0].LastError, "held for 7 days") {
		t.Errorf("dead delivery = %v, %v; want its last error to say it was held 7 days", l, err)
	}
	if got := pushed(); len(got) != 0 {
		t.Errorf("a paused stream pushed %d SETs", len(got))
	}
}

// TestTransmitter_PausedHoldCountsFromTheRun: the 7 days a paused push
// stream holds a SET count from the first hold of an unbroken run of them
// (its last error carries the start), not from when the SET was recorded:
// one the console retried after the pause ended it dead, while the stream
// is still paused, is held 7 days more, not ended at once; and one a
// receiver's outage kept for days before the pause is held too. On every
// store: the start rides in the last error the outbox keeps.
func TestTransmitter_PausedHoldCountsFromTheRun(t *testing.T) {
	onEveryStore(t, pausedHoldCountsFromTheRun)
}

func pausedHoldCountsFromTheRun(t *testing.T, st txStore) {
	ctx := context.Background()
	const day = 24 * time.Hour
	h := newHeldSET(t, st, "evt_pause_run", webhook.Options{})
	setStatus(t, h.srv, h.stream, ssf.StatusPaused)
	// held runs the dispatcher after advance and wants the SET in state.
	held := func(advance time.Duration, want sessiond.DeliveryState, why string) sessiond.Delivery {
		t.Helper()
		h.clock.Advance(advance)
		h.deliver(t)
		got, del := h.state(t)
		if got != want || got == sessiond.DeliveryPending && del.Attempts != 0 {
			t.Fatalf("%s: %s (attempts %d, %q); want %s (held: no attempt)", why, got, del.Attempts, del.LastError, want)
		}
		return del
	}
	retry := func() {
		t.Helper()
		if err := st.RetryDelivery(ctx, h.del.ID, h.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	held(8*day, sessiond.DeliveryPending, "first claimed 8 days after it was recorded, paused")
	held(7*day-time.Minute, sessiond.DeliveryPending, "held a minute short of 7 days")
	if del := held(time.Minute, sessiond.DeliveryDead, "held 7 days"); !strings.Contains(del.LastError, "held for 7 days") {
		t.Fatalf("dead SET's last error = %q; want it to say it was held 7 days", del.LastError)
	}
	retry()
	held(0, sessiond.DeliveryPending, "retried while still paused")
	held(7*day-time.Minute, sessiond.DeliveryPending, "retried, then held a minute short of 7 days")
	held(time.Minute, sessiond.DeliveryDead, "retried, then held 7 days")
	retry()
	setStatus(t, h.srv, h.stream, ssf.StatusEnabled)
	h.deliver(t)
	if got, del := h.state(t); got != sessiond.DeliveryDelivered || len(h.pushed()) != 1 {
		t.Errorf("retried once enabled: %s (%q), %d pushed; want delivered, 1 pushed", got, del.LastError, len(h.pushed()))
	}
}

// TestTransmitter_PausedHoldBoundsTheRun: Send's answer for a paused push
// stream's SET by what its last error says: held, carrying the start of
// the run of pause holds, until that run is 7 days long, then dead. A run
// of another kind (held for a node that can sign), an attempt, a Retry
// from dead or an unreadable start begins a new run; a start in the
// future (another node's clock ahead) is taken as now.
func TestTransmitter_PausedHoldBoundsTheRun(t *testing.T) {
	ctx := context.Background()
	const day = 24 * time.Hour
	h := newHeldSET(t, memstore.New(), "evt_pause_table", webhook.Options{})
	setStatus(t, h.srv, h.stream, ssf.StatusPaused)
	now := h.clock.Now()
	pausedSince := func(at time.Time) string {
		return "stream paused: SET held since " + at.UTC().Format(time.RFC3339) + " until it is enabled"
	}
	for _, tc := range []struct {
		name      string
		age       time.Duration // since the outbox entry was made
		lastError string
		wantDead  bool
		wantSince time.Time // the run's start the hold carries on
	}{
		{"new", 0, "", false, now},
		{"recorded 30 days ago, never held", 30 * day, "", false, now},
		{"a receiver away for 8 days", 8 * day, "push: connection refused", false, now},
		{"held 6 days for a node that can sign", 6 * day, "SET held since " + now.Add(-6*day).UTC().Format(time.RFC3339) + ": this node cannot sign now: x", false, now},
		{"retried after it ended dead", 8 * day, "stream paused: SET held for 7 days (the most a paused stream keeps) and dropped", false, now},
		{"held a minute short of 7 days", 30 * day, pausedSince(now.Add(-7*day + time.Minute)), false, now.Add(-7*day + time.Minute)},
		{"held 7 days", 30 * day, pausedSince(now.Add(-7 * day)), true, time.Time{}},
		{"held since a time in the future", 0, pausedSince(now.Add(365 * day)), false, now},
		{"held since an unreadable time", 0, "stream paused: SET held since yesterday until it is enabled", false, now},
		{"a receiver's text with a forged start", 0, `receiver refused the SET: "` + pausedSince(now.Add(-8*day)) + `"`, false, now},
	} {
		t.Run(tc.name, func(t *testing.T) {
			del := h.del
			del.CreatedAt, del.LastError = now.Add(-tc.age), tc.lastError
			permanent, err := h.tx.Send(ctx, del)
			switch {
			case tc.wantDead:
				if !permanent || !strings.Contains(fmt.Sprint(err), "held for 7 days") {
					t.Errorf("Send = %v, %v; want permanent, saying it was held 7 days", permanent, err)
				}
			case permanent || !errors.Is(err, ssf.ErrPaused):
				t.Errorf("Send = %v, %v; want held (not permanent), paused", permanent, err)
			case err.Error() != pausedSince(tc.wantSince):
				t.Errorf("held: %q; want %q (the run's start carried on)", err, pausedSince(tc.wantSince))
			}
		})
	}
}

// TestTransmitter_SigningHeldIsNoAttempt: a node whose key ring signs
// nothing (jwttoken.KeyRing.HoldSigning: it cannot read the stored ring)
// still runs the dispatcher that claims the cluster's SETs. Each SET it
// cannot sign is held back, no attempt spent, for another node (or this
// one, once it reads the ring) to push: counted as attempts, a node left
// unable to read the ring ended every SET it claimed DefaultMaxAttempts
// times dead, never pushed.
func TestTransmitter_SigningHeldIsNoAttempt(t *testing.T) {
	ctx := context.Background()
	rcv, pushed := jtiServer(t)
	clock := sessiondtest.NewClock(time.Now())
	ring, err := jwttoken.NewRing(clock.Now(), jwttoken.RingOptions{MaxTokenLifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tx, srv, st := newTransmitterServerWith(t, func(o *ssf.TransmitterOptions) { o.Clock, o.Signer = clock, ring })
	id := createStream(t, srv, `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"`+rcv.URL+`"}}`)
	ds, err := tx.Deliveries(ctx, revokedEvent("evt_held_signing"))
	if err != nil || len(ds) != 1 {
		t.Fatalf("Deliveries = %v, %v", ds, err)
	}
	if err := st.EnqueueDeliveries(ctx, ds...); err != nil {
		t.Fatal(err)
	}
	d, err := webhook.New(webhook.Options{Outbox: st, Senders: []webhook.Sender{tx}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	ring.HoldSigning(fmt.Errorf("%w: this node cannot read the stored ring", sessiond.ErrStoreUnavailable))
	for range 2 * webhook.DefaultMaxAttempts {
		if _, err := d.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
		clock.Advance(webhook.DefaultMaxBackoff)
	}
	l, err := st.ListDeliveries(ctx, sessiond.DeliveryPending, 10)
	if err != nil {
		t.Fatal(err)
	}
	if dead, err := st.CountDeliveries(ctx, sessiond.DeliveryDead); err != nil || dead != 0 || len(l) != 1 || l[0].Attempts != 0 {
		t.Fatalf("while signing is held: %d pending (attempts %v), %d dead (%v); want the SET pending, no attempt spent", len(l), attempts(l), dead, err)
	}
	ring.HoldSigning(nil)
	if _, err := d.DeliverDue(ctx); err != nil {
		t.Fatal(err)
	}
	if got := pushed(); len(got) != 1 {
		t.Errorf("once the ring signs again: %d SETs pushed to stream %s; want 1", len(got), id)
	}
}

// attempts lists the attempts of each delivery.
func attempts(l []sessiond.Delivery) []int {
	out := make([]int, 0, len(l))
	for _, d := range l {
		out = append(out, d.Attempts)
	}
	return out
}

// hookMeta is a MetaStore that runs a hook once, before the first read
// (onGet) or write (onPut) of a document whose name has the prefix.
type hookMeta struct {
	sessiond.MetaStore
	mu     sync.Mutex
	onPut  bool
	prefix string
	before func()
}

func (h *hookMeta) arm(onPut bool, prefix string, before func()) {
	h.mu.Lock()
	h.onPut, h.prefix, h.before = onPut, prefix, before
	h.mu.Unlock()
}

func (h *hookMeta) fire(put bool, name string) {
	h.mu.Lock()
	var run func()
	if h.before != nil && h.onPut == put && strings.HasPrefix(name, h.prefix) {
		run, h.before = h.before, nil
	}
	h.mu.Unlock()
	if run != nil {
		run()
	}
}

func (h *hookMeta) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	h.fire(false, name)
	return h.MetaStore.GetMeta(ctx, name)
}

func (h *hookMeta) PutMeta(ctx context.Context, name string, value []byte, version int64) (int64, error) {
	h.fire(true, name)
	return h.MetaStore.PutMeta(ctx, name, value, version)
}

// TestTransmitter_StreamChangeRacingQueuedSET: Send reads a poll stream,
// then queues its SET. A switch to push (which moves the queue to the
// outbox), a disable (which empties it) or a delete made in between,
// whether before Send reads the queue or between that read and its write,
// does not leave the SET in a queue: switched to push, Send pushes it;
// disabled or deleted, Send ends it, and a stream enabled again hands out
// none of it (a disabled stream drops its SETs, SSF 1.0 §8.1.2). Whether
// the SET makes the queue's document (the stream's first) or finds it
// (emptied by a poll before), on each store.
func TestTransmitter_StreamChangeRacingQueuedSET(t *testing.T) {
	tests := []struct {
		name   string
		onPut  bool   // the change comes between Send's read of the queue and its write; else before the read
		change string // push, disable or delete
	}{
		{"switch to push before the queue read", false, "push"},
		{"switch to push before the queue write", true, "push"},
		{"disable before the queue read", false, "disable"},
		{"disable before the queue write", true, "disable"},
		{"delete before the queue write", true, "delete"},
	}
	stores := append([]realStore{memStore}, realStores(t)...)
	for _, rs := range stores {
		for _, deletes := range []bool{false, true} {
			for _, queueExists := range []bool{false, true} {
				for _, tt := range tests {
					name := rs.name + "/" + tt.name
					if queueExists {
						name += ", queue document made before"
					}
					if deletes {
						name += ", store deletes documents"
					}
					t.Run(name, func(t *testing.T) {
						st, _ := rs.open(t)
						streamChangeRacingQueuedSET(t, st, deletes, queueExists, tt.onPut, tt.change)
					})
				}
			}
		}
	}
}

// hookDeleter is hookMeta on a store that deletes documents; a delete
// counts as a write.
type hookDeleter struct {
	*hookMeta
	del sessiond.MetaDeleter
}

func (h hookDeleter) DeleteMeta(ctx context.Context, name string, version int64) error {
	h.fire(true, name)
	return h.del.DeleteMeta(ctx, name, version)
}

// streamChangeRacingQueuedSET plays one race. deletes: the transmitter's
// store is a MetaDeleter, so the queue of a deleted stream must be gone at
// the end; otherwise, and for a stream disabled or switched to push (which
// may queue again under the same name), only empty.
func streamChangeRacingQueuedSET(t *testing.T, st txStore, deletes, queueExists, onPut bool, change string) {
	ctx := context.Background()
	rcv, pushed := jtiServer(t)
	var hm *hookMeta
	tx, srv, _ := newTransmitterServerWith(t, func(o *ssf.TransmitterOptions) {
		hm = &hookMeta{MetaStore: st}
		o.Meta, o.Outbox = hm, st
		if deletes {
			o.Meta = hookDeleter{hm, st.(sessiond.MetaDeleter)}
		}
	})
	id := createStream(t, srv, `{"delivery":{"method":"urn:ietf:rfc:8936"}}`)
	if queueExists { // a SET queued and acknowledged: the document stays, empty
		ds, err := tx.Deliveries(ctx, revokedEvent("evt_before"))
		if err != nil || len(ds) != 1 {
			t.Fatalf("Deliveries = %v, %v", ds, err)
		}
		if _, err := tx.Send(ctx, ds[0]); err != nil {
			t.Fatal(err)
		}
		ack := `{"returnImmediately":true,"ack":["` + strings.TrimPrefix(ds[0].ID, "ssf_") + `"]}`
		if code := txCall(t, http.MethodPost, srv.URL+ssf.PathPoll+id, "key-a", ack, nil); code != http.StatusOK {
			t.Fatalf("poll = %d", code)
		}
		if b, _, err := st.GetMeta(ctx, "ssf.poll."+id); err != nil || !strings.Contains(string(b), `"sets":[]`) {
			t.Fatalf("queue after the acknowledgement = %s, %v; want an empty document", b, err)
		}
	}
	ds, err := tx.Deliveries(ctx, revokedEvent("evt_race"))
	if err != nil || len(ds) != 1 {
		t.Fatalf("Deliveries = %v, %v", ds, err)
	}
	hm.arm(onPut, "ssf.poll.", func() {
		switch change {
		case "push":
			body := `{"stream_id":"` + id + `","delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"` + rcv.URL + `"}}`
			if code := txCall(t, http.MethodPatch, srv.URL+ssf.PathStreams, "key-a", body, nil); code != http.StatusOK {
				t.Errorf("PATCH to push = %d", code)
			}
		case "disable":
			setStatus(t, srv, id, ssf.StatusDisabled)
		case "delete":
			if code := txCall(t, http.MethodDelete, srv.URL+ssf.PathStreams+"?stream_id="+id, "key-a", "", nil); code != http.StatusNoContent {
				t.Errorf("DELETE = %d", code)
			}
		}
	})
	permanent, err := tx.Send(ctx, ds[0])
	if change != "push" {
		if !permanent || err == nil {
			t.Errorf("Send to a stream %sd meanwhile = %v, %v; want a permanent error", change, permanent, err)
		}
		if change == "disable" {
			setStatus(t, srv, id, ssf.StatusEnabled)
			if got := pollNow(t, srv, id); len(got.Sets) != 0 {
				t.Errorf("after disable and enable, the poll hands out %d SET(s) queued during the disable; want none", len(got.Sets))
			}
		}
		var q struct {
			Sets []json.RawMessage `json:"sets"`
		}
		b, _, err := st.GetMeta(ctx, "ssf.poll."+id)
		if errors.Is(err, sessiond.ErrNotFound) {
			return // no queue at all
		}
		if deletes && change == "delete" {
			t.Errorf("poll queue after the %s = %s, %v; want it deleted", change, b, err)
		}
		if err != nil || json.Unmarshal(b, &q) != nil || len(q.Sets) != 0 {
			t.Errorf("poll queue after the %s = %s, %v; want it empty", change, b, err)
		}
		return
	}
	if err != nil || permanent {
		t.Fatalf("Send = %v, %v; want the SET pushed", permanent, err)
	}
	// What is left to deliver is in the outbox: the dispatcher's
	// passes push it, once in all.
	d, err := webhook.New(webhook.Options{Outbox: st, Senders: []webhook.Sender{tx}})
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := d.DeliverDue(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if got := pushed(); len(got) != 1 || "ssf_"+got[0] != ds[0].ID {
		t.Errorf("pushed %v; want the SET queued while the stream switched to push, once", got)
	}
}

// TestTransmitter_SigningHeldIsBounded: a SET no node could sign is held
// (TestTransmitter_SigningHeldIsNoAttempt), but not forever: one that a
// node that cannot sign claims 7 days after it was recorded ends dead,
// saying why, as a paused stream's does. Without the bound a deployment
// whose nodes all lost the ring kept every revocation as an outbox row
// rewritten each BaseBackoff, pending, for ever, and no dead-delivery
// alert said so. Dead is not lost: once a node signs again, the console's
// Retry pushes it, however old (the age ends only what cannot be signed).
// On every store: the wait's start rides in the last error the outbox
// keeps between claims.
func TestTransmitter_SigningHeldIsBounded(t *testing.T) {
	onEveryStore(t, signingHeldIsBounded)
}

func signingHeldIsBounded(t *testing.T, st txStore) {
	ctx := context.Background()
	h := newHeldSET(t, st, "evt_sign_bound", webhook.Options{})
	clock, ring, pushed := h.clock, h.ring, h.pushed
	ring.HoldSigning(errNoRing)
	for _, step := range []struct {
		advance time.Duration
		want    sessiond.DeliveryState
	}{
		{0, sessiond.DeliveryPending},
		{7*24*time.Hour - time.Minute, sessiond.DeliveryPending}, // a minute short of 7 days: held
		{time.Minute, sessiond.DeliveryDead},                     // 7 days
	} {
		clock.Advance(step.advance)
		h.deliver(t)
		if got, del := h.state(t); got != step.want || del.Attempts != 0 && got == sessiond.DeliveryPending {
			t.Fatalf("%v after the SET was recorded, signing held: %s (attempts %d, %q); want %s", clock.Now().Sub(h.del.CreatedAt), got, del.Attempts, del.LastError, step.want)
		}
	}
	if _, del := h.state(t); !strings.Contains(del.LastError, "held for 7 days") || !strings.Contains(del.LastError, "cannot sign") {
		t.Errorf("dead SET's last error = %q; want it to say it was held 7 days for want of a node that can sign", del.LastError)
	}
	if got := pushed(); len(got) != 0 {
		t.Fatalf("pushed %d SETs while no node could sign", len(got))
	}
	// Retried while a node that cannot sign is still about (a cluster
	// where not every node reads the ring yet): that node holds it for
	// another, as it would a new SET, instead of ending it dead at once
	// for an age it spent dead.
	if err := st.RetryDelivery(ctx, h.del.ID, clock.Now()); err != nil {
		t.Fatal(err)
	}
	h.deliver(t)
	if got, del := h.state(t); got != sessiond.DeliveryPending || del.Attempts != 0 {
		t.Fatalf("retried while this node still cannot sign: %s (attempts %d, %q); want pending, held", got, del.Attempts, del.LastError)
	}
	ring.HoldSigning(nil)
	clock.Advance(webhook.DefaultBaseBackoff)
	h.deliver(t)
	if got, del := h.state(t); got != sessiond.DeliveryDelivered || len(pushed()) != 1 {
		t.Errorf("retried once a node signs again: %s (%q), %d pushed; want delivered, 1 pushed", got, del.LastError, len(pushed()))
	}
}

// TestTransmitter_SigningHeldBoundsTheWait: the 7 days a SET may wait for
// a node that can sign count from when that wait began (the first hold of
// an unbroken run of them, which the held SET's last error carries), not
// from when it was recorded: a SET a paused stream held 6.99 days, or a
// receiver's outage kept, or that an operator retried after it ended dead,
// is held for another node as a new one is, not ended dead by the first
// node that cannot sign it, with an error saying it waited 7 days for a
// signer. A start this node's clock places in the future (another node's
// clock ahead) is taken as now, so it can neither end the SET at once nor
// hold it for ever. Each hold is as long again as the wait so far, up to
// a minute (the dispatcher makes it BaseBackoff at least).
func TestTransmitter_SigningHeldBoundsTheWait(t *testing.T) {
	ctx := context.Background()
	rcv, _ := jtiServer(t)
	// A node's clock in a zone other than UTC: the hold's text says UTC
	// (docs/shared-signals.md shows it), whatever the node's zone.
	now := time.Now().In(time.FixedZone("UTC+2", 2*60*60)).Truncate(time.Second)
	clock := sessiondtest.NewClock(now)
	ring, err := jwttoken.NewRing(clock.Now(), jwttoken.RingOptions{MaxTokenLifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tx, srv, _ := newTransmitterServerWith(t, func(o *ssf.TransmitterOptions) { o.Clock, o.Signer = clock, ring })
	createStream(t, srv, `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"`+rcv.URL+`"}}`)
	ds, err := tx.Deliveries(ctx, revokedEvent("evt_sign_wait"))
	if err != nil || len(ds) != 1 {
		t.Fatalf("Deliveries = %v, %v", ds, err)
	}
	ring.HoldSigning(fmt.Errorf("%w: no node can read the stored ring", sessiond.ErrStoreUnavailable))
	const day = 24 * time.Hour
	heldSince := func(at time.Time) string {
		return "SET held since " + at.UTC().Format(time.RFC3339) + ": this node cannot sign now: x"
	}
	for _, tc := range []struct {
		name      string
		age       time.Duration // since the outbox entry was made
		lastError string
		wantDead  bool
		wantSince time.Time     // the wait's start the hold carries on
		wantHold  time.Duration // HoldFor: as long again as it waited, up to a minute (the dispatcher holds BaseBackoff at least)
	}{
		{"new", 0, "", false, now, 0},
		{"recorded 30 days ago, never held", 30 * day, "", false, now, 0},
		{"paused 7 days less a minute, then enabled", 7*day + time.Minute, "stream paused: SET held since " + now.Add(-7*day+time.Minute).UTC().Format(time.RFC3339) + " until it is enabled", false, now, 0},
		{"a receiver away for 8 days", 8 * day, "push: connection refused", false, now, 0},
		{"retried after it ended dead", 8 * day, "SET held for 7 days (the most a SET waits for a node that can sign): this node cannot sign now: x", false, now, 0},
		{"held a second", 0, heldSince(now.Add(-time.Second)), false, now.Add(-time.Second), time.Second},
		{"held 5 seconds", 0, heldSince(now.Add(-5 * time.Second)), false, now.Add(-5 * time.Second), 5 * time.Second},
		{"held 2 minutes", 0, heldSince(now.Add(-2 * time.Minute)), false, now.Add(-2 * time.Minute), time.Minute},
		{"held a minute short of 7 days", 30 * day, heldSince(now.Add(-7*day + time.Minute)), false, now.Add(-7*day + time.Minute), time.Minute},
		{"held 7 days", 30 * day, heldSince(now.Add(-7 * day)), true, time.Time{}, 0},
		{"held 7 days, recorded as long ago", 7 * day, heldSince(now.Add(-7 * day)), true, time.Time{}, 0},
		{"held since a time in the future", 0, heldSince(now.Add(365 * day)), false, now, 0},
		{"held since an unreadable time", 0, "SET held since yesterday: this node cannot sign now: x", false, now, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			del := ds[0]
			del.CreatedAt, del.LastError = now.Add(-tc.age), tc.lastError
			permanent, err := tx.Send(ctx, del)
			h, held := errors.AsType[interface {
				error
				HoldFor() time.Duration
			}](err)
			switch {
			case tc.wantDead:
				if !permanent || held || err == nil || !strings.Contains(err.Error(), "held for 7 days") {
					t.Errorf("Send = %v, %v; want permanent, saying it was held 7 days", permanent, err)
				}
			case permanent || !held:
				t.Errorf("Send = %v, %v; want held (not permanent)", permanent, err)
			case !strings.HasPrefix(h.Error(), strings.TrimSuffix(heldSince(tc.wantSince), "x")):
				t.Errorf("held: %q; want it to start %q (the wait's start carried on)", err, strings.TrimSuffix(heldSince(tc.wantSince), "x"))
			case h.HoldFor() != tc.wantHold:
				t.Errorf("held for %v; want %v", h.HoldFor(), tc.wantHold)
			}
		})
	}
}

// TestTransmitter_SigningHeldBacksOff: a SET held because no node can
// sign it is offered again after a hold that grows with the wait, from the
// dispatcher's BaseBackoff (2 s) doubling up to a minute, each hold one
// store write: held every BaseBackoff, every pending SET was rewritten
// every 2 s by every node that could not sign, for up to the 7 days of
// maxSignHold (1,800 writes an hour per SET; now 66 in the first hour,
// then 60). A node that reads the ring again pushes within a minute. A
// hold is never shorter than the dispatcher's BaseBackoff: one set above
// a minute holds the SET that long each time (it was held a minute after
// the first hold, more often than the dispatcher was told to retry).
func TestTransmitter_SigningHeldBacksOff(t *testing.T) {
	const s = time.Second
	for _, tc := range []struct {
		name      string
		base      time.Duration // the dispatcher's BaseBackoff
		want      []time.Duration
		afterDays time.Duration // the hold 3 days on
	}{
		{"default BaseBackoff", 0, []time.Duration{2 * s, 2 * s, 4 * s, 8 * s, 16 * s, 32 * s, time.Minute, time.Minute}, time.Minute},
		{"BaseBackoff 10s", 10 * s, []time.Duration{10 * s, 10 * s, 20 * s, 40 * s, time.Minute, time.Minute}, time.Minute},
		{"BaseBackoff above a minute", 2 * time.Minute, []time.Duration{2 * time.Minute, 2 * time.Minute, 2 * time.Minute}, 2 * time.Minute},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			h := newHeldSET(t, memstore.New(), "evt_sign_backoff", webhook.Options{BaseBackoff: tc.base})
			h.ring.HoldSigning(errNoRing)
			// hold delivers what is due and returns how long the SET is held.
			hold := func() time.Duration {
				t.Helper()
				if n, err := h.d.DeliverDue(ctx); err != nil || n != 1 {
					t.Fatalf("DeliverDue = %d, %v; want the held SET claimed", n, err)
				}
				l, err := h.st.ListDeliveries(ctx, sessiond.DeliveryPending, 10)
				if err != nil || len(l) != 1 || l[0].Attempts != 0 || !strings.HasPrefix(l[0].LastError, "SET held since ") {
					t.Fatalf("after a hold: %v, %v; want the SET pending, no attempt, held", l, err)
				}
				return l[0].NextAttemptAt.Sub(h.clock.Now())
			}
			var got []time.Duration
			for range tc.want {
				d := hold()
				got = append(got, d)
				h.clock.Advance(d)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("holds of a SET no node can sign = %v; want %v", got, tc.want)
			}
			// Days on, the hold stays where it got to: a node that reads
			// the ring again pushes within one.
			h.clock.Advance(3 * 24 * time.Hour)
			if d := hold(); d != tc.afterDays {
				t.Fatalf("hold after 3 days = %v; want %v", d, tc.afterDays)
			}
			h.ring.HoldSigning(nil)
			h.clock.Advance(tc.afterDays)
			h.deliver(t)
			if n := len(h.pushed()); n != 1 {
				t.Errorf("%v after the ring signs again: %d SETs pushed; want 1", tc.afterDays, n)
			}
		})
	}
}

// errNoRing is a key ring's answer while no node can read the stored ring
// (jwttoken.KeyRing.HoldSigning).
var errNoRing = fmt.Errorf("%w: no node can read the stored ring", sessiond.ErrStoreUnavailable)

// heldSET is one SET recorded for a push stream on st, with the clock,
// key ring and dispatcher that deliver it, for the hold tests.
type heldSET struct {
	clock  *sessiondtest.Clock
	ring   *jwttoken.KeyRing
	srv    *httptest.Server // the transmitter's API
	stream string           // the stream's ID
	st     txStore
	tx     *ssf.Transmitter
	d      *webhook.Dispatcher
	del    sessiond.Delivery // as recorded
	pushed func() []string   // the jtis the receiver was sent
}

// newHeldSET records a SET for event id on a new push stream kept in st,
// due now, on a clock on a whole second (a hold's start is carried to the
// second) in a zone other than UTC (a hold's text says UTC, whatever the
// node's zone); opts (Outbox, Senders and Clock filled in) make its
// dispatcher. The ring signs until the test holds it.
func newHeldSET(t *testing.T, st txStore, id string, opts webhook.Options) heldSET {
	t.Helper()
	ctx := context.Background()
	rcv, pushed := jtiServer(t)
	clock := sessiondtest.NewClock(time.Now().In(time.FixedZone("UTC+2", 2*60*60)).Truncate(time.Second))
	ring, err := jwttoken.NewRing(clock.Now(), jwttoken.RingOptions{MaxTokenLifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tx, srv, _ := newTransmitterServerWith(t, func(o *ssf.TransmitterOptions) {
		o.Clock, o.Signer, o.Meta, o.Outbox = clock, ring, st, st
	})
	stream := createStream(t, srv, `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"`+rcv.URL+`"}}`)
	ds, err := tx.Deliveries(ctx, revokedEvent(id))
	if err != nil || len(ds) != 1 {
		t.Fatalf("Deliveries = %v, %v", ds, err)
	}
	ds[0].CreatedAt, ds[0].NextAttemptAt = clock.Now(), clock.Now()
	if err := st.EnqueueDeliveries(ctx, ds...); err != nil {
		t.Fatal(err)
	}
	opts.Outbox, opts.Senders, opts.Clock = st, []webhook.Sender{tx}, clock
	d, err := webhook.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return heldSET{clock: clock, ring: ring, srv: srv, stream: stream, st: st, tx: tx, d: d, del: ds[0], pushed: pushed}
}

// deliver makes one pass of the dispatcher.
func (h heldSET) deliver(t *testing.T) {
	t.Helper()
	if _, err := h.d.DeliverDue(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// state is where the SET stands in the outbox, and the SET as stored.
func (h heldSET) state(t *testing.T) (sessiond.DeliveryState, sessiond.Delivery) {
	t.Helper()
	for _, s := range []sessiond.DeliveryState{sessiond.DeliveryPending, sessiond.DeliveryDead, sessiond.DeliveryDelivered} {
		l, err := h.st.ListDeliveries(context.Background(), s, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(l) == 1 {
			return s, l[0]
		}
	}
	t.Fatal("the SET is in no state")
	return "", sessiond.Delivery{}
}
