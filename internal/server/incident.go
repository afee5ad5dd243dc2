package server

import (
	"context"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/jwttoken/signing"
)

// incident is the kill switch behind POST /v1/revocations. The signing
// keys are retired first, when asked: a leaked key must stop verifying at
// once, not after a bulk write of minutes, and whether or not that write
// then succeeds. The audit event is recorded either way, with the error.
func incident(mgr *sessiond.Manager, keys *signing.Keys, events *fanout) func(context.Context, httpapi.IncidentRequest) (int, error) {
	return func(ctx context.Context, req httpapi.IncidentRequest) (int, error) {
		if req.RotateKeys && keys != nil {
			if err := keys.RetireAll(ctx); err != nil {
				return 0, err
			}
			events.emit(ctx, sessiond.Event{Type: EventKeysRotated,
				Details: map[string]any{"retire_all": true, "reason": req.Reason}})
		}
		f := sessiond.RevokeFilter{All: req.All, Subjects: req.Subjects, IssuedBefore: req.IssuedBefore}
		n, err := mgr.RevokeMatching(ctx, f, sessiond.ReasonIncident, req.Notify)
		// The operator's reason is recorded whatever else was asked.
		details := map[string]any{"reason": req.Reason, "revoked": n, "all": req.All, "subjects": len(req.Subjects), "rotate_keys": req.RotateKeys}
		if !req.IssuedBefore.IsZero() {
			details["issued_before"] = req.IssuedBefore.UTC().Format(time.RFC3339)
		}
		if err != nil {
			// The watermark may already refuse every matching token: say so
			// in the audit trail, and that the durable record is not done
			// (running it again completes it).
			details["error"] = err.Error()
		}
		events.emit(ctx, sessiond.Event{Type: EventIncident, Details: details})
		return n, err
	}
}
