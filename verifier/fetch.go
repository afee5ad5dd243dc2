package verifier

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"sync"
	"time"
)

// errNoProgress: nothing arrived for the request timeout (progress).
var errNoProgress = errors.New("no progress")

// openDocument GETs one JSON document from the server (the snapshot or
// the JWKS) and returns its body for the caller to read and close. Both
// documents are fetched and checked the same way; what names the document
// in errors. The request leaves Accept-Encoding to the transport, which
// asks for gzip and decompresses (unless DisableCompression is set).
//
// The timeout (Options.HTTPClient's Timeout) bounds the wait for the
// answer's headers, then the wait for each progressChunk of the body (or
// its end), not the whole transfer: a large snapshot over a slow link
// loads so long as its bytes keep coming, and one whose bytes stop, or
// trickle, fails about the timeout later.
func (v *Verifier) openDocument(ctx context.Context, what, path string, auth bool, types ...string) (io.ReadCloser, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.base+path, nil)
	if err != nil {
		cancel(nil)
		return nil, fmt.Errorf("verifier: %s: %w", what, err)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+string(v.opts.APIKey))
	}
	req.Header.Set("Accept", "application/json")
	p := newProgress(v.timeout, cancel)
	resp, err := v.hc.Do(req)
	if err != nil {
		p.stop()
		cancel(nil)
		if errors.Is(context.Cause(ctx), errNoProgress) {
			return nil, fmt.Errorf("verifier: %s: no answer for %s", what, v.timeout)
		}
		return nil, fmt.Errorf("verifier: %s: %w", what, err)
	}
	fail := func(err error) (io.ReadCloser, error) {
		p.stop()
		resp.Body.Close()
		cancel(nil)
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return fail(fmt.Errorf("verifier: %s: status %d", what, resp.StatusCode))
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); !slices.Contains(types, mt) {
		return fail(fmt.Errorf("verifier: %s: content type %q is not JSON", what, mt))
	}
	p.reset()
	return &progressBody{body: resp.Body, p: p, ctx: ctx, cancel: cancel, timeout: v.timeout}, nil
}

// progress cancels a request when its timer fires: the timeout from its
// start, or from the last bytes read (reset). A zero timeout never fires.
//
// A fire is not yet a stall: a verifier starved of CPU (a loaded
// machine) wakes with its timer due and the server's bytes already
// arrived but not yet read, and the timer's goroutine may run before
// the reader's. So the first fire only re-arms the timer for graceTurn, which
// lets the scheduler poll the network and the reader take what has
// arrived; if that completes a progressChunk (reset) the wait goes on,
// else the second fire cancels. The grace is a turn, not more time for
// the server: 4 KiB that complete only within it pass, later ones fail.
type progress struct {
	timer  timer
	d      time.Duration
	cancel context.CancelCauseFunc

	mu     sync.Mutex
	due    time.Time // when the timer is next due: a fire before it is stale
	graced bool      // the timer fired once since the last reset
	// stopped: the download ended; a fire under way then would set the
	// timer again (the grace) or cancel a request already done with.
	stopped bool
}

// graceTurn is how long a fire waits for the reader to take bytes that
// arrived before it: enough for the scheduler to poll the network once.
const graceTurn = 20 * time.Millisecond

// timer is what progress uses of a *time.Timer (a fake in tests).
type timer interface {
	Reset(d time.Duration) bool
	Stop() bool
}

func newProgress(d time.Duration, cancel context.CancelCauseFunc) *progress {
	p := &progress{d: d, cancel: cancel, due: time.Now().Add(d)}
	if d > 0 {
		p.mu.Lock() // fire uses p.timer: it may run before the assignment
		p.timer = time.AfterFunc(d, p.fire)
		p.mu.Unlock()
	}
	return p
}

func (p *progress) reset() {
	if p.timer != nil {
		p.mu.Lock()
		p.due, p.graced = time.Now().Add(p.d), false
		p.timer.Reset(p.d)
		p.mu.Unlock()
	}
}

// fire is the timer's function: a grace turn first, then the cancel.
func (p *progress) fire() {
	p.mu.Lock()
	switch {
	case p.stopped || time.Now().Before(p.due):
		// A fire that started before a reset moved the timer on, or
		// before the download ended.
	case !p.graced:
		p.graced, p.due = true, time.Now().Add(graceTurn)
		p.timer.Reset(graceTurn)
	default:
		p.cancel(errNoProgress)
	}
	p.mu.Unlock()
}

func (p *progress) stop() {
	if p.timer != nil {
		p.mu.Lock()
		p.stopped = true
		p.timer.Stop()
		p.mu.Unlock()
	}
}

// progressChunk is the least of a body that must arrive each timeout, as
// the server asks of a client reading the snapshot: a byte now and then
// would otherwise hold a fetch forever (about 410 bytes a second with the
// default 10 s, decompressed).
const progressChunk = 4 << 10

// progressBody is a document's body whose reads move its progress timer
// on, each progressChunk; a read cut by the timer says so.
type progressBody struct {
	body    io.ReadCloser
	p       *progress
	ctx     context.Context
	cancel  context.CancelCauseFunc
	timeout time.Duration
	got     int // bytes read towards the next progressChunk
	// since: bytes read since the timer last moved on. Not got: what a
	// read brought past a chunk arrived as the timer moved on, so a body
	// that stops after it brought no bytes for the timeout.
	since int
}

func (b *progressBody) Read(buf []byte) (int, error) {
	n, err := b.body.Read(buf)
	b.since += n
	if b.got += n; b.got >= progressChunk {
		b.p.reset()
		b.since = 0
		// What this read brought past the chunk counts towards the next:
		// dropped, a body read in pieces that straddle the chunks would
		// be held to up to twice progressChunk each timeout.
		b.got %= progressChunk
	}
	if err != nil && err != io.EOF && errors.Is(context.Cause(b.ctx), errNoProgress) {
		if b.since == 0 {
			err = fmt.Errorf("no bytes for %s", b.timeout)
		} else {
			err = fmt.Errorf("less than 4 KiB for %s", b.timeout)
		}
	}
	return n, err
}

func (b *progressBody) Close() error {
	b.p.stop()
	err := b.body.Close()
	b.cancel(nil)
	return err
}

// fetchDocument is openDocument reading the whole body, at most limit
// bytes.
func (v *Verifier) fetchDocument(ctx context.Context, what, path string, auth bool, limit int, types ...string) ([]byte, error) {
	rc, err := v.openDocument(ctx, what, path, auth, types...)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("verifier: %s: %w", what, err)
	}
	if len(body) > limit {
		return nil, fmt.Errorf("verifier: %s: over %d bytes", what, limit)
	}
	return body, nil
}
