package apitype

import "time"

// Delivery is one webhook delivery (GET /v1/webhooks/deliveries).
type Delivery struct {
	ID            string    `json:"id"`
	Endpoint      string    `json:"endpoint"`
	EventID       string    `json:"event_id"`
	State         string    `json:"state"`
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	LastError     string    `json:"last_error"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// DeliveryPage is the answer of GET /v1/webhooks/deliveries.
type DeliveryPage struct {
	Deliveries []Delivery `json:"deliveries"`
}
