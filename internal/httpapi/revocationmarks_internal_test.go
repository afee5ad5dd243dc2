package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/verifier/stream"
)

// TestMarkReads_SlowReadShared: streams that ask while a read of the
// watermark document is under way share it (or its error), however long
// it takes; a read longer than the poll interval used to be repeated once
// per waiting stream, one after the other, holding every stream's poll and
// heartbeats.
func TestMarkReads_SlowReadShared(t *testing.T) {
	for name, readErr := range map[string]error{"Marks": nil, "Error": errors.New("store unavailable")} {
		t.Run(name, func(t *testing.T) {
			const waiters = 20
			var reads atomic.Int32
			inRead, release := make(chan struct{}), make(chan struct{})
			m := &markReads{keep: 1, // any read is older than keep by the time another caller looks
				read: func(context.Context) ([]stream.Watermark, error) {
					if reads.Add(1) == 1 {
						close(inRead)
						<-release
					}
					return []stream.Watermark{{Subject: "erin"}}, readErr
				}}
			errs := make(chan error, waiters+1)
			var wg sync.WaitGroup
			get := func() {
				defer wg.Done()
				marks, _, err := m.get(context.Background())
				if err == nil && len(marks) != 1 {
					t.Errorf("get = %v; want erin's watermark", marks)
				}
				errs <- err
			}
			wg.Add(1)
			go get()
			<-inRead
			for range waiters {
				wg.Add(1)
				go get()
			}
			for m.waiting.Load() < waiters {
				runtime.Gosched()
			}
			close(release)
			wg.Wait()
			close(errs)
			for err := range errs {
				if !errors.Is(err, readErr) {
					t.Errorf("get = %v; want %v", err, readErr)
				}
			}
			if n := reads.Load(); n != 1 {
				t.Errorf("%d callers during one read made %d reads; want 1", waiters+1, n)
			}
		})
	}
}

// marksDoc is a watermark document that tests change between reads.
type marksDoc struct {
	mu    sync.Mutex
	marks []stream.Watermark
	err   error // the next reads fail with it
}

func (d *marksDoc) set(w ...stream.Watermark) {
	d.mu.Lock()
	d.marks = w
	d.mu.Unlock()
}

func (d *marksDoc) fail(err error) {
	d.mu.Lock()
	d.err = err
	d.mu.Unlock()
}

func (d *marksDoc) read(context.Context) ([]stream.Watermark, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return nil, d.err
	}
	return append([]stream.Watermark(nil), d.marks...), nil
}

func marksTail(doc *marksDoc, poll time.Duration) *tail {
	rec := httptest.NewRecorder()
	return &tail{rs: &RevocationStream{Watermarks: doc.read, Poll: poll}, w: rec, rc: http.NewResponseController(rec),
		log: slog.New(slog.DiscardHandler)}
}

// TestTail_MarksForgetPrunedWatermarks: a stream remembers the watermarks
// of the store's document it has sent, to send each once; the document
// drops a subject's watermark once no live session can be older (incident.go,
// prune), and the stream must forget it too. It kept every subject's it
// had ever seen, so a verifier's connection open for weeks held more
// entries each subject incident, past what the document held.
func TestTail_MarksForgetPrunedWatermarks(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	doc := &marksDoc{}
	doc.set(stream.Watermark{All: true, IssuedBefore: t0})
	tl := marksTail(doc, time.Nanosecond)        // every poll reads the document again
	if _, err := tl.sendMarks(ctx); err != nil { // the baseline
		t.Fatal(err)
	}
	const rounds = 1000
	for i := range rounds {
		// One subject's incident at a time; the previous one's watermark
		// has been pruned from the document meanwhile.
		doc.set(stream.Watermark{All: true, IssuedBefore: t0},
			stream.Watermark{Subject: fmt.Sprintf("user-%d", i), IssuedBefore: t0.Add(time.Duration(i+1) * time.Second)})
		n, err := tl.sendMarks(ctx)
		if err != nil || n != 1 {
			t.Fatalf("round %d: sendMarks = %d, %v; want the new subject's watermark sent once", i, n, err)
		}
	}
	if got := len(tl.marks); got != 2 {
		t.Errorf("after %d subject incidents, each pruned from the document by the next, the stream remembers %d watermarks; want 2 (all and the last subject's)",
			rounds, got)
	}
}

// TestTail_MarksKeepWhatTheLogSentFirst: a watermark the stream took from
// the log before its (shared, cached) read of the document had it is not
// forgotten as pruned, or the next read would send it a second time.
func TestTail_MarksKeepWhatTheLogSentFirst(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	doc := &marksDoc{}
	doc.set(stream.Watermark{All: true, IssuedBefore: t0})
	tl := marksTail(doc, time.Hour) // the document's read is reused until the test forces another
	if _, err := tl.sendMarks(ctx); err != nil {
		t.Fatal(err)
	}
	erin := stream.Watermark{Subject: "erin", IssuedBefore: t0.Add(time.Second)}
	doc.set(stream.Watermark{All: true, IssuedBefore: t0}, erin)
	tl.sawMark(erin) // from the log, while the kept read predates erin's incident
	if n, err := tl.sendMarks(ctx); err != nil || n != 0 {
		t.Fatalf("sendMarks on the old read = %d, %v; want 0", n, err)
	}
	tl.rs.marks().began = time.Time{} // the next poll reads the document again
	if n, err := tl.sendMarks(ctx); err != nil || n != 0 {
		t.Errorf("sendMarks on a read holding erin's watermark, already sent from the log = %d, %v; want 0 (sent once)", n, err)
	}
}

// TestTail_MarksAfterForgetting: forgetting a watermark the document
// dropped only ever makes the stream send more, never less: the stream's
// record decides what is "higher", and a forgotten subject's next raise
// (even one lower than the forgotten watermark) is sent; a read that fails
// forgets nothing; a document the store lost and got back is sent again
// (verifiers apply a watermark idempotently).
func TestTail_MarksAfterForgetting(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	all := stream.Watermark{All: true, IssuedBefore: t0}
	erin := func(d time.Duration) stream.Watermark {
		return stream.Watermark{Subject: "erin", IssuedBefore: t0.Add(d)}
	}
	type step struct {
		doc  []stream.Watermark // the document this read finds
		fail bool               // the read fails instead
		sent int
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"a raise after the document dropped the subject", []step{
			{doc: []stream.Watermark{all, erin(5 * time.Second)}, sent: 1},
			{doc: []stream.Watermark{all}, sent: 0},
			{doc: []stream.Watermark{all, erin(time.Second)}, sent: 1},
			{doc: []stream.Watermark{all, erin(time.Second)}, sent: 0},
		}},
		{"a failed read forgets nothing", []step{
			{doc: []stream.Watermark{all, erin(time.Second)}, sent: 1},
			{fail: true, sent: 0},
			{doc: []stream.Watermark{all, erin(time.Second)}, sent: 0},
		}},
		{"a document lost and written back", []step{
			{doc: []stream.Watermark{all, erin(time.Second)}, sent: 1},
			{doc: nil, sent: 0},
			{doc: []stream.Watermark{all, erin(time.Second)}, sent: 2},
			{doc: []stream.Watermark{all, erin(2 * time.Second)}, sent: 1},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc := &marksDoc{}
			doc.set(all)
			tl := marksTail(doc, time.Nanosecond) // every poll reads the document again
			if _, err := tl.sendMarks(t.Context()); err != nil {
				t.Fatal(err)
			}
			for i, s := range tc.steps {
				doc.fail(nil)
				if s.fail {
					doc.fail(errors.New("store unavailable"))
				} else {
					doc.set(s.doc...)
				}
				if n, err := tl.sendMarks(t.Context()); err != nil || n != s.sent {
					t.Fatalf("step %d: sendMarks = %d, %v; want %d sent (stream's record %v)", i, n, err, s.sent, tl.marks)
				}
			}
		})
	}
}
