package ssf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"

	"github.com/sessiond/sessiond"
)

// maxJWKSBytes bounds a transmitter's JWKS document.
const maxJWKSBytes = 1 << 20

// jwksFetchTimeout bounds one fetch of the JWKS, whatever the HTTP client.
const jwksFetchTimeout = 10 * time.Second

// keySource caches a transmitter's JWKS; a kid it does not hold refetches
// the set, at most once per minInterval. The fetch runs outside mu, one at
// a time (group): a SET whose kid is cached never waits behind a slow
// provider, and SETs naming unknown kids meanwhile share that one fetch.
type keySource struct {
	url         string
	client      *http.Client
	clock       sessiond.Clock
	minInterval time.Duration
	log         *slog.Logger // a failed fetch, once per fetch
	name        string       // the receiver's, for the log
	group       singleflight.Group

	mu        sync.Mutex
	set       jose.JSONWebKeySet
	fetchedAt time.Time
	fetched   bool
	fetching  bool  // a fetch is in flight: wait for it, it may bring the kid
	failed    error // the last fetch's failure; nil after a good one
}

// keys returns the keys matching kid ("" matches a set of one key).
func (k *keySource) keys(ctx context.Context, kid string) ([]jose.JSONWebKey, error) {
	if found, done, err := k.cached(kid); done {
		return found, err
	}
	var started bool // this call ran the fetch, rather than joined one in flight
	_, err, _ := k.group.Do("jwks", func() (any, error) {
		started = true
		// Checked again inside the group: a fetch that ended between
		// cached and Do counts as the recent one.
		if _, done, err := k.cached(kid); done {
			return nil, err
		}
		return nil, k.refresh(ctx)
	})
	k.mu.Lock()
	defer k.mu.Unlock()
	if found := k.match(kid); len(found) > 0 {
		return found, nil
	}
	switch {
	case err != nil:
		return nil, err
	case !started:
		// The fetch joined began before this SET came and may predate
		// its key's publication: retryable, as when rate limited.
		return nil, errKeyNotFetchedYet
	}
	return nil, nil
}

// cached answers from the cache alone when it can (done): the keys of kid,
// or, the set having been fetched less than minInterval ago, why not.
// While a fetch is in flight it cannot: the caller joins the fetch.
func (k *keySource) cached(kid string) (found []jose.JSONWebKey, done bool, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if found := k.match(kid); len(found) > 0 {
		return found, true, nil
	}
	if !k.fetching && k.fetched && k.clock.Now().Sub(k.fetchedAt) < k.minInterval {
		// Rate limited: an unknown kid cannot force a fetch per request.
		// The key may well exist (a rotation at the provider since the
		// last fetch, which anyone can spend with a forged kid): a
		// retryable error (503), not a final "no such key" that the
		// transmitter would drop the SET for. Only a fetch made for this
		// kid can say it is not there.
		if k.failed != nil {
			return nil, true, k.failed
		}
		return nil, true, errKeyNotFetchedYet
	}
	return nil, false, nil
}

// refresh fetches the set without holding mu and stores the outcome.
func (k *keySource) refresh(ctx context.Context) error {
	k.mu.Lock()
	k.fetchedAt, k.fetched, k.fetching = k.clock.Now(), true, true
	k.mu.Unlock()
	set, err := k.fetch(ctx)
	k.mu.Lock()
	defer k.mu.Unlock()
	// Logged here, once per fetch (at most one per minInterval), rather
	// than by each SET answered 503 from the failure remembered.
	switch {
	case err != nil:
		err = &fetchError{err}
		k.log.ErrorContext(ctx, "ssf: jwks fetch failed", "receiver", k.name, "err", err, "retry_after", k.minInterval.String())
	case k.failed != nil:
		k.log.InfoContext(ctx, "ssf: jwks fetched again", "receiver", k.name)
	}
	k.fetching, k.failed = false, err
	if err == nil {
		k.set = set
	}
	return err
}

// fetchError is a fetch of the JWKS that failed: already logged, by the
// fetch.
type fetchError struct{ err error }

func (e *fetchError) Error() string { return e.err.Error() }
func (e *fetchError) Unwrap() error { return e.err }

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
func (k *keySource) fetch(ctx context.Context) (jose.JSONWebKeySet, error) {
	var none jose.JSONWebKeySet
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksFetchTimeout)
	defer cancel()
	// Neither error may quote the URL: its query may hold a credential,
	// and these errors reach the log and the ssf.set_received event.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.url, nil)
	if err != nil {
		return none, errors.New("ssf: jwks: the URL does not make a request")
	}
	req.Header.Set("Accept", "application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return none, fmt.Errorf("ssf: jwks: %w", withoutURL(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return none, fmt.Errorf("ssf: jwks: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return none, fmt.Errorf("ssf: jwks: %w", err)
	}
	if len(body) > maxJWKSBytes {
		return none, fmt.Errorf("ssf: jwks: larger than %d bytes", maxJWKSBytes)
	}
	// Key by key: a key go-jose cannot read (another algorithm family, a
	// curve it lacks, a post-quantum key) must not take the others with it.
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return none, fmt.Errorf("ssf: jwks: %w", err)
	}
	var set jose.JSONWebKeySet
	for _, raw := range doc.Keys {
		var key jose.JSONWebKey
		if key.UnmarshalJSON(raw) == nil {
			set.Keys = append(set.Keys, key)
		}
	}
	if len(set.Keys) == 0 && len(doc.Keys) > 0 {
		return none, fmt.Errorf("ssf: jwks: none of its %d keys could be read", len(doc.Keys))
	}
	return set, nil
}

// errKeyNotFetchedYet: the SET's kid is not in the set, which was fetched
// too recently to be fetched again.
var errKeyNotFetchedYet = errors.New("ssf: jwks: no key with this kid in the set fetched less than the refetch interval ago; try again later")
