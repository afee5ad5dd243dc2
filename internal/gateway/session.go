package gateway

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/httpsession"
)

// SessionInfo is the body of GET <prefix>/session: what the JS client may
// know about the session. Never a token.
type SessionInfo struct {
	Subject        string             `json:"subject"`
	SessionID      sessiond.SessionID `json:"session_id"`
	CreatedAt      time.Time          `json:"created_at"`
	ExpiresAt      time.Time          `json:"expires_at"`
	IdleExpiresAt  time.Time          `json:"idle_expires_at"`
	Persistent     bool               `json:"persistent"`
	Anomalies      []sessiond.Anomaly `json:"anomalies"`
	StepUpRequired bool               `json:"step_up_required"`
}

// session is GET <prefix>/session: 200 with a SessionInfo, or 401 (429
// past the failure limit, WithFailureLimit).
func (g *Gateway) session(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, "GET, HEAD")
		return
	}
	v, err := g.s.Inspect(r)
	switch {
	case httpsession.StoreFailure(err):
		g.log.ErrorContext(r.Context(), "gateway: session", "err", err)
		httpsession.WriteProblem(w, http.StatusServiceUnavailable, "store_unavailable", "Service unavailable", "the session store is unavailable; retry later")
		return
	case err != nil:
		if g.answeredOverLimit(w, r, err) {
			return
		}
		httpsession.WriteUnauthorized(w, r, err)
		return
	}
	out := SessionInfo{
		Subject: v.Session.Subject, SessionID: v.Session.ID,
		CreatedAt: v.Session.CreatedAt.UTC(), ExpiresAt: v.Session.ExpiresAt.UTC(), IdleExpiresAt: v.Session.IdleExpiresAt.UTC(),
		Persistent: v.Session.Persistent, Anomalies: v.Anomalies, StepUpRequired: v.StepUp,
	}
	if out.Anomalies == nil {
		out.Anomalies = []sessiond.Anomaly{}
	}
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}
