package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
	"github.com/sessiond/sessiond/internal/apikey"
)

// APIKeys is what the /v1/api-keys routes need of the key set
// (*apikey.Keys).
type APIKeys interface {
	List(ctx context.Context) ([]apikey.Key, error)
	// The writes take the recorder that writes their events with them
	// (nil: none) and report whether it did; recorded false, the caller
	// records them after the write.
	CreateRecorded(ctx context.Context, r apikey.Recorder, name string, scopes ...apikey.Scope) (sessiond.Secret, apikey.Key, bool, error)
	SetScopesRecorded(ctx context.Context, r apikey.Recorder, id string, scopes []apikey.Scope) (apikey.Key, bool, error)
	// RevokeOrFenceRecorded revokes key id; an ID no key has writes the
	// set all the same, so that a create of it whose write gave up cannot
	// land.
	RevokeOrFenceRecorded(ctx context.Context, r apikey.Recorder, id string) (found, changed, recorded bool, err error)
	// RevokeUnreceivedRecorded revokes a key Create returned with an
	// error.
	RevokeUnreceivedRecorded(ctx context.Context, r apikey.Recorder, key apikey.Key) (stored, changed, recorded bool, err error)
	Get(ctx context.Context, id string) (apikey.Key, error)
}

// apiKeyJSON is an API key as the API shows it: never the secret nor its
// hash.
type apiKeyJSON struct {
	ID        string         `json:"id"`
	Name      string         `json:"name"`
	Scopes    []apikey.Scope `json:"scopes"`
	CreatedAt time.Time      `json:"created_at"`
	RevokedAt *time.Time     `json:"revoked_at"`
}

func apiKeyOut(k apikey.Key) apiKeyJSON {
	out := apiKeyJSON{ID: k.ID, Name: k.Name, Scopes: k.Scopes, CreatedAt: k.CreatedAt.UTC()}
	if out.Scopes == nil {
		out.Scopes = []apikey.Scope{}
	}
	if !k.RevokedAt.IsZero() {
		t := k.RevokedAt.UTC()
		out.RevokedAt = &t
	}
	return out
}

func (s *server) apiKeysOr404() error {
	if s.apiKeys == nil {
		return notFound("API keys are not managed through this server")
	}
	return nil
}

// keyChanged tells the server (event log) what an admin did to a key.
func (s *server) keyChanged(ctx context.Context, action string, k apikey.Key) {
	if s.onKeyChange != nil {
		s.onKeyChange(ctx, action, k)
	}
}

// GET /v1/api-keys
func (s *server) listAPIKeys(w http.ResponseWriter, r *http.Request) error {
	if err := s.apiKeysOr404(); err != nil {
		return err
	}
	keys, err := s.apiKeys.List(r.Context())
	if err != nil {
		return err
	}
	out := struct {
		Keys []apiKeyJSON `json:"keys"`
	}{Keys: make([]apiKeyJSON, len(keys))}
	for i, k := range keys {
		out.Keys[i] = apiKeyOut(k)
	}
	writeJSON(w, http.StatusOK, "application/json", out)
	return nil
}

type createKeyRequest struct {
	Name   string   `json:"name"`
	Scopes []string `json:"scopes"`
}

// KeyNotReceived is the APIKeyChanged action of a key revoked because
// nobody received it (its creation failed with its outcome unknown): an
// api_key.revoked event with reason not_received, as apikey create records
// it. It follows the key's created action.
const KeyNotReceived = apikey.ActionNotReceived

// KeyRevokeFailed is the APIKeyChanged action of a key whose creation
// failed with its outcome unknown and whose revocation failed too: it may
// be live (its write may land), so the event log records it created all
// the same, saying the revocation failed (api_key.created with
// details.revocation "failed"), and the answer names it for an operator
// to revoke.
const KeyRevokeFailed = "revoke_failed"

// keyRevokeTimeout bounds the revocation of a key whose creation failed
// with its outcome unknown (createAPIKey).
const keyRevokeTimeout = 30 * time.Second

// POST /v1/api-keys: the secret is in this answer and nowhere else.
func (s *server) createAPIKey(w http.ResponseWriter, r *http.Request) error {
	if err := s.apiKeysOr404(); err != nil {
		return err
	}
	var req createKeyRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	scopes := apikey.DefaultScopes
	if req.Scopes != nil {
		var err error
		if scopes, err = apikey.ExactScopes(req.Scopes...); err != nil {
			return err
		}
	}
	secret, key, recorded, err := s.apiKeys.CreateRecorded(r.Context(), s.keyRecorder, req.Name, scopes...)
	if err != nil {
		if key.ID != "" {
			// The write failed with its outcome unknown (a timeout, a lost
			// answer, the client gone): it may be stored, or land later,
			// and nobody gets the secret. Recorded revoked, whatever the
			// client does meanwhile (apikey.RevokeUnreceived). The event
			// log gets its creation before its revocation, as apikey
			// create records it: never a key revoked it never showed
			// created.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), keyRevokeTimeout)
			defer cancel()
			if _, changed, recorded, rerr := s.apiKeys.RevokeUnreceivedRecorded(ctx, s.keyRecorder, key); rerr != nil {
				// The key may be live: the log must not lose it, and
				// whoever asked must learn which key to revoke.
				s.keyChanged(ctx, KeyRevokeFailed, key)
				return &requestError{status: http.StatusServiceUnavailable, code: apitype.CodeStoreUnavailable,
					detail: "creating the key failed with its outcome unknown, and revoking it failed too: key " + key.ID +
						" may have been stored; revoke it (DELETE /v1/api-keys/" + key.ID + ") once the store answers",
					cause: fmt.Errorf("%w; key %s may have been stored, and revoking it failed too: %w", err, key.ID, rerr)}
			} else if !recorded {
				s.keyChanged(ctx, "created", key)
				if changed {
					s.keyChanged(ctx, KeyNotReceived, key)
				}
			}
		}
		return keyError(err)
	}
	if !recorded {
		s.keyChanged(r.Context(), "created", key)
	}
	w.Header().Set("Location", "/v1/api-keys/"+key.ID)
	writeJSON(w, http.StatusCreated, "application/json", struct {
		Key    apiKeyJSON `json:"key"`
		Secret string     `json:"secret"`
	}{Key: apiKeyOut(key), Secret: string(secret)})
	return nil
}

type scopesRequest struct {
	Scopes []string `json:"scopes"`
}

// PUT /v1/api-keys/{id}/scopes
func (s *server) setAPIKeyScopes(w http.ResponseWriter, r *http.Request) error {
	if err := s.apiKeysOr404(); err != nil {
		return err
	}
	var req scopesRequest
	if err := s.decodeJSON(w, r, &req); err != nil {
		return err
	}
	scopes, err := apikey.ExactScopes(req.Scopes...)
	if err != nil {
		return err
	}
	key, recorded, err := s.apiKeys.SetScopesRecorded(r.Context(), s.keyRecorder, r.PathValue("id"), scopes)
	if errors.Is(err, apikey.ErrKeyRevoked) {
		return badRequest("the key is revoked; create a new one")
	} else if err != nil {
		return keyError(err)
	}
	if !recorded {
		s.keyChanged(r.Context(), "scopes_changed", key)
	}
	writeJSON(w, http.StatusOK, "application/json", apiKeyOut(key))
	return nil
}

// DELETE /v1/api-keys/{id}: revoke. Revoking a revoked key succeeds. An
// ID no key has answers 404, but the set is written all the same, as
// apikey revoke does (apikey.RevokeOrFence): the ID may be that of a
// create whose write gave up and whose clean-up failed too (its answer
// sends the operator here), and that write must not land after this
// answer.
func (s *server) revokeAPIKey(w http.ResponseWriter, r *http.Request) error {
	if err := s.apiKeysOr404(); err != nil {
		return err
	}
	id := r.PathValue("id")
	found, changed, recorded, err := s.apiKeys.RevokeOrFenceRecorded(r.Context(), s.keyRecorder, id)
	if err != nil {
		return keyError(err)
	}
	if !found {
		return keyError(fmt.Errorf("apikey: revoke %q: %w", id, sessiond.ErrNotFound))
	}
	// Revoking a revoked key succeeds (204) and records nothing: one
	// api_key.revoked per key, however often it is asked.
	if !changed || recorded {
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
	if key, err := s.apiKeys.Get(r.Context(), id); err == nil {
		s.keyChanged(r.Context(), "revoked", key)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// keyError answers the key set's errors in its own words: an unknown key
// is "no such API key" (the table's ErrNotFound speaks of sessions), and a
// set that kept changing under concurrent writes through all its retries
// (ErrConflict) is a 503 to retry, not a 500.
func keyError(err error) error {
	switch {
	case errors.Is(err, sessiond.ErrNotFound):
		return &requestError{status: http.StatusNotFound, code: apitype.CodeNotFound, detail: "no such API key", cause: err}
	case errors.Is(err, sessiond.ErrConflict):
		return &requestError{status: http.StatusServiceUnavailable, code: apitype.CodeStoreUnavailable,
			detail: "the API key set kept changing under concurrent writes; retry", cause: err}
	}
	return err
}
