package apitype

import "time"

// Incident is the body of POST /v1/revocations, the kill switch: revoke
// everything (All), or the sessions of Subjects, created before
// IssuedBefore.
type Incident struct {
	All          bool      `json:"all,omitempty"`
	Subjects     []string  `json:"subjects,omitempty"`
	IssuedBefore time.Time `json:"issued_before,omitzero"`
	Reason       string    `json:"reason,omitempty"`
	RotateKeys   bool      `json:"rotate_keys,omitempty"`
	Notify       bool      `json:"notify,omitempty"`
}

// RevokedCount is the answer of the routes that revoke many sessions at
// once: POST /v1/revocations and revoking a subject's sessions.
type RevokedCount struct {
	Revoked int `json:"revoked"`
}
