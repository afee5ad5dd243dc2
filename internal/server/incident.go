package server

import (
	"context"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/jwttoken/signing"
)

// incident is the kill switch behind POST /v1/revocations.
func incident(mgr *sessiond.Manager, keys *signing.Keys, events *fanout) func(context.Context, httpapi.IncidentRequest) (int, error) {
	return func(ctx context.Context, req httpapi.IncidentRequest) (int, error) {
		reason := sessiond.ReasonIncident
		f := sessiond.RevokeFilter{All: req.All, Subjects: req.Subjects, IssuedBefore: req.IssuedBefore}
		n, err := mgr.RevokeMatching(ctx, f, reason, req.Notify)
		if err != nil {
			return 0, err
		}
		// The operator's reason is recorded whatever else was asked.
		details := map[string]any{"reason": req.Reason, "revoked": n, "all": req.All, "subjects": len(req.Subjects), "rotate_keys": req.RotateKeys}
		if !req.IssuedBefore.IsZero() {
			details["issued_before"] = req.IssuedBefore.UTC().Format(time.RFC3339)
		}
		events.emit(ctx, sessiond.Event{Type: EventIncident, Details: details})
		if req.RotateKeys && keys != nil {
			if err := keys.RetireAll(ctx); err != nil {
				return n, err
			}
			events.emit(ctx, sessiond.Event{Type: EventKeysRotated,
				Details: map[string]any{"retire_all": true, "reason": req.Reason}})
		}
		return n, nil
	}
}
