package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sessiond/sessiond/apitype"
)

// Incident is the kill switch's request: see apitype.Incident.
type Incident = apitype.Incident

// IncidentTimeout is how long RevokeIncident waits for the answer at
// least, whatever the HTTP client's Timeout: a minute past the ten the
// server allows itself to answer. On millions of sessions the kill switch
// takes tens of seconds, more than the default 30-second timeout.
const IncidentTimeout = 11 * time.Minute

// RevokeIncident runs the kill switch and returns how many sessions it
// revoked. It waits up to IncidentTimeout, or until ctx ends. If it gives
// up after the server had the request, the server still finishes the
// revocation; running it again is harmless and reports the sessions that
// were left. When the server answers that it failed part way, it returns
// with the *Error how many sessions were revoked before the failure
// (Error.Revoked), which stay revoked.
func (c *Client) RevokeIncident(ctx context.Context, in Incident) (int, error) {
	var out revokedCount
	if err := c.sendWith(ctx, c.long, "incident revoke", http.MethodPost, "/v1/revocations", nil, jsonBody(in), &out, http.StatusOK, nil); err != nil {
		return revokedBefore(err), err
	}
	return out.get("incident revoke")
}

// revokedBefore is the count of sessions an *Error says a revocation that
// failed part way had revoked, 0 for any other error.
func revokedBefore(err error) int {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Revoked
	}
	return 0
}

// revokedCount is apitype.RevokedCount as read: an answer without its
// count is an error, not zero sessions revoked (an operator reading "0"
// after a kill switch would believe nothing was live).
type revokedCount struct {
	Revoked *int `json:"revoked"`
}

func (r revokedCount) get(op string) (int, error) {
	if r.Revoked == nil || *r.Revoked < 0 {
		return 0, fmt.Errorf("client: %s: the answer has no count of revoked sessions", op)
	}
	return *r.Revoked, nil
}
