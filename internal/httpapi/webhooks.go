package httpapi

import (
	"net/http"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
)

// GET /v1/webhooks/deliveries
func (s *server) listDeliveries(w http.ResponseWriter, r *http.Request) error {
	if s.outbox == nil {
		return notFound("no webhook outbox")
	}
	q := r.URL.Query()
	v, err := oneValue(q, "state")
	if err != nil {
		return err
	}
	state := sessiond.DeliveryState(v)
	if state == "" {
		state = sessiond.DeliveryDead
	}
	if state.Validate() != nil {
		return badRequest("state must be pending, delivered or dead")
	}
	limit, err := queryLimit(q, 100)
	if err != nil {
		return err
	}
	ds, err := s.outbox.ListDeliveries(r.Context(), state, limit)
	if err := s.storeCall("list_deliveries", err); err != nil {
		return err
	}
	out := apitype.DeliveryPage{Deliveries: make([]apitype.Delivery, len(ds))}
	for i, d := range ds {
		out.Deliveries[i] = apitype.Delivery{ID: d.ID, Endpoint: d.Endpoint, EventID: d.EventID, State: string(d.State),
			Attempts: d.Attempts, NextAttemptAt: d.NextAttemptAt.UTC(), LastError: d.LastError,
			CreatedAt: d.CreatedAt.UTC(), UpdatedAt: d.UpdatedAt.UTC()}
	}
	writeJSON(w, http.StatusOK, "application/json", out)
	return nil
}
