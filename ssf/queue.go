package ssf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/sessiond/sessiond"
)

// MaxQueued is how many SETs a poll stream holds unacknowledged; past it
// new ones wait in the outbox (and end dead if the receiver never polls).
const MaxQueued = 2000

// maxQueuedAge is how long a SET waits in a poll queue, from when its
// outbox entry was made (queued.At): past it, it is dropped at the
// queue's next change or poll, paused or not. The bound of a paused push
// stream (maxPausedHold), for the same reason: without it whoever holds an
// ssf key could pause a poll stream, or never poll one, and keep up to
// MaxQueued revocations in the store for as long as the stream lasts.
const maxQueuedAge = maxPausedHold

// errQueueFull: the poll stream holds MaxQueued SETs already.
var errQueueFull = errors.New("ssf: poll queue full")

// queued is one SET waiting for a poll: its claims, signed when polled.
type queued struct {
	JTI    string          `json:"jti"`
	Claims json.RawMessage `json:"claims"`
	// At is when the SET's outbox entry was made or last retried
	// (Delivery.CreatedAt).
	// A SET queued by an older version has none: it is read as queued
	// now, and stored so by the queue's next write.
	At time.Time `json:"at,omitzero"`
}

type queueDoc struct {
	Sets []queued `json:"sets"`
}

func queueName(stream string) string { return "ssf.poll." + stream }

// pollQueue keeps each poll stream's unacknowledged SETs in one MetaStore
// document, changed by compare-and-swap. The document is made by the
// first SET queued: nothing else makes one, so a stream that never queued
// a SET leaves none behind (see change). On a store that deletes
// documents (del) the queue of a deleted stream is deleted once emptied
// (see retire); otherwise, and for a stream disabled or switched to push
// (which may take SETs again, under the same ID), it stays, empty.
type pollQueue struct {
	meta  sessiond.MetaStore
	del   sessiond.MetaDeleter // nil: the store deletes no documents
	clock sessiond.Clock
	log   *slog.Logger
}

// read returns the SETs queued for less than maxQueuedAge, the queue's
// version (0: no document), and how many older ones it left out.
func (q pollQueue) read(ctx context.Context, stream string) ([]queued, int64, int, error) {
	var d queueDoc
	v, err := readDoc(ctx, q.meta, queueName(stream), "poll queue", &d)
	if err != nil {
		return nil, 0, 0, err
	}
	now := q.clock.Now()
	sets := d.Sets[:0]
	for _, s := range d.Sets {
		if s.At.IsZero() {
			s.At = now
		} else if now.Sub(s.At) >= maxQueuedAge {
			continue
		}
		sets = append(sets, s)
	}
	return sets, v, len(d.Sets) - len(sets), nil
}

// change applies fn to the queue and stores it; fn returning false stores
// nothing but the drop of SETs past maxQueuedAge. It reports whether its
// write made the document.
//
// It never makes an empty document: one that does not exist stays so.
// (Clear and pushQueued write the queue even empty, for a racing addIf to
// conflict with; when there is no document to write, that addIf makes it,
// and Transmitter.queuePoll reads the stream again after.)
func (q pollQueue) change(ctx context.Context, stream string, fn func([]queued) ([]queued, bool, error)) (bool, error) {
	return q.write(ctx, stream, false, fn)
}

// retire is change for a deleted stream, one that never takes SETs again
// (its ID is never reused): a queue fn leaves empty is deleted, at the
// version read, on a store that can, instead of written empty. A delete is a compare-and-swap
// like the write: an addIf that read the queue before it conflicts, reads
// it again and finds the stream changed (open) or, finding no queue, makes
// it and reads the stream again (Transmitter.queuePoll), as when the
// stream never had a queue. Only a deleted stream's queue is deleted:
// versions start over once a document is deleted, so for a stream that
// could queue again under the same name (disabled, switched to push, or
// open) a write prepared before a delete could land on a queue made again
// since, at the same version, and replace its SETs.
func (q pollQueue) retire(ctx context.Context, stream string, fn func([]queued) ([]queued, bool, error)) error {
	_, err := q.write(ctx, stream, true, fn)
	return err
}

func (q pollQueue) write(ctx context.Context, stream string, retired bool, fn func([]queued) ([]queued, bool, error)) (bool, error) {
	for range 16 {
		sets, v, expired, err := q.read(ctx, stream)
		if err != nil {
			return false, err
		}
		next, write, err := fn(sets)
		if err != nil {
			return false, err
		}
		if !write {
			if expired == 0 {
				return false, nil
			}
			next = sets
		}
		if v == 0 && len(next) == 0 {
			return false, nil
		}
		if retired && len(next) == 0 && q.del != nil {
			err = q.del.DeleteMeta(ctx, queueName(stream), v)
			if errors.Is(err, sessiond.ErrConflict) || errors.Is(err, sessiond.ErrNotFound) {
				continue // read again: a write came first, or another delete
			}
			if err != nil {
				return false, fmt.Errorf("ssf: delete poll queue: %w", err)
			}
		} else {
			b, err := json.Marshal(queueDoc{Sets: next})
			if err != nil {
				return false, err
			}
			_, err = q.meta.PutMeta(ctx, queueName(stream), b, v)
			if errors.Is(err, sessiond.ErrConflict) {
				continue
			}
			if err != nil {
				return false, fmt.Errorf("ssf: write poll queue: %w", err)
			}
		}
		if expired > 0 {
			q.log.WarnContext(ctx, "ssf: SETs queued for polling 7 days dropped", "stream_id", stream, "count", expired)
		}
		return v == 0, nil
	}
	return false, fmt.Errorf("ssf: write poll queue: %w", sessiond.ErrConflict)
}

// prune stores the queue without its SETs past maxQueuedAge, if it has
// any.
func (q pollQueue) prune(ctx context.Context, stream string) error {
	_, err := q.change(ctx, stream, func([]queued) ([]queued, bool, error) { return nil, false, nil })
	return err
}

// add queues one SET; a jti already queued is not added twice.
func (q pollQueue) add(ctx context.Context, stream string, s queued) error {
	_, _, err := q.addIf(ctx, stream, s, nil)
	return err
}

// addIf is add while open, when set, returns nil: it is called after
// each read of the queue, before writing, and its error (the stream no
// longer polls) stores nothing and is returned; else addIf returns the
// version of the stream list open read last (seen). So a change of the
// stream that then writes the queue (clear, pushQueued: they write it
// even empty, when it exists) either sees the SET or makes this write
// conflict, and the next try calls open again. When this write made the
// document (created), such a change may have found none and written none:
// the caller reads the stream list again (Transmitter.queuePoll).
func (q pollQueue) addIf(ctx context.Context, stream string, s queued, open func() (int64, error)) (created bool, seen int64, err error) {
	created, err = q.change(ctx, stream, func(sets []queued) ([]queued, bool, error) {
		if open != nil {
			v, err := open()
			if err != nil {
				return nil, false, err
			}
			seen = v
		}
		if slices.ContainsFunc(sets, func(x queued) bool { return x.JTI == s.JTI }) {
			return nil, false, nil
		}
		if len(sets) >= MaxQueued {
			return nil, false, errQueueFull
		}
		return append(sets, s), true, nil
	})
	return created, seen, err
}

// remove drops the SETs whose jti is in jtis and returns the jtis it
// dropped (of those in jtis, the ones the queue held).
func (q pollQueue) remove(ctx context.Context, stream string, jtis []string) (map[string]bool, error) {
	return q.removeFrom(ctx, stream, jtis, false)
}

// removeRetired is remove for a deleted stream: a queue left empty is
// deleted (see retire).
func (q pollQueue) removeRetired(ctx context.Context, stream string, jtis []string) (map[string]bool, error) {
	return q.removeFrom(ctx, stream, jtis, true)
}

func (q pollQueue) removeFrom(ctx context.Context, stream string, jtis []string, retired bool) (map[string]bool, error) {
	if len(jtis) == 0 {
		return nil, nil
	}
	want := make(map[string]bool, len(jtis))
	for _, j := range jtis {
		want[j] = true
	}
	var removed map[string]bool
	_, err := q.write(ctx, stream, retired, func(sets []queued) ([]queued, bool, error) {
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

// clear empties the queue of a deleted or disabled stream: a deleted
// stream's is deleted, on a store that can (retire); otherwise it is
// written even empty, when there is one. Either way an addIf that read the
// stream before it changed conflicts and reads it again.
func (q pollQueue) clear(ctx context.Context, stream string, deleted bool) error {
	empty := func([]queued) ([]queued, bool, error) { return []queued{}, true, nil }
	if deleted {
		return q.retire(ctx, stream, empty)
	}
	_, err := q.change(ctx, stream, empty)
	return err
}
