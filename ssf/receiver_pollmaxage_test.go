package ssf_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/ssf"
)

// TestPoll_AcceptsSETsQueuedThroughAnOutage: a transmitter signs a SET when
// the event happens and queues it until polled (RFC 8936). After an outage
// the poll hands over SETs signed long ago: they are acted on (within
// PollMaxAge), their replays stay refused for that whole window, and a
// pushed SET of the same age is still refused as stale.
func TestPoll_AcceptsSETsQueuedThroughAnOutage(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	clock := sessiondtest.NewClock(time.Now())
	rc, err := ssf.New(ssf.Options{Name: "idp", Issuer: testIss, Audience: testAud, JWKSURL: f.tr.jwks.URL,
		Subject: ssf.SubjectRule{Format: ssf.FormatEmail, Template: "user:{value}"}, Revoker: f.mgr,
		Replay: f.store, Events: eventLog{f.store}, Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	pt, srv := newPollTransmitter(t)
	p, err := rc.NewPoller(ssf.PollOptions{URL: srv.URL, Authorization: "Bearer poll-secret"})
	if err != nil {
		t.Fatal(err)
	}
	drain := func() {
		t.Helper()
		for i := 0; ; i++ {
			more, err := p.Poll(ctx)
			if err != nil {
				t.Fatalf("poll: %v", err)
			}
			if !more {
				return
			}
			if i > 10 {
				t.Fatal("poller never ran out of SETs")
			}
		}
	}
	es := func(c map[string]any) string { return sign(t, f.tr.key, jose.ES256, "tx-1", "secevent+jwt", c) }
	disabled := func(jti, email string, iat time.Time) string {
		return es(claims(jti, iat, ssf.RISCAccountDisabled, map[string]any{"subject": emailSubject(email)}))
	}

	alice, _ := f.mgr.Create(ctx, "user:alice@example.com", sessiond.CreateOptions{})
	carol, _ := f.mgr.Create(ctx, "user:carol@example.com", sessiond.CreateOptions{})
	hourOld := disabled("hour-old", "alice@example.com", clock.Now().Add(-time.Hour))
	pt.add("hour-old", hourOld)
	// Past the poll window: refused as stale, reported in setErrs.
	pt.add("too-old", disabled("too-old", "carol@example.com", clock.Now().Add(-ssf.DefaultPollMaxAge-time.Hour)))
	drain()
	if _, err := f.mgr.Get(ctx, alice.Session.ID); err == nil {
		t.Error("a polled SET signed an hour ago did not end alice's session")
	}
	if _, err := f.mgr.Get(ctx, carol.Session.ID); err != nil {
		t.Errorf("a polled SET older than the poll window ended carol's session: %v", err)
	}
	pt.mu.Lock()
	acked, tooOld := append([]string(nil), pt.acked...), pt.errs["too-old"]
	pt.mu.Unlock()
	if !sameSet(acked, []string{"hour-old"}) {
		t.Errorf("acked %v; want [hour-old]", acked)
	}
	if tooOld["err"] != ssf.CodeInvalidRequest {
		t.Errorf("setErrs[too-old] = %v; want %s (stale)", tooOld, ssf.CodeInvalidRequest)
	}

	// Two days on, still inside the poll window, the same SET comes again
	// (a transmitter that lost the ack, a copy replayed): refused as a
	// replay, and alice's new session lives.
	clock.Advance(48 * time.Hour)
	alice2, _ := f.mgr.Create(ctx, "user:alice@example.com", sessiond.CreateOptions{})
	pt.add("hour-old-again", hourOld)
	drain()
	if _, err := f.mgr.Get(ctx, alice2.Session.ID); err != nil {
		t.Errorf("a replayed polled SET ended alice's new session: %v", err)
	}
	var replays int
	for _, e := range f.setEvents(t) {
		if e.Details["reason"] == "jti already received" {
			replays++
		}
	}
	if replays != 1 {
		t.Errorf("%d SETs recorded as replays; want 1", replays)
	}

	// Pushed, a SET signed an hour ago is still stale: only the poll
	// endpoint the operator configured hands over old SETs.
	bob, _ := f.mgr.Create(ctx, "user:bob@example.com", sessiond.CreateOptions{})
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(disabled("pushed-hour-old", "bob@example.com", clock.Now().Add(-time.Hour))))
	req.Header.Set("Content-Type", "application/secevent+jwt")
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, req)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), ssf.CodeInvalidRequest) {
		t.Errorf("push of a SET signed an hour ago = %d %s; want 400 invalid_request", w.Code, w.Body)
	}
	if _, err := f.mgr.Get(ctx, bob.Session.ID); err != nil {
		t.Errorf("a stale pushed SET ended bob's session: %v", err)
	}
}
