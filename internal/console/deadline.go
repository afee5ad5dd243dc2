package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"
)

// A store call does not always end when its context does: rueidis makes a
// call wait, whatever its context, while another caller opens the
// connection it needs (up to the dial timeout, 5 s, against a frozen
// Redis; redisstore now cuts such calls at their deadline, but only once
// one call has gone unanswered), and a driver may not watch its context
// at all. The console's answer then came after the server's write
// timeout, which cut the connection: an empty response, which Chromium
// retried silently. So a
// request under Options.RequestDeadline runs its handler apart, into a
// buffer, and once the deadline has passed (and a grace for the handler's
// own 503 to arrive) the console answers for it and stops waiting.

// answerGrace is how long after the request's deadline the console still
// waits for the handler's own answer (which names what failed): a quarter
// of the margin RequestDeadline leaves to the write timeout (a third of
// the deadline, at most one second), so the console's 503 is written well
// within it.
func answerGrace(deadline time.Duration) time.Duration {
	return min(deadline/12, 250*time.Millisecond)
}

// unavailableMessage says why the console answered without the store.
const unavailableMessage = "The store did not answer in time; see the server log."

// answerBy serves r with h, answering 503 itself if h has not answered
// within grace of r's deadline (and nothing if r's client went away). h
// runs in its own goroutine, on a copy of the body read beforehand (a
// handler may not read the body once ServeHTTP returned); c.Shutdown waits
// for the ones still running.
func (c *Console) answerBy(w http.ResponseWriter, r *http.Request, grace time.Duration, h http.Handler) {
	if r.Body != nil && r.Body != http.NoBody {
		b, err := io.ReadAll(r.Body)
		r.Body = readBack{Reader: bytes.NewReader(b), err: err}
	}
	bw := &bufferedWriter{header: w.Header().Clone()}
	done := make(chan struct{})
	var panicked any
	end := c.calls.start(r.Method + " " + r.URL.Path)
	go func() {
		defer end()
		defer close(done)
		// A panic here would end the process: hand it to net/http's
		// recovery in ServeHTTP's goroutine instead.
		defer func() {
			if panicked = recover(); panicked != nil && bw.isAbandoned() {
				c.log.Error("console: panic in a handler answered for", "path", r.URL.Path, "panic", fmt.Sprint(panicked))
			}
		}()
		h.ServeHTTP(bw, r)
	}()
	answer := func() {
		if panicked != nil {
			panic(panicked)
		}
		bw.flushTo(w)
	}
	select {
	case <-done:
		answer()
		return
	case <-r.Context().Done():
	}
	if errors.Is(r.Context().Err(), context.Canceled) && bw.abandon() {
		return // the client went away: nobody to answer
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-done:
		answer()
		return
	case <-t.C:
	}
	if !bw.abandon() {
		<-done // h is writing its answer: let it finish
		answer()
		return
	}
	c.log.ErrorContext(r.Context(), "console: answered without the store: a store call outlived the request's deadline",
		"method", r.Method, "path", r.URL.Path)
	w.Header().Set("Retry-After", "1")
	c.pages.render(w, r, http.StatusServiceUnavailable, "unavailable", pageData{Title: "Store unavailable", Error: unavailableMessage,
		Navigation: true, Data: unavailableView{Retry: retryLink(r)}})
}

// unavailableView is the page answered without the store: a link to load
// the page asked for again, "" for an action.
type unavailableView struct{ Retry string }

// retryLink is the page r asked for, if a page of the console's: an
// action (a form sent) is not sent again from a link, as it may have been
// done.
func retryLink(r *http.Request) string {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return ""
	}
	return consolePage(r.URL.RequestURI())
}

// readBack is a request body read beforehand, with the error its reading
// ended on (http.MaxBytesError) once it is read again.
type readBack struct {
	*bytes.Reader
	err error
}

func (b readBack) Read(p []byte) (int, error) {
	n, err := b.Reader.Read(p)
	if errors.Is(err, io.EOF) && b.err != nil {
		err = b.err
	}
	return n, err
}

func (readBack) Close() error { return nil }

// bufferedWriter holds a handler's answer until answerBy writes it; once
// abandoned, it drops what the handler writes.
type bufferedWriter struct {
	mu        sync.Mutex
	header    http.Header
	status    int
	body      bytes.Buffer
	abandoned bool
	wrote     bool // the handler answered (WriteHeader or Write)
}

func (b *bufferedWriter) Header() http.Header { return b.header }

func (b *bufferedWriter) WriteHeader(status int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.status == 0 {
		b.status = status
	}
	b.wrote = true
}

func (b *bufferedWriter) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.status == 0 {
		b.status = http.StatusOK
	}
	b.wrote = true
	if b.abandoned {
		return len(p), nil
	}
	return b.body.Write(p)
}

// abandon reports whether the handler had not begun its answer, and if
// so drops whatever it writes from now on.
func (b *bufferedWriter) abandon() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.wrote {
		return false
	}
	b.abandoned = true
	return true
}

func (b *bufferedWriter) isAbandoned() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.abandoned
}

func (b *bufferedWriter) flushTo(w http.ResponseWriter) {
	b.mu.Lock()
	defer b.mu.Unlock()
	h := w.Header()
	clear(h)
	maps.Copy(h, b.header)
	if b.status == 0 {
		b.status = http.StatusOK
	}
	w.WriteHeader(b.status)
	_, _ = w.Write(b.body.Bytes())
}

// handlers are the handlers answerBy runs, by the request each serves.
type handlers struct {
	mu      sync.Mutex
	next    uint64
	running map[uint64]string // method and path
	ended   chan struct{}     // closed, and replaced, when one ends
}

// start records a handler for what and returns the func that ends it.
func (h *handlers) start(what string) (end func()) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.running == nil {
		h.running, h.ended = map[uint64]string{}, make(chan struct{})
	}
	h.next++
	id := h.next
	h.running[id] = what
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		delete(h.running, id)
		close(h.ended)
		h.ended = make(chan struct{})
	}
}

// wait returns once no handler runs (nil), or when ctx ends with what
// those still running serve, sorted.
func (h *handlers) wait(ctx context.Context) []string {
	for {
		h.mu.Lock()
		if len(h.running) == 0 {
			h.mu.Unlock()
			return nil
		}
		ended := h.ended
		h.mu.Unlock()
		select {
		case <-ended:
		case <-ctx.Done():
			h.mu.Lock()
			defer h.mu.Unlock()
			return slices.Sorted(maps.Values(h.running))
		}
	}
}
