package ssf_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/ssf"
)

// pollTransmitter serves queued SETs at an RFC 8936 poll endpoint, written
// from the RFC: it removes acknowledged SETs, keeps setErrs, and hands out
// at most maxEvents with moreAvailable.
type pollTransmitter struct {
	mu      sync.Mutex
	queue   map[string]string // jti → SET
	order   []string
	acked   []string
	errs    map[string]map[string]string
	polls   int
	badAuth int
}

func newPollTransmitter(t *testing.T) (*pollTransmitter, *httptest.Server) {
	pt := &pollTransmitter{queue: map[string]string{}, errs: map[string]map[string]string{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pt.mu.Lock()
		defer pt.mu.Unlock()
		if r.Method != http.MethodPost || r.Header.Get("Authorization") != "Bearer poll-secret" {
			pt.badAuth++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var req struct {
			Ack               []string                     `json:"ack"`
			SetErrs           map[string]map[string]string `json:"setErrs"`
			MaxEvents         *int                         `json:"maxEvents"`
			ReturnImmediately bool                         `json:"returnImmediately"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		pt.polls++
		for _, j := range req.Ack {
			pt.acked = append(pt.acked, j)
			delete(pt.queue, j)
		}
		for j, e := range req.SetErrs {
			pt.errs[j] = e
			delete(pt.queue, j)
		}
		max := 10
		if req.MaxEvents != nil {
			max = *req.MaxEvents
		}
		sets := map[string]string{}
		for _, j := range pt.order {
			if s, ok := pt.queue[j]; ok && len(sets) < max {
				sets[j] = s
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"sets": sets, "moreAvailable": len(pt.queue) > len(sets)})
	}))
	t.Cleanup(srv.Close)
	return pt, srv
}

func (pt *pollTransmitter) add(jti, set string) {
	pt.mu.Lock()
	defer pt.mu.Unlock()
	pt.queue[jti] = set
	pt.order = append(pt.order, jti)
}

// TestPollRevokesAndRefuses: sessiond as a polling receiver acts on valid
// SETs, acknowledges them, reports every refused one with its RFC 8935
// code in setErrs, records each, and a refused SET changes nothing.
func TestPollRevokesAndRefuses(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	pt, srv := newPollTransmitter(t)
	p, err := f.rc.NewPoller(ssf.PollOptions{URL: srv.URL, Authorization: "Bearer poll-secret", MaxEvents: 3})
	if err != nil {
		t.Fatal(err)
	}
	alice1, _ := f.mgr.Create(ctx, "user:alice@example.com", sessiond.CreateOptions{})
	alice2, _ := f.mgr.Create(ctx, "user:alice@example.com", sessiond.CreateOptions{})
	bob, _ := f.mgr.Create(ctx, "user:bob@example.com", sessiond.CreateOptions{})
	carol, _ := f.mgr.Create(ctx, "user:carol@example.com", sessiond.CreateOptions{})
	es := func(c map[string]any) string { return sign(t, f.tr.key, jose.ES256, "tx-1", "secevent+jwt", c) }
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	carolDisabled := func(jti string) map[string]any {
		return claims(jti, f.now, ssf.RISCAccountDisabled, map[string]any{"subject": emailSubject("carol@example.com")})
	}
	with := func(c map[string]any, k string, v any) map[string]any { c[k] = v; return c }

	// Valid: one session of alice by CAEP session-revoked, all of bob's by
	// RISC account-disabled.
	pt.add("ok-session", es(claims("ok-session", f.now, ssf.CAEPSessionRevoked, map[string]any{"subject": map[string]any{"format": "complex",
		"user": emailSubject("alice@example.com"), "session": map[string]any{"format": "opaque", "id": string(alice1.Session.ID)}}})))
	pt.add("ok-bob", es(claims("ok-bob", f.now, ssf.RISCAccountDisabled, map[string]any{"subject": emailSubject("bob@example.com")})))
	// Refused: each would end carol's session if it were accepted.
	refused := map[string]string{
		"bad-sig":   sign(t, other, jose.ES256, "tx-1", "secevent+jwt", carolDisabled("bad-sig")),
		"wrong-aud": es(with(carolDisabled("wrong-aud"), "aud", "https://other.example/")),
		"stale":     es(with(carolDisabled("stale"), "iat", f.now.Add(-ssf.DefaultPollMaxAge-time.Hour).Unix())), // older than the poll window
		"unknown-event": es(claims("unknown-event", f.now, "https://schemas.openid.net/secevent/caep/event-type/token-claims-change",
			map[string]any{"subject": emailSubject("carol@example.com")})),
		"bad-subject": es(claims("bad-subject", f.now, ssf.RISCAccountDisabled, map[string]any{"subject": map[string]any{"format": "email", "email": "carol"}})),
	}
	wantCode := map[string]string{"bad-sig": ssf.CodeAuthenticationFailed, "wrong-aud": ssf.CodeInvalidAudience,
		"stale": ssf.CodeInvalidRequest, "unknown-event": ssf.CodeInvalidRequest, "bad-subject": ssf.CodeInvalidRequest}
	for _, j := range slices.Sorted(maps.Keys(refused)) {
		pt.add(j, refused[j])
	}

	for i := 0; ; i++ {
		more, err := p.Poll(ctx)
		if err != nil {
			t.Fatalf("poll %d: %v", i, err)
		}
		if !more {
			break
		}
		if i > 10 {
			t.Fatal("poller never ran out of SETs")
		}
	}
	// A copy of an acted-upon SET (same jti, signed again) comes later, as
	// when two nodes poll one stream: it is acknowledged, recorded as a
	// refused replay, and ends none of bob's new sessions.
	bob2, _ := f.mgr.Create(ctx, "user:bob@example.com", sessiond.CreateOptions{})
	pt.add("ok-bob-again", pt.queueCopy("ok-bob", es))
	for more := true; more; {
		if more, err = p.Poll(ctx); err != nil {
			t.Fatal(err)
		}
	}

	if _, err := f.mgr.Get(ctx, alice1.Session.ID); err == nil {
		t.Error("session named by session-revoked still live")
	}
	if _, err := f.mgr.Get(ctx, alice2.Session.ID); err != nil {
		t.Errorf("alice's other session ended: %v", err)
	}
	if _, err := f.mgr.Get(ctx, bob.Session.ID); err == nil {
		t.Error("bob's session survived account-disabled")
	}
	if _, err := f.mgr.Get(ctx, bob2.Session.ID); err != nil {
		t.Errorf("a replayed SET ended bob's new session: %v", err)
	}
	if _, err := f.mgr.Get(ctx, carol.Session.ID); err != nil {
		t.Errorf("a refused SET ended carol's session: %v", err)
	}
	pt.mu.Lock()
	defer pt.mu.Unlock()
	if len(pt.queue) != 0 || pt.badAuth != 0 {
		t.Errorf("left at the transmitter %v, bad auth %d; want every SET answered", slices.Collect(maps.Keys(pt.queue)), pt.badAuth)
	}
	if want := []string{"ok-bob", "ok-session", "ok-bob-again"}; !sameSet(pt.acked, want) {
		t.Errorf("acked %v; want %v", pt.acked, want)
	}
	for j, code := range wantCode {
		if pt.errs[j]["err"] != code || pt.errs[j]["description"] == "" {
			t.Errorf("setErrs[%s] = %v; want err %q with a description", j, pt.errs[j], code)
		}
	}
	var accepted, refusedN, replays int
	for _, e := range f.setEvents(t) {
		if e.Details["reason"] == "jti already received" {
			replays++
		}
		if e.Details["delivery"] != "poll" {
			t.Errorf("event %v; want delivery poll", e.Details)
		}
		switch e.Details["outcome"] {
		case "accepted":
			accepted++
		case "refused":
			refusedN++
		}
	}
	if accepted != 2 || refusedN != len(wantCode)+1 || replays != 1 {
		t.Errorf("events: %d accepted, %d refused (%d replays); want 2 and %d (1)", accepted, refusedN, replays, len(wantCode)+1)
	}
}

// queueCopy returns a SET with the same claims as the acknowledged one,
// signed again: a replay of its jti.
func (pt *pollTransmitter) queueCopy(jti string, es func(map[string]any) string) string {
	return es(claims(jti, time.Now(), ssf.RISCAccountDisabled, map[string]any{"subject": emailSubject("bob@example.com")}))
}

func sameSet(got, want []string) bool {
	g, w := slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	return slices.Equal(g, w)
}
