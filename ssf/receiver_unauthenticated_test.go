package ssf_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
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

// TestUnauthenticatedPushesBounded: a push whose sender is not
// authenticated (a wrong bearer token, a body that is no SET the
// transmitter signed) costs its sender nothing, so the event log keeps a
// bounded number of them a minute, whatever the number sent, and the next
// one recorded counts those left out. SETs the transmitter signed, refused
// ones included, are still recorded after such a flood: they have a budget
// of their own (TestRefusedSignedPushesBounded).
func TestUnauthenticatedPushesBounded(t *testing.T) {
	ctx := context.Background()
	const token = "s3cret-push-token-0123456789abcdef"
	// The budget is per minute: 60 events at most.
	const flood, budget = 300, 60
	forger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		bearer string // configured
		auth   string // sent
		body   func(tr *transmitter, i int) string
	}{
		{"wrong bearer token", token, "Bearer nope", func(tr *transmitter, i int) string {
			return sign(t, tr.key, jose.ES256, "tx-1", "secevent+jwt", claims(fmt.Sprintf("w-%d", i), time.Now(), ssf.RISCAccountPurged, map[string]any{"subject": emailSubject("a@example.com")}))
		}},
		{"not a JWS", "", "", func(*transmitter, int) string { return "hello" }},
		{"forged signature", "", "", func(_ *transmitter, i int) string {
			return sign(t, forger, jose.ES256, "tx-1", "secevent+jwt", claims(fmt.Sprintf("f-%d", i), time.Now(), ssf.RISCAccountPurged, map[string]any{"subject": emailSubject("a@example.com")}))
		}},
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
			push := func(body, auth string) int {
				req := httptest.NewRequest(http.MethodPost, "/ssf/push", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/secevent+jwt")
				if auth != "" {
					req.Header.Set("Authorization", auth)
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
			for i := range flood {
				if code := push(tc.body(tr, i), tc.auth); code/100 != 4 {
					t.Fatalf("push %d = %d; want refused", i, code)
				}
			}
			if got := len(events()); got != budget {
				t.Fatalf("%d unauthenticated pushes recorded %d events; want %d (a minute's budget)", flood, got, budget)
			}
			// The transmitter's own SETs are recorded, refused ones (a
			// wrong audience) included, though the unsigned budget is spent.
			auth := ""
			if tc.bearer != "" {
				auth = "Bearer " + token
			}
			c := claims("aud", clock.Now(), ssf.RISCAccountPurged, map[string]any{"subject": emailSubject("a@example.com")})
			c["aud"] = "https://other.example/"
			if code := push(sign(t, tr.key, jose.ES256, "tx-1", "secevent+jwt", c), auth); code != http.StatusBadRequest {
				t.Fatalf("signed SET for another audience = %d; want 400", code)
			}
			ok := sign(t, tr.key, jose.ES256, "tx-1", "secevent+jwt", claims("ok", clock.Now(), ssf.RISCAccountPurged, map[string]any{"subject": emailSubject("a@example.com")}))
			if code := push(ok, auth); code != http.StatusAccepted {
				t.Fatalf("signed SET = %d; want 202", code)
			}
			evs := events()
			var signed []sessiond.Event
			for _, e := range evs {
				if e.Details["outcome"] == "accepted" || e.Details["err"] == ssf.CodeInvalidAudience {
					signed = append(signed, e)
				}
			}
			if len(evs) != budget+2 || len(signed) != 2 {
				t.Fatalf("%d events after two signed SETs, %d of them those SETs; want %d and 2", len(evs), len(signed), budget+2)
			}
			// The first event after the flood counts what it left out.
			if n := fmt.Sprint(signed[0].Details["unreported"], signed[1].Details["unreported"]); n != fmt.Sprint(flood-budget, " <nil>") && n != fmt.Sprint("<nil> ", flood-budget) {
				t.Errorf("the events after the flood count %s unreported pushes; want %d once", n, flood-budget)
			}
			// A minute later the budget is back.
			clock.Advance(time.Minute)
			push(tc.body(tr, flood), tc.auth)
			if got := len(events()); got != budget+3 {
				t.Errorf("%d events a minute later; want %d", got, budget+3)
			}
		})
	}
}
