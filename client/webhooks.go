package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/sessiond/sessiond/apitype"
)

// Delivery is a webhook delivery as the server reports it.
type Delivery = apitype.Delivery

// ListDeliveries returns webhook deliveries in state (pending, delivered,
// dead), newest first.
func (c *Client) ListDeliveries(ctx context.Context, state string, limit int) ([]Delivery, error) {
	v := url.Values{"state": {state}}
	if limit > 0 {
		v.Set("limit", strconv.Itoa(limit))
	}
	var out apitype.DeliveryPage
	if err := c.do(ctx, "list deliveries", http.MethodGet, "/v1/webhooks/deliveries", v, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return out.Deliveries, nil
}
