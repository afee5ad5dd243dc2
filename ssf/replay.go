package ssf

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sessiond/sessiond"
)

// replayLog remembers the jti of every SET acted upon. With a MetaStore
// the record is one shared document per jti, so every node sees it; it is
// never deleted (a gap: the documents grow with the SETs received). Without
// one the record is in this node's memory, pruned after the iat window.
type replayLog struct {
	meta  sessiond.MetaStore
	clock sessiond.Clock
	keep  time.Duration

	mu   sync.Mutex
	seen map[string]time.Time
}

func replayKey(receiver, iss, jti string) string {
	h := sha256.Sum256([]byte(receiver + "\x00" + iss + "\x00" + jti))
	return "ssf.jti." + hex.EncodeToString(h[:])
}

// seenBefore reports whether the jti was recorded.
func (r *replayLog) seenBefore(ctx context.Context, key string) (bool, error) {
	if r.meta == nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		_, ok := r.seen[key]
		return ok, nil
	}
	_, _, err := r.meta.GetMeta(ctx, key)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, sessiond.ErrNotFound):
		return false, nil
	}
	return false, fmt.Errorf("ssf: replay record: %w", err)
}

// record stores the jti; a record another node wrote first is no error.
func (r *replayLog) record(ctx context.Context, key string) error {
	now := r.clock.Now()
	if r.meta == nil {
		r.mu.Lock()
		defer r.mu.Unlock()
		for k, at := range r.seen {
			if now.Sub(at) > r.keep {
				delete(r.seen, k)
			}
		}
		r.seen[key] = now
		return nil
	}
	_, err := r.meta.PutMeta(ctx, key, []byte(`{"received_at":"`+now.UTC().Format(time.RFC3339)+`"}`), 0)
	if err != nil && !errors.Is(err, sessiond.ErrConflict) {
		return fmt.Errorf("ssf: replay record: %w", err)
	}
	return nil
}
