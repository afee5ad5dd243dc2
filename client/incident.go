package client

import (
	"context"
	"net/http"

	"github.com/sessiond/sessiond/apitype"
)

// Incident is the kill switch's request: see apitype.Incident.
type Incident = apitype.Incident

// RevokeIncident runs the kill switch and returns how many sessions it
// revoked.
func (c *Client) RevokeIncident(ctx context.Context, in Incident) (int, error) {
	var out apitype.RevokedCount
	if err := c.do(ctx, "incident revoke", http.MethodPost, "/v1/revocations", nil, jsonBody(in), &out, http.StatusOK); err != nil {
		return 0, err
	}
	return out.Revoked, nil
}
