package ssf_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/ssf"
)

// TestRefusedSignedPushesBounded: whoever holds one SET the transmitter
// signed can push it again and again: refused as a replay while its jti is
// remembered, as stale after, and for the wrong audience when it was meant
// for another receiver. Without a bearer token to tell the transmitter
// from that holder, such refusals are recorded at most 60 a minute per
// receiver (a budget of their own: a flood of unsigned pushes cannot hide
// them), and the next event recorded counts those left out. When the
// receiver has a bearer token and the push carries it, the sender is the
// transmitter and every refusal is recorded.
func TestRefusedSignedPushesBounded(t *testing.T) {
	ctx := context.Background()
	const token = "s3cret-push-token-0123456789abcdef"
	const flood, budget = 200, 60
	for _, tc := range []struct {
		name   string
		bearer string // configured and sent
		set    func(tr *transmitter, now time.Time) map[string]any
		first  int // the status of the first push
		want   int // events for the flood, its first push included
	}{
		{"replayed", "", func(_ *transmitter, now time.Time) map[string]any {
			return claims("once", now, ssf.RISCAccountPurged, map[string]any{"subject": emailSubject("a@example.com")})
		}, http.StatusAccepted, 1 + budget},
		{"stale", "", func(_ *transmitter, now time.Time) map[string]any {
			return claims("stale", now.Add(-time.Hour), ssf.RISCAccountPurged, map[string]any{"subject": emailSubject("a@example.com")})
		}, http.StatusBadRequest, budget},
		{"for another receiver", "", func(_ *transmitter, now time.Time) map[string]any {
			c := claims("other", now, ssf.RISCAccountPurged, map[string]any{"subject": emailSubject("a@example.com")})
			c["aud"] = "https://other.example/"
			return c
		}, http.StatusBadRequest, budget},
		{"replayed with the bearer token", token, func(_ *transmitter, now time.Time) map[string]any {
			return claims("once", now, ssf.RISCAccountPurged, map[string]any{"subject": emailSubject("a@example.com")})
		}, http.StatusAccepted, flood},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := memstore.New()
			clock := sessiondtest.NewClock(time.Now())
			mgr, err := sessiond.New(ctx, sessiond.Options{Store: st, Strategy: sessiond.StrategyDatabase, Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = mgr.Close() })
			tr := newTransmitter(t)
			rc, err := ssf.New(ssf.Options{Name: "idp", Issuer: testIss, Audience: testAud, JWKSURL: tr.jwks.URL,
				Subject: ssf.SubjectRule{Format: ssf.FormatEmail}, Revoker: mgr, Replay: st, Events: eventLog{st},
				BearerToken: tc.bearer, Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			push := func(body string) int {
				req := httptest.NewRequest(http.MethodPost, "/ssf/push", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/secevent+jwt")
				if tc.bearer != "" {
					req.Header.Set("Authorization", "Bearer "+tc.bearer)
				}
				w := httptest.NewRecorder()
				rc.ServeHTTP(w, req)
				return w.Code
			}
			events := func() []sessiond.Event {
				evs, _, err := st.QueryEvents(ctx, sessiond.EventQuery{Type: ssf.EventSETReceived, Limit: sessiond.MaxEventLimit})
				if err != nil {
					t.Fatal(err)
				}
				return evs
			}
			set := sign(t, tr.key, jose.ES256, "tx-1", "secevent+jwt", tc.set(tr, clock.Now()))
			for i := range flood {
				want := http.StatusBadRequest
				if i == 0 {
					want = tc.first
				}
				if code := push(set); code != want {
					t.Fatalf("push %d = %d; want %d", i, code, want)
				}
			}
			if got := len(events()); got != tc.want {
				t.Fatalf("%d pushes of one SET recorded %d events; want %d", flood, got, tc.want)
			}
			// The next SET accepted is recorded, and counts those left out.
			ok := sign(t, tr.key, jose.ES256, "tx-1", "secevent+jwt", claims("ok", clock.Now(), ssf.RISCAccountPurged, map[string]any{"subject": emailSubject("a@example.com")}))
			if code := push(ok); code != http.StatusAccepted {
				t.Fatalf("a new SET = %d; want 202", code)
			}
			evs := events()
			var last sessiond.Event
			for _, e := range evs {
				if e.Details["jti"] == "ok" {
					last = e
				}
			}
			wantUnreported := "<nil>" // none left out
			if tc.want < flood {
				wantUnreported = fmt.Sprint(flood - tc.want)
			}
			if got := fmt.Sprint(last.Details["unreported"]); got != wantUnreported {
				t.Errorf("the event after the flood counts %s unreported pushes; want %s", got, wantUnreported)
			}
			// A minute later the budget is back.
			clock.Advance(time.Minute)
			before := len(evs)
			push(set)
			if got := len(events()); got != before+1 {
				t.Errorf("%d events a minute later; want %d", got, before+1)
			}
		})
	}
}
