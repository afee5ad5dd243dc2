package verifier

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond/verifier/stream"
)

// errReset: the server said the cursor is too old; load the snapshot.
var errReset = errors.New("the server reset the stream")

// errProtocol wraps everything that makes a stream unreadable.
var errProtocol = errors.New("not a revocation stream")

// Reconnection backoff: doubling from minBackoff to maxBackoff, jittered.
const (
	minBackoff = 100 * time.Millisecond
	maxBackoff = 5 * time.Second
)

// follow keeps a stream connection open until ctx ends, reconnecting with
// Last-Event-ID after any failure, with capped, jittered backoff, or
// after the Retry-After of a 429 or 503 when that is longer. The
// backoff starts over only after a connection that brought a heartbeat: a
// stream that ends before one (a reset, a proxy's empty answer) is a
// failure to back off from, or a reset that repeats would reload the
// snapshot ten times a second.
func (v *Verifier) follow(ctx context.Context) {
	defer v.wg.Done()
	backoff := minBackoff
	for ctx.Err() == nil {
		beats := v.beats
		err := v.connect(ctx)
		v.connected.Store(false)
		if ctx.Err() != nil {
			return
		}
		if v.beats != beats {
			backoff = minBackoff
		}
		switch {
		case errors.Is(err, errReset):
			v.log.Info("verifier: stream reset; loading the snapshot")
			if err := v.reload(ctx); err != nil {
				v.log.Error("verifier: snapshot after reset", "err", err)
			}
		case errors.Is(err, errBehind):
			v.log.Warn("verifier: revocation stream falls behind the server's log; reconnecting", "err", err)
		case errors.Is(err, errProtocol):
			// Fail closed: the state may miss what could not be read. The
			// line is written first, so whoever sees ErrStale finds why.
			v.log.Error("verifier: unreadable revocation stream; revocation state is stale until it recovers", "err", err)
			v.broken.Store(true)
		case err != nil:
			v.log.Warn("verifier: revocation stream interrupted", "err", err)
		}
		wait := backoff/2 + rand.N(backoff/2+1)
		if re, ok := errors.AsType[*refusedError](err); ok && re.retryAfter > wait {
			// No sooner than the server asked, within retryCap; the jitter
			// keeps verifiers it refused together from returning at the
			// same instant.
			wait = min(re.retryAfter, v.retryCap()) + rand.N(backoff/2+1)
		}
		if !v.sleep(ctx, wait) {
			return
		}
		backoff = min(2*backoff, maxBackoff)
	}
}

// sleep waits d, or until ctx ends (false).
func (v *Verifier) sleep(ctx context.Context, d time.Duration) bool {
	if v.wait != nil {
		return v.wait(ctx, d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// reload loads the snapshot and the JWKS (keys may have been retired
// while events were lost).
func (v *Verifier) reload(ctx context.Context) error {
	if err := v.fetchKeys(ctx); err != nil {
		return err
	}
	return v.loadSnapshot(ctx)
}

// loadSnapshot replaces the revocation state with the server's snapshot
// and resumes the stream from its cursor. The document is decoded as it
// arrives (snapshot.go); the state changes only once all of it is read and
// valid.
func (v *Verifier) loadSnapshot(ctx context.Context) error {
	body, err := v.openDocument(ctx, "snapshot", stream.SnapshotPath, true, "application/json")
	if err != nil {
		return err
	}
	defer body.Close()
	snap, err := decodeSnapshot(body, v.opts.MaxSnapshotEntries)
	if err != nil {
		return fmt.Errorf("verifier: snapshot: %w", err)
	}
	v.state.load(snap)
	v.snapshots.Add(1)
	v.cursor = snap.cursor
	v.markSynced()
	return nil
}

// connect follows one stream connection until it fails. A clean end of
// the stream (server shutdown) returns nil.
func (v *Verifier) connect(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.base+stream.StreamPath, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+string(v.opts.APIKey))
	req.Header.Set("Accept", "text/event-stream")
	if v.cursor != "" {
		req.Header.Set("Last-Event-ID", v.cursor)
	}
	// A connection on which nothing arrives (not the headers, not even a
	// heartbeat) is dropped: a node whose store read hangs, or a half-open
	// TCP connection, would otherwise look healthy, or hold this follower
	// forever.
	var idled atomic.Bool
	idle := time.AfterFunc(v.opts.IdleTimeout, func() { idled.Store(true); cancel() })
	defer idle.Stop()
	resp, err := v.stream.Do(req)
	if err != nil {
		if idled.Load() {
			return fmt.Errorf("stream: no answer for %s", v.opts.IdleTimeout)
		}
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return refused(resp, v.clock.Now())
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		return fmt.Errorf("%w: content type %q", errProtocol, mt)
	}
	v.connected.Store(true)
	idle.Reset(v.opts.IdleTimeout)
	err = v.consume(ctx, resp.Body, func() { idle.Reset(v.opts.IdleTimeout) })
	if err != nil && idled.Load() {
		return fmt.Errorf("stream: nothing received for %s", v.opts.IdleTimeout)
	}
	return err
}

// consume decodes and applies blocks from body until it ends (nil), the
// server resets (errReset), the input is unreadable (errProtocol) or
// reading fails. received is called after every block that carries an id:
// sessiond's events and heartbeats. A comment without one (a proxy's
// keep-alive) is no sign that the node behind is alive.
func (v *Verifier) consume(ctx context.Context, body io.Reader, received func()) error {
	d := stream.NewDecoder(body)
	v.lag = lagMeter{} // measured per connection: another node has another clock
	pruned := v.clock.Now()
	for {
		b, err := d.Next()
		if err == io.EOF {
			return nil
		} else if errors.Is(err, stream.ErrMalformed) {
			return fmt.Errorf("%w: %v", errProtocol, err)
		} else if err != nil {
			return err
		}
		if b.ID != "" {
			received()
		}
		if err := v.apply(ctx, b); err != nil {
			return err
		}
		if now := v.clock.Now(); now.Sub(pruned) > time.Minute {
			// Kept past its until by this verifier's leeway, which
			// accepts tokens that long past their expiry (sessiond's
			// until allows only its own).
			v.state.prune(now.Add(-v.opts.Leeway))
			pruned = now
		}
	}
}

// apply applies one block; the cursor moves only past what was applied.
func (v *Verifier) apply(ctx context.Context, b stream.Block) error {
	var at time.Time // the cursor's time
	if b.ID != "" {
		var err error
		if _, at, err = stream.ParseCursor(b.ID); err != nil {
			return fmt.Errorf("%w: id: %v", errProtocol, err)
		}
	}
	if b.Name == "" {
		if b.Data != nil || !b.Comment {
			return fmt.Errorf("%w: a block with data but no event name", errProtocol)
		}
		// A heartbeat: it follows the catch-up, so the state is current.
		// Only sessiond's, which carries a cursor: a comment a proxy adds
		// to keep the connection open says nothing of the state.
		if b.ID == "" {
			return nil
		}
		// A heartbeat that arrives much further behind the server's log
		// than this connection's fastest proves only that the path is slow:
		// it is not taken, and the connection is dropped as a silent one
		// would be (IdleTimeout).
		if behind := v.lag.behind(v.tick(v.clock.Now()), at); behind > v.opts.IdleTimeout {
			return fmt.Errorf("%w: a heartbeat arrived %s further behind it than this connection's fastest (IdleTimeout %s)",
				errBehind, behind, v.opts.IdleTimeout)
		}
		v.cursor = b.ID
		v.beats++
		v.markSynced()
		return nil
	}
	if b.ID == "" {
		return fmt.Errorf("%w: event %.32q has no id", errProtocol, b.Name)
	}
	switch b.Name {
	case stream.EventRevoked:
		r, err := decodeEvent[stream.Revoked](b.Data)
		if err != nil {
			return err
		}
		v.state.addRevoked(r)
	case stream.EventWatermark:
		w, err := decodeEvent[stream.Watermark](b.Data)
		if err != nil {
			return err
		}
		v.state.raise(w)
	case stream.EventKeyRetired:
		k, err := decodeEvent[stream.KeyRetired](b.Data)
		if err != nil {
			return err
		}
		v.state.retire(k.Kid, v.clock.Now())
		v.keys.remove(k.Kid)
		v.cache.purge()
		// The key ring may have changed in more ways (a new signer).
		v.refetchKeys(ctx)
	case stream.EventReset:
		return errReset
	default:
		// An event this verifier does not know may be a revocation it
		// would miss: fail closed.
		return fmt.Errorf("%w: unknown event %.32q", errProtocol, b.Name)
	}
	v.cursor = b.ID
	return nil
}

// decodeEvent decodes an event's data and validates it: every event kind
// fails closed the same way.
func decodeEvent[T interface{ Validate() error }](data []byte) (T, error) {
	var ev T
	if len(data) == 0 {
		return ev, fmt.Errorf("%w: event without data", errProtocol)
	}
	if err := json.Unmarshal(data, &ev); err != nil {
		return ev, fmt.Errorf("%w: event data: %v", errProtocol, err)
	}
	if err := ev.Validate(); err != nil {
		return ev, fmt.Errorf("%w: %v", errProtocol, err)
	}
	return ev, nil
}

// retryCap bounds how long a Retry-After holds the follower off: half of
// MaxStaleness (at least the longest backoff, at most maxRetryAfter). A
// proxy's maintenance page asking for minutes would otherwise keep the
// verifier stale, refusing every token, long after the server is back;
// sessiond itself asks for seconds.
func (v *Verifier) retryCap() time.Duration {
	return min(maxRetryAfter, max(maxBackoff, v.opts.MaxStaleness/2))
}
