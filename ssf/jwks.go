package ssf

import (
	"context"
	"encoding/json"
	"errors"
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

// jwksFetchTimeout bounds one fetch of the JWKS, whatever the HTTP client.
const jwksFetchTimeout = 10 * time.Second

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
	failed    error // the last fetch's failure; nil after a good one
}

// keys returns the keys matching kid ("" matches a set of one key).
func (k *keySource) keys(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if found := k.match(kid); len(found) > 0 {
		return found, nil
	}
	if k.fetched && k.clock.Now().Sub(k.fetchedAt) < k.minInterval {
		// Rate limited: an unknown kid cannot force a fetch per request.
		// The key may well exist (a rotation at the provider since the
		// last fetch, which anyone can spend with a forged kid): a
		// retryable error (503), not a final "no such key" that the
		// transmitter would drop the SET for. Only a fetch made for this
		// kid can say it is not there.
		if k.failed != nil {
			return nil, k.failed
		}
		return nil, errKeyNotFetchedYet
	}
	k.failed = k.fetch(ctx)
	if k.failed != nil {
		return nil, k.failed
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

// fetch loads the set. It runs for every request waiting on the set, so it
// does not end with the context of the one that started it (a client that
// hangs up must not fail it for the others); jwksFetchTimeout bounds it.
func (k *keySource) fetch(ctx context.Context) error {
	k.fetchedAt, k.fetched = k.clock.Now(), true
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksFetchTimeout)
	defer cancel()
	// Neither error may quote the URL: its query may hold a credential,
	// and these errors reach the log and the ssf.set_received event.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return errors.New("ssf: jwks: the URL does not make a request")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return fmt.Errorf("ssf: jwks: %w", withoutURL(err))
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
	// Key by key: a key go-jose cannot read (another algorithm family, a
	// curve it lacks, a post-quantum key) must not take the others with it.
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return fmt.Errorf("ssf: jwks: %w", err)
	}
	var set jose.JSONWebKeySet
	for _, raw := range doc.Keys {
		var key jose.JSONWebKey
		if key.UnmarshalJSON(raw) == nil {
			set.Keys = append(set.Keys, key)
		}
	}
	if len(set.Keys) == 0 && len(doc.Keys) > 0 {
		return fmt.Errorf("ssf: jwks: none of its %d keys could be read", len(doc.Keys))
	}
	k.set = set
	return nil
}

// errKeyNotFetchedYet: the SET's kid is not in the set, which was fetched
// too recently to be fetched again.
var errKeyNotFetchedYet = errors.New("ssf: jwks: no key with this kid in the set fetched less than the refetch interval ago; try again later")
