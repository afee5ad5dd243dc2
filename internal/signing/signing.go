// Package signing keeps a cluster's JWT signing key ring in the store's
// shared meta document, so every node signs and verifies with the same
// keys: it creates the ring on first start, rotates it on schedule with a
// compare-and-swap (one node wins, the others adopt its result), prunes
// retired keys, and polls for changes made by other nodes or the CLI.
package signing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
)

// DocName is the meta document holding the private key ring.
const DocName = "signing_keys"

// Options configure Keys.
type Options struct {
	Algorithm        jwttoken.Algorithm
	HMACSecret       []byte        // HS256 only: the first key
	MaxTokenLifetime time.Duration // the longest token lifetime (the refresh lifetime)
	RotateEvery      time.Duration // 0: never rotate on schedule
	PollEvery        time.Duration // how often other nodes' changes are picked up; default 2s
	Clock            sessiond.Clock
	Logger           *slog.Logger
	// OnChange is called after the local ring changed; removed reports
	// whether a key was dropped (callers purge verification caches then).
	OnChange func(removed bool)
	// OnRotate is called after this node rotated the ring on schedule
	// (Maintain), with the new signer's key ID: the security event log
	// records it.
	OnRotate func(kid string)
}

// Keys is the shared ring of one node. Safe for concurrent use.
type Keys struct {
	mu      sync.Mutex // serialises updates and adoptions on this node
	meta    sessiond.MetaStore
	opts    Options
	ring    *jwttoken.KeyRing
	version int64
}

func (o *Options) ringOptions() jwttoken.RingOptions {
	return jwttoken.RingOptions{Algorithm: o.Algorithm, HMACSecret: o.HMACSecret, MaxTokenLifetime: o.MaxTokenLifetime}
}

// Open loads the ring from meta, creating and saving a new one if there is
// none yet (when two nodes race, the loser adopts the winner's ring).
func Open(ctx context.Context, meta sessiond.MetaStore, opts Options) (*Keys, error) {
	if opts.Clock == nil {
		opts.Clock = sessiond.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.PollEvery <= 0 {
		opts.PollEvery = 2 * time.Second
	}
	k := &Keys{meta: meta, opts: opts}
	for attempt := 0; attempt < 3; attempt++ {
		doc, version, err := meta.GetMeta(ctx, DocName)
		switch {
		case err == nil:
			ring, err := jwttoken.LoadRing(doc, opts.ringOptions())
			if err != nil {
				return nil, fmt.Errorf("signing: stored key ring: %w", err)
			}
			k.ring, k.version = ring, version
			return k, nil
		case !errors.Is(err, sessiond.ErrNotFound):
			return nil, fmt.Errorf("signing: load key ring: %w", err)
		}
		ring, err := jwttoken.NewRing(opts.Clock.Now(), opts.ringOptions())
		if err != nil {
			return nil, fmt.Errorf("signing: %w", err)
		}
		doc, err = ring.MarshalPrivate()
		if err != nil {
			return nil, err
		}
		version, err = meta.PutMeta(ctx, DocName, doc, 0)
		if errors.Is(err, sessiond.ErrConflict) {
			continue // another node created it first: load theirs
		} else if err != nil {
			return nil, fmt.Errorf("signing: save new key ring: %w", err)
		}
		opts.Logger.Info("created signing key ring", "algorithm", string(opts.ringOptions().Algorithm))
		k.ring, k.version = ring, version
		return k, nil
	}
	return nil, fmt.Errorf("signing: key ring keeps changing under us: %w", sessiond.ErrConflict)
}

// Ring is the node's ring; codecs built on it follow every change.
func (k *Keys) Ring() *jwttoken.KeyRing { return k.ring }

// Rotate makes a new key the signer, everywhere.
func (k *Keys) Rotate(ctx context.Context) error {
	return k.update(ctx, func(r *jwttoken.KeyRing) (bool, error) { return true, r.Rotate(k.opts.Clock.Now()) })
}

// RetireAll drops every key (the incident kill switch): no token signed
// before verifies again, on any node once it has polled.
func (k *Keys) RetireAll(ctx context.Context) error {
	return k.update(ctx, func(r *jwttoken.KeyRing) (bool, error) { return true, r.RetireAll(k.opts.Clock.Now()) })
}

// Maintain rotates the ring if the signer is older than RotateEvery and
// prunes keys no token can need any more.
func (k *Keys) Maintain(ctx context.Context) error {
	rotated := false
	err := k.update(ctx, func(r *jwttoken.KeyRing) (bool, error) {
		rotated = false // update may retry fn after losing a race
		now := k.opts.Clock.Now()
		changed := r.Prune(now) > 0
		if k.opts.RotateEvery > 0 {
			for _, ki := range r.Keys() {
				if ki.Current && now.Sub(ki.CreatedAt) >= k.opts.RotateEvery {
					if err := r.Rotate(now); err != nil {
						return false, err
					}
					changed, rotated = true, true
				}
			}
		}
		return changed, nil
	})
	if err == nil && rotated && k.opts.OnRotate != nil {
		k.opts.OnRotate(k.ring.Keys()[0].ID)
	}
	return err
}

// update applies fn to the latest stored ring and saves it with a
// compare-and-swap, retrying when another node got there first; then it
// adopts the result locally.
func (k *Keys) update(ctx context.Context, fn func(*jwttoken.KeyRing) (bool, error)) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	for attempt := 0; attempt < 5; attempt++ {
		doc, version, err := k.meta.GetMeta(ctx, DocName)
		if err != nil {
			return fmt.Errorf("signing: load key ring: %w", err)
		}
		r, err := jwttoken.LoadRing(doc, k.opts.ringOptions())
		if err != nil {
			return fmt.Errorf("signing: stored key ring: %w", err)
		}
		changed, err := fn(r)
		if err != nil {
			return fmt.Errorf("signing: %w", err)
		}
		if !changed {
			return k.adopt(doc, version)
		}
		next, err := r.MarshalPrivate()
		if err != nil {
			return err
		}
		nv, err := k.meta.PutMeta(ctx, DocName, next, version)
		if errors.Is(err, sessiond.ErrConflict) {
			continue
		} else if err != nil {
			return fmt.Errorf("signing: save key ring: %w", err)
		}
		return k.adopt(next, nv)
	}
	return fmt.Errorf("signing: key ring keeps changing under us: %w", sessiond.ErrConflict)
}

// Sync adopts the stored ring if another node changed it.
func (k *Keys) Sync(ctx context.Context) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	doc, version, err := k.meta.GetMeta(ctx, DocName)
	if err != nil {
		return fmt.Errorf("signing: load key ring: %w", err)
	}
	return k.adopt(doc, version)
}

func (k *Keys) adopt(doc []byte, version int64) error {
	if version == k.version {
		return nil
	}
	removed, err := k.ring.Replace(doc)
	if err != nil {
		return fmt.Errorf("signing: adopt key ring: %w", err)
	}
	k.version = version
	k.opts.Logger.Info("signing key ring changed", "generation", k.ring.Generation(), "key_removed", removed)
	if k.opts.OnChange != nil {
		k.opts.OnChange(removed)
	}
	return nil
}

// Run polls for changes and maintains the ring until ctx ends. Errors are
// logged: a store outage must not stop the node from verifying with the
// keys it has.
func (k *Keys) Run(ctx context.Context) {
	t := time.NewTicker(k.opts.PollEvery)
	defer t.Stop()
	maintain := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		var err error
		if time.Since(maintain) >= time.Minute {
			maintain = time.Now()
			err = k.Maintain(ctx)
		} else {
			err = k.Sync(ctx)
		}
		if err != nil && ctx.Err() == nil {
			k.opts.Logger.Warn("signing key ring sync", "err", err)
		}
	}
}
