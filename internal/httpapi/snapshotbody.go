package httpapi

import (
	"bufio"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond/verifier/stream"
)

// snapshotWriter writes the snapshot document (stream.Snapshot, the same
// bytes json.Marshal gives it, newline included) as it is encoded, through
// gzip when the request accepts it. The first error sticks; later writes
// do nothing.
type snapshotWriter struct {
	w     http.ResponseWriter
	buf   *bufio.Writer
	z     *gzip.Writer // nil: identity
	first bool         // no revocation written yet
	err   error
}

// snapshotBuffer is the write buffer: large enough that a write reaches
// the connection (or gzip) every couple of hundred entries, not each.
const snapshotBuffer = 32 << 10

// newSnapshotWriter sends the status and returns the writer of the body.
// With a positive timeout each write to the connection gets that long
// from its start (progressWriter).
func newSnapshotWriter(w http.ResponseWriter, r *http.Request, rc *http.ResponseController, timeout time.Duration) *snapshotWriter {
	gz := snapshotHeaders(w.Header(), r)
	sw := &snapshotWriter{w: w, first: true}
	var out io.Writer = w
	if timeout > 0 {
		out = progressWriter{w: w, rc: rc, timeout: timeout}
	}
	if gz {
		// BestSpeed: a tenth of the JSON at a fraction of the CPU of the
		// default level (docs/PERFORMANCE.md, "A large store").
		sw.z, _ = gzip.NewWriterLevel(out, gzip.BestSpeed)
		out = sw.z
	}
	sw.buf = bufio.NewWriterSize(out, snapshotBuffer)
	w.WriteHeader(http.StatusOK)
	return sw
}

// snapshotHeaders sets the snapshot answer's headers for r, a GET's or a
// HEAD's alike, and reports whether its body is gzipped.
func snapshotHeaders(h http.Header, r *http.Request) (gz bool) {
	h.Set("Content-Type", "application/json")
	// Caches in between must not hand a gzipped body to a client that did
	// not ask for one, whichever this answer is.
	h.Add("Vary", "Accept-Encoding")
	if acceptsGzip(r.Header.Values("Accept-Encoding")) {
		h.Set("Content-Encoding", "gzip")
		return true
	}
	return false
}

// progressWriter writes to the connection progressChunk bytes at a time,
// each with a deadline timeout from its start: the whole document may
// take as long as the client takes to read it, so long as it reads that
// much each timeout.
type progressWriter struct {
	w       io.Writer
	rc      *http.ResponseController
	timeout time.Duration
}

// progressChunk is the most a client must read each write timeout (4 KiB
// each 15 s by default: a link of 273 bytes a second).
const progressChunk = 4 << 10

func (p progressWriter) Write(b []byte) (int, error) {
	n := 0
	for len(b) > 0 {
		c := b[:min(len(b), progressChunk)]
		_ = p.rc.SetWriteDeadline(time.Now().Add(p.timeout))
		m, err := p.w.Write(c)
		n += m
		if err != nil {
			return n, err
		}
		b = b[m:]
	}
	return n, nil
}

func (sw *snapshotWriter) write(b []byte) {
	if sw.err == nil {
		_, sw.err = sw.buf.Write(b)
	}
}

func (sw *snapshotWriter) begin() { sw.write([]byte(`{"revocations":[`)) }

// revoked writes one entry of the revocations array.
func (sw *snapshotWriter) revoked(ev stream.Revoked) {
	if sw.err != nil {
		return
	}
	b, err := json.Marshal(ev)
	if err != nil {
		sw.err = err
		return
	}
	if !sw.first {
		sw.write([]byte{','})
	}
	sw.first = false
	sw.write(b)
}

// end writes the watermarks and the cursor, and flushes everything.
func (sw *snapshotWriter) end(marks []stream.Watermark, cursor string) error {
	sw.write([]byte(`],"watermarks":`))
	if b, err := json.Marshal(marks); err != nil {
		sw.err = err
	} else {
		sw.write(b)
	}
	sw.write([]byte(`,"cursor":`))
	b, _ := json.Marshal(cursor)
	sw.write(b)
	sw.write([]byte("}\n"))
	if sw.err == nil {
		sw.err = sw.buf.Flush()
	}
	if sw.z != nil {
		if err := sw.z.Close(); sw.err == nil {
			sw.err = err
		}
	}
	return sw.err
}

// acceptsGzip reports whether Accept-Encoding field values take gzip
// (RFC 9110 §12.5.3): gzip, x-gzip or * listed with a weight above zero,
// and gzip not refused by name.
func acceptsGzip(values []string) bool {
	named, star := false, false
	for _, v := range values {
		for _, item := range strings.Split(v, ",") {
			coding, params, _ := strings.Cut(item, ";")
			coding = strings.ToLower(strings.TrimSpace(coding))
			q := 1.0
			for _, p := range strings.Split(params, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					if f, err := strconv.ParseFloat(strings.TrimSpace(val), 64); err == nil {
						q = f
					} else {
						q = 0
					}
				}
			}
			switch coding {
			case "gzip", "x-gzip":
				if q <= 0 {
					return false
				}
				named = true
			case "*":
				star = q > 0
			}
		}
	}
	return named || star
}
