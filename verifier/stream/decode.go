package stream

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// Limits of the decoder: a line (field) longer than MaxLine, or an event
// whose data is larger than MaxData, is an error rather than a truncation.
const (
	MaxLine = 64 << 10
	MaxData = 1 << 20
)

// Block is one dispatched SSE block: an event (Name and Data set), or a
// heartbeat (Comment set, no data), either of which may carry an ID.
type Block struct {
	Name    string // the `event:` field; "" when the block had none
	ID      string // the `id:` field; "" when the block had none
	Data    []byte // the `data:` lines joined by "\n"; nil when none
	Comment bool   // the block had a comment line (a heartbeat)
}

// ErrMalformed: the input is not a revocation stream (a line that is too
// long, an unknown field, bytes that are not text, a cut-off block).
var ErrMalformed = errors.New("malformed event stream")

// Decoder reads SSE blocks (the WHATWG "text/event-stream" format) from a
// response body. It is not safe for concurrent use.
type Decoder struct {
	r      *bufio.Reader
	inside bool // past the stream's first line
}

// NewDecoder returns a decoder reading r.
func NewDecoder(r io.Reader) *Decoder { return &Decoder{r: bufio.NewReaderSize(r, 16<<10)} }

// Next returns the next block. At a clean end of input (after a blank
// line) it returns io.EOF; input that ends inside a block, or breaks the
// format, returns an error matching ErrMalformed. Unlike a browser it
// refuses unknown fields: a revocation stream never sends them, and a
// server that does is not one.
func (d *Decoder) Next() (Block, error) {
	var b Block
	started := false
	for {
		line, err := d.line()
		if err == io.EOF {
			if started {
				return Block{}, fmt.Errorf("%w: input ends inside a block", ErrMalformed)
			}
			return Block{}, io.EOF
		} else if err != nil {
			return Block{}, err
		}
		if len(line) == 0 {
			if started {
				return b, nil
			}
			continue
		}
		started = true
		if line[0] == ':' {
			b.Comment = true
			continue
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(name) {
		case "event":
			b.Name = string(value)
		case "id":
			if bytes.IndexByte(value, 0) >= 0 {
				return Block{}, fmt.Errorf("%w: NUL in id", ErrMalformed)
			}
			b.ID = string(value)
		case "data":
			if b.Data != nil {
				b.Data = append(b.Data, '\n')
			} else {
				b.Data = []byte{}
			}
			if len(b.Data)+len(value) > MaxData {
				return Block{}, fmt.Errorf("%w: event data over %d bytes", ErrMalformed, MaxData)
			}
			b.Data = append(b.Data, value...)
		case "retry":
		default:
			return Block{}, fmt.Errorf("%w: unknown field %.32q", ErrMalformed, name)
		}
	}
}

// line reads one line without its terminator (LF, CRLF or CR-less LF).
func (d *Decoder) line() ([]byte, error) {
	var out []byte
	for {
		chunk, err := d.r.ReadSlice('\n')
		// Room for the terminator and the first line's byte order mark;
		// the line itself is measured once they are taken off.
		if len(out)+len(chunk) > MaxLine+len("\ufeff\r\n") {
			return nil, fmt.Errorf("%w: line over %d bytes", ErrMalformed, MaxLine)
		}
		out = append(out, chunk...)
		switch {
		case err == nil:
			out = bytes.TrimSuffix(out[:len(out)-1], []byte("\r"))
			if !d.inside {
				// The format ignores one byte order mark at the start of the
				// stream (WHATWG HTML, "Parsing an event stream"), as the
				// Node verifier's decoder does; anywhere else it is text.
				d.inside = true
				out = bytes.TrimPrefix(out, []byte("\ufeff"))
			}
			if len(out) > MaxLine {
				return nil, fmt.Errorf("%w: line over %d bytes", ErrMalformed, MaxLine)
			}
			if !utf8Valid(out) {
				return nil, fmt.Errorf("%w: not UTF-8 text", ErrMalformed)
			}
			return out, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF:
			if !d.inside {
				out = bytes.TrimPrefix(out, []byte("\ufeff")) // a stream of only a byte order mark is empty
			}
			if len(out) > 0 {
				return nil, fmt.Errorf("%w: input ends inside a line", ErrMalformed)
			}
			return nil, io.EOF
		default:
			return nil, err
		}
	}
}

func utf8Valid(b []byte) bool { return utf8.Valid(b) }
