package ssf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/sessiond/sessiond"
)

// MaxQueued is how many SETs a poll stream holds unacknowledged; past it
// new ones wait in the outbox (and end dead if the receiver never polls).
const MaxQueued = 2000

// errQueueFull: the poll stream holds MaxQueued SETs already.
var errQueueFull = errors.New("ssf: poll queue full")

// queued is one SET waiting for a poll: its claims, signed when polled.
type queued struct {
	JTI    string          `json:"jti"`
	Claims json.RawMessage `json:"claims"`
}

type queueDoc struct {
	Sets []queued `json:"sets"`
}

func queueName(stream string) string { return "ssf.poll." + stream }

// pollQueue keeps each poll stream's unacknowledged SETs in one MetaStore
// document, changed by compare-and-swap.
type pollQueue struct{ meta sessiond.MetaStore }

func (q pollQueue) read(ctx context.Context, stream string) ([]queued, int64, error) {
	var d queueDoc
	v, err := readDoc(ctx, q.meta, queueName(stream), "poll queue", &d)
	if err != nil {
		return nil, 0, err
	}
	return d.Sets, v, nil
}

// change applies fn to the queue and stores it; fn returning false stores
// nothing.
func (q pollQueue) change(ctx context.Context, stream string, fn func([]queued) ([]queued, bool, error)) error {
	for range 16 {
		sets, v, err := q.read(ctx, stream)
		if err != nil {
			return err
		}
		next, write, err := fn(sets)
		if err != nil || !write {
			return err
		}
		b, err := json.Marshal(queueDoc{Sets: next})
		if err != nil {
			return err
		}
		_, err = q.meta.PutMeta(ctx, queueName(stream), b, v)
		if errors.Is(err, sessiond.ErrConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("ssf: write poll queue: %w", err)
		}
		return nil
	}
	return fmt.Errorf("ssf: write poll queue: %w", sessiond.ErrConflict)
}

// add queues one SET; a jti already queued is not added twice.
func (q pollQueue) add(ctx context.Context, stream string, s queued) error {
	return q.addIf(ctx, stream, s, nil)
}

// addIf is add while open, when set, returns nil: it is called after
// each read of the queue, before writing, and its error (the stream no
// longer polls) stores nothing and is returned. So a change of the stream
// that then writes the queue (clear, pushQueued: they write it even
// empty) either sees the SET or makes this write conflict, and the next
// try calls open again.
func (q pollQueue) addIf(ctx context.Context, stream string, s queued, open func() error) error {
	return q.change(ctx, stream, func(sets []queued) ([]queued, bool, error) {
		if open != nil {
			if err := open(); err != nil {
				return nil, false, err
			}
		}
		if slices.ContainsFunc(sets, func(x queued) bool { return x.JTI == s.JTI }) {
			return nil, false, nil
		}
		if len(sets) >= MaxQueued {
			return nil, false, errQueueFull
		}
		return append(sets, s), true, nil
	})
}

// remove drops the SETs whose jti is in jtis and returns the jtis it
// dropped (of those in jtis, the ones the queue held).
func (q pollQueue) remove(ctx context.Context, stream string, jtis []string) (map[string]bool, error) {
	if len(jtis) == 0 {
		return nil, nil
	}
	want := make(map[string]bool, len(jtis))
	for _, j := range jtis {
		want[j] = true
	}
	var removed map[string]bool
	err := q.change(ctx, stream, func(sets []queued) ([]queued, bool, error) {
		removed = map[string]bool{} // of this try: an earlier one lost its write
		next := slices.DeleteFunc(slices.Clone(sets), func(x queued) bool {
			if want[x.JTI] {
				removed[x.JTI] = true
			}
			return want[x.JTI]
		})
		return next, len(next) != len(sets), nil
	})
	if err != nil {
		return nil, err
	}
	return removed, nil
}

// clear empties the queue of a deleted or disabled stream. It writes even
// an empty queue, so that an add that read the stream before it changed
// conflicts and reads it again (see add).
func (q pollQueue) clear(ctx context.Context, stream string) error {
	return q.change(ctx, stream, func([]queued) ([]queued, bool, error) {
		return []queued{}, true, nil
	})
}
