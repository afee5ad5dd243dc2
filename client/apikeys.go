package client

import (
	"context"
	"net/http"
	"time"

	"github.com/sessiond/sessiond"
)

// APIKey is an API key as the server shows it: never its secret.
type APIKey struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Scopes    []string   `json:"scopes"` // verify, sessions:read, sessions:write, events:read, ssf, admin
	CreatedAt time.Time  `json:"created_at"`
	RevokedAt *time.Time `json:"revoked_at"`
}

// ListAPIKeys returns every API key, revoked ones included (admin scope).
func (c *Client) ListAPIKeys(ctx context.Context) ([]APIKey, error) {
	var out struct {
		Keys []APIKey `json:"keys"`
	}
	if err := c.do(ctx, "list API keys", http.MethodGet, "/v1/api-keys", nil, nil, &out, http.StatusOK); err != nil {
		return nil, err
	}
	return out.Keys, nil
}

// CreateAPIKey creates a key named name with scopes (none: the server's
// default, verify only) and returns it with its secret, which is shown
// this once (admin scope).
func (c *Client) CreateAPIKey(ctx context.Context, name string, scopes ...string) (*APIKey, sessiond.Secret, error) {
	in := struct {
		Name   string   `json:"name"`
		Scopes []string `json:"scopes,omitempty"`
	}{name, scopes}
	var out struct {
		Key    APIKey `json:"key"`
		Secret string `json:"secret"`
	}
	if err := c.do(ctx, "create API key", http.MethodPost, "/v1/api-keys", nil, jsonBody(in), &out, http.StatusCreated); err != nil {
		return nil, "", err
	}
	return &out.Key, sessiond.Secret(out.Secret), nil
}

// SetAPIKeyScopes replaces the scopes of key id (admin scope).
func (c *Client) SetAPIKeyScopes(ctx context.Context, id string, scopes ...string) (*APIKey, error) {
	in := struct {
		Scopes []string `json:"scopes"`
	}{scopes}
	var out APIKey
	if err := c.do(ctx, "set API key scopes", http.MethodPut, "/v1/api-keys/"+pathSegment(id)+"/scopes", nil, jsonBody(in), &out, http.StatusOK); err != nil {
		return nil, err
	}
	return &out, nil
}

// RevokeAPIKey revokes key id (admin scope); every node refuses it within
// a second, and it can never be added back.
func (c *Client) RevokeAPIKey(ctx context.Context, id string) error {
	return c.do(ctx, "revoke API key", http.MethodDelete, "/v1/api-keys/"+pathSegment(id), nil, nil, nil, http.StatusNoContent)
}
