package httpapi

import (
	"fmt"
	"net/http"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
)

// IncidentRequest is the body of POST /v1/revocations, the kill switch.
type IncidentRequest = apitype.Incident

// POST /v1/revocations
func (s *server) incident(w http.ResponseWriter, r *http.Request) error {
	if s.incidentFn == nil {
		return notFound("the kill switch is not configured")
	}
	var req IncidentRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	if !req.All && len(req.Subjects) == 0 && req.IssuedBefore.IsZero() {
		return &sessiond.ArgumentError{Field: "all", Msg: "set all, subjects or issued_before"}
	}
	if len(req.Subjects) > 10000 {
		return &sessiond.ArgumentError{Field: "subjects", Msg: "at most 10000 per request"}
	}
	for i, subject := range req.Subjects {
		clean, err := cleanSubject(fmt.Sprintf("subjects[%d]", i), subject)
		if err != nil {
			return err
		}
		req.Subjects[i] = clean
	}
	if len(req.Reason) > 256 {
		return &sessiond.ArgumentError{Field: "reason", Msg: "at most 256 bytes"}
	}
	n, err := s.incidentFn(r.Context(), req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, "application/json", apitype.RevokedCount{Revoked: n})
	return nil
}
