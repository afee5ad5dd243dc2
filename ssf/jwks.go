package ssf

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/sessiond/sessiond"
)

// maxJWKSBytes bounds a transmitter's JWKS document.
const maxJWKSBytes = 1 << 20

// keySource caches a transmitter's JWKS; a kid it does not hold refetches
// the set, at most once per minInterval.
type keySource struct {
	url         string
	client      *http.Client
	clock       sessiond.Clock
	minInterval time.Duration

	mu        sync.Mutex
	set       jose.JSONWebKeySet
	fetchedAt time.Time
	fetched   bool
}

// keys returns the keys matching kid ("" matches a set of one key).
func (k *keySource) keys(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if found := k.match(kid); len(found) > 0 {
		return found, nil
	}
	if k.fetched && k.clock.Now().Sub(k.fetchedAt) < k.minInterval {
		return nil, nil // rate limited: an unknown kid cannot force a fetch per request
	}
	if err := k.fetch(ctx); err != nil {
		return nil, err
	}
	return k.match(kid), nil
}

func (k *keySource) match(kid string) []jose.JSONWebKey {
	if kid == "" {
		if len(k.set.Keys) == 1 {
			return k.set.Keys
		}
		return nil
	}
	return k.set.Key(kid)
}

func (k *keySource) fetch(ctx context.Context) error {
	k.fetchedAt, k.fetched = k.clock.Now(), true
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return fmt.Errorf("ssf: jwks: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return fmt.Errorf("ssf: jwks: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("ssf: jwks: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return fmt.Errorf("ssf: jwks: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return fmt.Errorf("ssf: jwks: larger than %d bytes", maxJWKSBytes)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(body, &set); err != nil {
		return fmt.Errorf("ssf: jwks: %w", err)
	}
	k.set = set
	return nil
}
