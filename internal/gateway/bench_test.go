package gateway_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sessiond/sessiond/anomaly"
	"github.com/sessiond/sessiond/httpsession"
)

// BenchmarkCheck is GET /sessiond/check with a valid cookie, in process
// (httptest recorder, no network), beside a bare handler.
func BenchmarkCheck(b *testing.B) {
	b.Run("anomaly-rules", func(b *testing.B) {
		d, err := anomaly.New(anomaly.Options{Actions: map[anomaly.Rule]anomaly.Action{
			anomaly.RuleIPChange: anomaly.ActionLog, anomaly.RuleUserAgentChange: anomaly.ActionStepUp, anomaly.RuleDistinctIPs: anomaly.ActionAlert}})
		if err != nil {
			b.Fatal(err)
		}
		benchCheck(b, envOptions{anomalies: d})
	})
	b.Run("no-rules", func(b *testing.B) { benchCheck(b, envOptions{}) })
}

func benchCheck(b *testing.B, eo envOptions) {
	e := newEnv(&testing.T{}, eo)
	iss, _ := e.m.Create(b.Context(), "alice", sessiondCreate())
	req := httptest.NewRequest(http.MethodGet, "/sessiond/check", nil)
	req.RemoteAddr = "127.0.0.1:5555"
	req.Header.Set("User-Agent", "wrk")
	req.AddCookie(&http.Cookie{Name: httpsession.DefaultCookieName, Value: string(iss.AccessToken)})
	b.Run("check", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			e.g.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatal(rec.Code)
			}
		}
	})
	b.Run("bare", func(b *testing.B) {
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
		b.ReportAllocs()
		for b.Loop() {
			h.ServeHTTP(httptest.NewRecorder(), req)
		}
	})
}
