package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Everything the CLI prints that came from the store or the server (a
// User-Agent, a subject, an API key's name) passes through clean or
// writeJSON first: a value with terminal control sequences must not be able
// to rewrite the operator's screen.

// clean returns s with every control character (C0, DEL, C1), every bidi
// override or isolate and every invalid byte written as a visible Go-style
// escape (\x1b, \u202e), so a table cell stays one line that shows what
// was stored.
func clean(s string) string {
	if isClean(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x80 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func isClean(s string) bool {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 || unsafeRune(r) {
			return false
		}
		i += n
	}
	return true
}

// unsafeRune: controls, the invisible format characters that reorder or
// hide text (bidi controls, zero-width and other Cf runes), the line and
// paragraph separators, and the letters and marks that show as nothing
// (Unicode's other default ignorables: Hangul fillers, the combining
// grapheme joiner…), by which "alice\u3164" would pass for "alice". The
// console's pages escape the same runes (internal/console printable).
func unsafeRune(r rune) bool {
	return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '\u2028' || r == '\u2029' ||
		unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r)
}

// table writes aligned columns; every cell is cleaned.
type table struct {
	w    *tabwriter.Writer
	cols int
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{w: tabwriter.NewWriter(w, 2, 4, 2, ' ', 0), cols: len(header)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		if i > 0 {
			io.WriteString(t.w, "\t")
		}
		io.WriteString(t.w, clean(c))
	}
	io.WriteString(t.w, "\n")
}

func (t *table) flush() error { return t.w.Flush() }

// writeRows is the output of a list command: with asJSON one JSON object
// a row (as toJSON makes it), else an aligned table of header and each
// row's cells.
func writeRows[T any](w io.Writer, asJSON bool, rows []T, toJSON func(T) any, header []string, cells func(T) []string) error {
	o := rowsOut[T]{w: w, asJSON: asJSON, toJSON: toJSON, header: header, cells: cells}
	return o.write(rows)
}

// rowsOut is writeRows for rows that come in batches (pages): each batch
// is written as it comes, so that a listing of any length holds one batch
// in memory. The table's header is written once, and its columns are
// aligned within a batch.
type rowsOut[T any] struct {
	w      io.Writer
	asJSON bool
	toJSON func(T) any
	header []string
	cells  func(T) []string
	t      *table
}

func (o *rowsOut[T]) write(rows []T) error {
	if o.asJSON {
		for _, r := range rows {
			if err := writeJSON(o.w, o.toJSON(r)); err != nil {
				return err
			}
		}
		return nil
	}
	if o.t == nil {
		o.t = newTable(o.w, o.header...)
	}
	for _, r := range rows {
		o.t.row(o.cells(r)...)
	}
	return o.t.flush()
}

// writeJSON writes v as one line of JSON. encoding/json escapes C0
// controls but not DEL, C1 or bidi controls; those are escaped too, which
// keeps the JSON valid and equal in meaning.
func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if !isClean(string(b)) {
		var out bytes.Buffer
		for _, r := range string(b) { // valid UTF-8: json.Marshal wrote it
			if unsafeRune(r) {
				if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
					fmt.Fprintf(&out, `\u%04x\u%04x`, r1, r2)
				} else {
					fmt.Fprintf(&out, `\u%04x`, r)
				}
			} else {
				out.WriteRune(r)
			}
		}
		b = out.Bytes()
	}
	b = append(b, '\n')
	_, err = w.Write(b)
	return err
}

// plural is "1 session", "2 sessions".
func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// warnings is the slog.Handler of a store a command opens itself (keys,
// apikey): a record at Warn or above (Redis replicas that did not take a
// change, a database file others could read) is one line of text on
// stderr, "warning: " and the message, then its attributes as key=value,
// every part cleaned. Records below Warn are a server's log, not for an
// operator at a shell. Safe for concurrent use (a store's goroutines log).
type warnings struct {
	mu    *sync.Mutex
	w     io.Writer
	group string // the open groups, "a.b."
	attrs string // WithAttrs's, formatted
}

func newWarnings(w io.Writer) *slog.Logger {
	return slog.New(&warnings{mu: new(sync.Mutex), w: w})
}

func (h *warnings) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *warnings) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	if r.Level >= slog.LevelError {
		b.WriteString("error: ")
	} else {
		b.WriteString("warning: ")
	}
	b.WriteString(clean(r.Message))
	b.WriteString(h.attrs)
	r.Attrs(func(a slog.Attr) bool {
		writeAttr(&b, h.group, a)
		return true
	})
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *warnings) WithAttrs(as []slog.Attr) slog.Handler {
	var b strings.Builder
	for _, a := range as {
		writeAttr(&b, h.group, a)
	}
	c := *h
	c.attrs += b.String()
	return &c
}

func (h *warnings) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	c := *h
	c.group += name + "."
	return &c
}

// writeAttr writes " key=value" for a, a group's attributes each with the
// group's name before their key; a value with a space, a quote or an
// equals sign is quoted.
func writeAttr(b *strings.Builder, group string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		if a.Key != "" {
			group += a.Key + "."
		}
		for _, g := range a.Value.Group() {
			writeAttr(b, group, g)
		}
		return
	}
	v := a.Value.String()
	if v == "" || strings.ContainsAny(v, " \"=") || !isClean(v) {
		v = strconv.Quote(v)
	}
	fmt.Fprintf(b, " %s=%s", clean(group+a.Key), clean(v))
}
