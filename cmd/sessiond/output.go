package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"golang.org/x/text/width"

	"github.com/sessiond/sessiond/internal/textsafe"
)

// Everything the CLI prints that came from the store or the server (a
// User-Agent, a subject, an API key's name) passes through clean or
// writeJSON first: a value with terminal control sequences must not be able
// to rewrite the operator's screen.

// clean returns s with every rune textsafe.Unsafe reports (controls,
// bidi and other format characters, letters and selectors that show as
// nothing) and every invalid byte written as a visible Go-style escape
// (\x1b, \u202e, \U000e0041), so a table cell stays one line that shows
// what was stored. The console's pages escape the same runes (its
// printable), in their own format.
func clean(s string) string {
	if textsafe.Safe(s) {
		return s
	}
	var b strings.Builder
	escape(&b, s, false)
	return b.String()
}

// escape writes s to b as clean returns it; quoted, its backslashes and
// double quotes escaped too, the inside of a Go string literal.
func escape(b *strings.Builder, s string, quoted bool) {
	prev := rune(-1)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n <= 1:
			fmt.Fprintf(b, `\x%02x`, s[i])
		case quoted && (r == '\\' || r == '"'):
			b.WriteByte('\\')
			b.WriteRune(r)
		case !textsafe.Unsafe(prev, r):
			b.WriteString(s[i : i+n])
		case r < 0x80:
			fmt.Fprintf(b, `\x%02x`, r)
		case r > 0xffff:
			fmt.Fprintf(b, `\U%08x`, r) // \u and five digits would read as four and a digit
		default:
			fmt.Fprintf(b, `\u%04x`, r)
		}
		prev = r
		i += n
	}
}

// cell is a table cell: s as it is when it shows as stored, else s quoted
// as a Go string literal (quoted): when clean would escape a rune of it,
// when it has spaces a reader cannot see or count (textsafe.HiddenSpaces:
// "alice " passes for "alice", "a  b" for two columns), or when it begins
// with a double quote and would pass for a quoted cell. Quoted, its
// backslashes are escaped too, so that a zero-width space (`"alice\u200b"`)
// does not pass for the six characters `\u200b` typed in a subject
// (`alice\u200b`). Subjects are exact bytes: these are other users.
func cell(s string) string {
	if textsafe.Safe(s) && !textsafe.HiddenSpaces(s) && !strings.HasPrefix(s, `"`) {
		return s
	}
	return quoted(s)
}

// quoted is s as a Go string literal with clean's escapes (escape's):
// strconv.Unquote reads it back as stored.
func quoted(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	escape(&b, s, true)
	b.WriteByte('"')
	return b.String()
}

// unsafeAt is the length of the rune at s[i:] and whether clean escapes
// it: an invalid byte, or a rune textsafe.Unsafe reports after the one
// before it.
func unsafeAt(s string, i int) (int, bool) {
	r, n := utf8.DecodeRuneInString(s[i:])
	prev := rune(-1)
	if i > 0 {
		prev, _ = utf8.DecodeLastRuneInString(s[:i])
	}
	return n, r == utf8.RuneError && n <= 1 || textsafe.Unsafe(prev, r)
}

// table writes aligned columns; every cell is cleaned (cell). The rows are held
// until flush and aligned together, as text/tabwriter aligned them
// (minimum width 2, padding 2, the last cell of a row not padded, a
// column ended by a row without it), but by the columns a terminal shows
// each cell in (displayWidth): tabwriter counts runes, and a CJK or emoji
// cell pushed the columns after it out of line.
type table struct {
	w    io.Writer
	rows [][]string
}

func newTable(w io.Writer, header ...string) *table {
	t := &table{w: w}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	r := make([]string, len(cells))
	for i, c := range cells {
		r[i] = cell(c)
	}
	t.rows = append(t.rows, r)
}

// tablePadding is the spaces at least between two columns.
const tablePadding = 2

// flush writes the rows held and forgets them. Each cell but a row's last
// is padded to the widest cell of its column block, tabwriter's: the run
// of adjacent rows that have a cell after it in that column; a row
// without one (a shorter row) ends the block, and the rows after it are
// aligned anew.
func (t *table) flush() error {
	// pad holds each padded cell's display width, then the spaces after
	// it; rows' padded cells one after another (a row's last is never
	// padded).
	var pad []int
	at := make([]int, len(t.rows)+1) // row i's padded cells are pad[at[i]:at[i+1]]
	cols := 0
	for i, r := range t.rows {
		for _, c := range r[:max(len(r)-1, 0)] {
			pad = append(pad, displayWidth(c))
		}
		at[i+1] = len(pad)
		cols = max(cols, len(r)-1)
	}
	for c := range cols {
		for i := 0; i < len(t.rows); {
			if at[i+1]-at[i] <= c {
				i++
				continue
			}
			j, widest := i, 0
			for ; j < len(t.rows) && at[j+1]-at[j] > c; j++ {
				widest = max(widest, pad[at[j]+c])
			}
			for ; i < j; i++ {
				pad[at[i]+c] = widest - pad[at[i]+c] + tablePadding
			}
		}
	}
	bw := bufio.NewWriter(t.w)
	for i, r := range t.rows {
		for j, c := range r {
			bw.WriteString(c)
			if j < len(r)-1 {
				writeSpaces(bw, pad[at[i]+j])
			}
		}
		bw.WriteByte('\n')
	}
	t.rows = t.rows[:0]
	return bw.Flush()
}

const spaces = "                                "

func writeSpaces(w *bufio.Writer, n int) {
	for ; n > len(spaces); n -= len(spaces) {
		w.WriteString(spaces)
	}
	w.WriteString(spaces[:n])
}

// displayWidth is the number of columns a terminal shows cleaned text in:
// two for an East Asian wide or full-width rune (CJK, most emoji), none
// for a combining mark, one for the rest. An emoji presentation selector
// (U+FE0F, kept only after a symbol: textsafe.Unsafe) shows the one-column
// symbol before it as an emoji, two columns, as terminals that follow
// Unicode's emoji rules do; older ones differ on it.
func displayWidth(s string) int {
	if ascii(s) {
		return len(s) // a cleaned ASCII cell holds printable runes only
	}
	n, last := 0, 0
	for _, r := range s {
		w := 1
		switch {
		case r == '\ufe0f' && last == 1:
			w = 1 // the symbol before it, from one column to two
		case unicode.In(r, unicode.Mn, unicode.Me):
			w = 0
		default:
			switch width.LookupRune(r).Kind() {
			case width.EastAsianWide, width.EastAsianFullwidth:
				w = 2
			}
		}
		n += w
		last = w
	}
	return n
}

func ascii(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

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

// writeJSON writes v as one line of JSON, jsonEscaped.
func writeJSON(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	b = append(jsonEscaped(b), '\n')
	_, err = w.Write(b)
	return err
}

// jsonEscaped is JSON text b (valid UTF-8, as encoding/json writes it)
// with every rune textsafe.Unsafe reports written as a JSON escape
// (\u202e, a surrogate pair beyond U+FFFF): encoding/json escapes C0
// controls but not DEL, C1, bidi controls or the other runes clean
// escapes. The JSON stays valid and equal in meaning.
func jsonEscaped(b []byte) []byte {
	if textsafe.Safe(string(b)) {
		return b
	}
	var out bytes.Buffer
	prev := rune(-1)
	for _, r := range string(b) {
		unsafe := textsafe.Unsafe(prev, r)
		prev = r
		if unsafe {
			if r1, r2 := utf16.EncodeRune(r); r1 != utf8.RuneError {
				fmt.Fprintf(&out, `\u%04x\u%04x`, r1, r2)
			} else {
				fmt.Fprintf(&out, `\u%04x`, r)
			}
		} else {
			out.WriteRune(r)
		}
	}
	return out.Bytes()
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
	if v == "" || strings.ContainsAny(v, " \"=") || !textsafe.Safe(v) {
		v = strconv.Quote(v)
	}
	fmt.Fprintf(b, " %s=%s", clean(group+a.Key), clean(v))
}
