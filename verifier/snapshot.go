package verifier

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/sessiond/sessiond/verifier/stream"
)

// maxSnapshotElement bounds the JSON of one snapshot entry (a revocation
// is about 170 bytes, and at most 1.8 KiB with a 256-byte subject all
// escaped), and of the rest of the document in all (the cursor, the
// brackets, unknown or repeated members), as the Node SDK's: the decoder
// holds no more than this of the document at a time, and an endless run
// of members ends.
const maxSnapshotElement = 64 << 10

// errSnapshotTooLarge: the snapshot has more entries than
// Options.MaxSnapshotEntries.
var errSnapshotTooLarge = errors.New("more entries than MaxSnapshotEntries")

// snapshotState is a decoded snapshot: revoked session IDs with their
// until (the latest when one repeats), the watermarks, the cursor.
type snapshotState struct {
	sessions map[string]time.Time
	marks    []stream.Watermark
	cursor   string
}

// window is a reader that lets the decoder read no further than end,
// which the decoder moves to max bytes past where each entry starts, and
// outside the arrays to max bytes past what the arrays hold: one entry, a
// run of whitespace, or the rest of the document over that is refused
// before it is read, and an endless document ends at maxEntries entries.
type window struct {
	r    io.Reader
	read int64 // bytes read so far
	end  int64 // no reading past this
	max  int64
}

func (w *window) Read(p []byte) (int, error) {
	if w.read >= w.end {
		return 0, fmt.Errorf("an element over %d bytes", w.max)
	}
	if rest := w.end - w.read; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := w.r.Read(p)
	w.read += int64(n)
	return n, err
}

// decodeSnapshot reads a snapshot document (stream.Snapshot) entry by
// entry from r, keeping for each revocation only its session ID and
// until. It checks what stream.Snapshot's decoding and Validate check:
// each of revocations, watermarks and cursor present, every entry valid,
// nothing after the document; unknown members are skipped.
func decodeSnapshot(r io.Reader, maxEntries int) (snapshotState, error) {
	win := &window{r: r, max: maxSnapshotElement}
	dec := json.NewDecoder(win)
	// Called where each element starts: the decoder may read up to one
	// element past it (what it has read ahead counts).
	next := func() { win.end = dec.InputOffset() + win.max }
	// inner is how many bytes lie inside the arrays read so far, between
	// their brackets; rest is called where a part of the document outside
	// them starts: all of those parts together are at most max bytes.
	var inner int64
	rest := func() { win.end = inner + win.max }
	rest()
	out := snapshotState{}
	// Entries of a repeated member count with the earlier ones', as in
	// the Node SDK: no run of members is endless.
	entries := 0
	delim := func(want json.Delim) error {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); !ok || d != want {
			return fmt.Errorf("want %v, have %v", want, tok)
		}
		return nil
	}
	if err := delim('{'); err != nil {
		return out, err
	}
	var haveRevs, haveMarks, haveCursor bool
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return out, err
		}
		key, _ := tok.(string)
		switch key {
		case "revocations":
			// A member repeated: the last one counts, as in json.Unmarshal.
			haveRevs, out.sessions = true, map[string]time.Time{}
			if err := decodeArray(dec, next, rest, &inner, func() error {
				var rv stream.Revoked
				if err := dec.Decode(&rv); err != nil {
					return err
				}
				if err := rv.Validate(); err != nil {
					return err
				}
				if entries++; entries > maxEntries {
					return errSnapshotTooLarge
				}
				if old, ok := out.sessions[rv.SessionID]; !ok || rv.Until.After(old) {
					out.sessions[rv.SessionID] = rv.Until
				}
				return nil
			}); err != nil {
				return out, err
			}
		case "watermarks":
			haveMarks, out.marks = true, []stream.Watermark{}
			if err := decodeArray(dec, next, rest, &inner, func() error {
				var w stream.Watermark
				if err := dec.Decode(&w); err != nil {
					return err
				}
				if err := w.Validate(); err != nil {
					return err
				}
				if entries++; entries > maxEntries {
					return errSnapshotTooLarge
				}
				out.marks = append(out.marks, w)
				return nil
			}); err != nil {
				return out, err
			}
		case "cursor":
			haveCursor = true
			if err := dec.Decode(&out.cursor); err != nil {
				return out, err
			}
		default:
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return out, err
			}
		}
	}
	if err := delim('}'); err != nil {
		return out, err
	}
	// Only the body's end proves nothing follows. A read that fails while
	// it is awaited (the progress timer, a cut connection, the window) is
	// that failure: a valid token or a syntax error is what the server
	// wrote after the document.
	var syntax *json.SyntaxError
	if _, err := dec.Token(); err == nil || errors.As(err, &syntax) {
		return out, errors.New("data after the document")
	} else if err != io.EOF {
		return out, err
	}
	if !haveRevs || !haveMarks || out.sessions == nil || out.marks == nil {
		return out, errors.New("revocations or watermarks missing")
	}
	if _, _, err := stream.ParseCursor(out.cursor); !haveCursor || err != nil {
		return out, fmt.Errorf("cursor: %w", stream.ErrBadCursor)
	}
	return out, nil
}

// decodeArray reads a JSON array with each element read by elem, and adds
// the bytes between its brackets to inner; null is refused, as an array
// the snapshot must have. next is called where each element starts, rest
// where the array ends.
func decodeArray(dec *json.Decoder, next, rest func(), inner *int64, elem func() error) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != '[' {
		return fmt.Errorf("want an array, have %v", tok)
	}
	start := dec.InputOffset()
	for dec.More() {
		next()
		if err := elem(); err != nil {
			return err
		}
	}
	*inner += dec.InputOffset() - start
	rest()
	_, err = dec.Token() // ']'
	return err
}
