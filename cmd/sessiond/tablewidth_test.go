package main

import (
	"bytes"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"text/tabwriter"
)

// TestTable_DisplayWidth: a table's columns line up on a terminal, where
// an East Asian wide letter or an emoji takes two columns (a symbol
// with the emoji presentation selector too, as an emoji) and a combining
// mark none: cells are padded by the width they show at, not by runes
// (text/tabwriter counts runes, so a CJK subject or key name pushed every
// column after it out of line).
func TestTable_DisplayWidth(t *testing.T) {
	for _, tc := range []struct {
		name string
		rows [][]string
		want string
	}{
		{"CJK", [][]string{{"NAME", "ID"}, {"日本語", "k1"}, {"ab", "k2"}},
			"NAME    ID\n日本語  k1\nab      k2\n"},
		{"emoji", [][]string{{"NAME", "ID"}, {"😀😀", "k1"}, {"abc", "k2"}},
			"NAME  ID\n😀😀  k1\nabc   k2\n"},
		{"full-width letters", [][]string{{"NAME", "ID"}, {"ａｌｉｃｅ", "k1"}, {"alice", "k2"}},
			"NAME        ID\nａｌｉｃｅ  k1\nalice       k2\n"},
		{"combining mark", [][]string{{"NAME", "ID"}, {"e\u0301te\u0301", "k1"}, {"abcd", "k2"}},
			"NAME  ID\ne\u0301te\u0301   k1\nabcd  k2\n"},
		{"emoji with its presentation selector", [][]string{{"NAME", "ID"}, {"\u2764\ufe0f", "k1"}, {"\u2764\ufe0e", "k2"}, {"ab", "k3"}},
			"NAME  ID\n\u2764\ufe0f    k1\n\u2764\ufe0e     k2\nab    k3\n"},
		{"escapes count as written", [][]string{{"NAME", "ID"}, {"a\u200bb", "k1"}, {"ab", "k2"}},
			"NAME        ID\n\"a\\u200bb\"  k1\nab          k2\n"},
		{"empty cells", [][]string{{"A", "", "C"}, {"", "", ""}},
			"A    C\n     \n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			tb := newTable(&b, tc.rows[0]...)
			for _, r := range tc.rows[1:] {
				tb.row(r...)
			}
			if err := tb.flush(); err != nil {
				t.Fatal(err)
			}
			if b.String() != tc.want {
				t.Errorf("table =\n%s; want\n%s(%q; want %q)", b.String(), tc.want, b.String(), tc.want)
			}
		})
	}
}

// TestTable_Spaces: a cell whose spaces a reader cannot see or count (at
// its start or end, two side by side: "alice " passes for "alice", and
// "a  b" for two columns) is quoted, Go-style, with clean's escapes and
// its quotes and backslashes escaped, so that it reads back as stored
// (strconv.Unquote); so is a cell that begins with a quote, which would
// otherwise pass for a quoted one. A space between two other runes
// stays as it is.
func TestTable_Spaces(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"one space inside", "alice bob", "alice bob"},
		{"trailing space", "alice ", `"alice "`},
		{"leading space", " alice", `" alice"`},
		{"only a space", " ", `" "`},
		{"two spaces inside", "alice  bob", `"alice  bob"`},
		{"with an escape", "alice\x1b ", `"alice\x1b "`},
		{"with a quote and a backslash", `a\b "c" `, `"a\\b \"c\" "`},
		{"beginning with a quote", `"alice "`, `"\"alice \""`},
		{"a quote inside", `al"ice`, `al"ice`},
		{"a backslash inside", `al\ice`, `al\ice`},
		{"no-break space", "alice\u00a0bob", `"alice\u00a0bob"`},
		{"ideographic space at the end", "山田\u3000", `"山田\u3000"`},
		{"an escape and a backslash", "a\\b\u200b", `"a\\b\u200b"`},
		{"a backslash sequence typed", `alice\u200b`, `alice\u200b`},
		{"empty", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tableOf([][]string{{tc.in}}); got != tc.want+"\n" {
				t.Errorf("table of %q = %q; want %q", tc.in, got, tc.want+"\n")
			}
			if got := cell(tc.in); got != tc.want {
				t.Errorf("cell(%q) = %q; want %q", tc.in, got, tc.want)
			}
			if q := cell(tc.in); strings.HasPrefix(q, `"`) {
				if back, err := strconv.Unquote(q); err != nil || back != tc.in {
					t.Errorf("strconv.Unquote(%s) = %q, %v; want %q", q, back, err, tc.in)
				}
			}
		})
	}
}

// TestTable_ASCIIAsTabwriter: for ASCII text, where a rune is a column,
// the table is what text/tabwriter wrote before (minimum width 2, padding
// 2, the last column not padded), batch after batch.
func TestTable_ASCIIAsTabwriter(t *testing.T) {
	batches := [][][]string{
		{{"sess_1", "2026-01-02T03:04:05Z", "", "203.0.113.7", "curl/8.0"}, {"s", "-", "x", "", "Mozilla/5.0 (X11)"}},
		{{"a much longer first cell", "b", "c", "d", "e"}},
	}
	header := []string{"ID", "CREATED", "BOUND", "IP", "USER AGENT"}
	var got, want bytes.Buffer
	tb := newTable(&got, header...)
	tw := tabwriter.NewWriter(&want, 2, 4, 2, ' ', 0)
	tw.Write([]byte(strings.Join(header, "\t") + "\n"))
	for _, batch := range batches {
		for _, r := range batch {
			tb.row(r...)
			tw.Write([]byte(strings.Join(r, "\t") + "\n"))
		}
		if err := tb.flush(); err != nil {
			t.Fatal(err)
		}
		tw.Flush()
	}
	if got.String() != want.String() {
		t.Errorf("table =\n%s; want (tabwriter)\n%s", got.String(), want.String())
	}
}

// tabwriterTable is what text/tabwriter, as the CLI set it up before
// (minimum width 2, padding 2), writes for rows.
func tabwriterTable(rows [][]string) string {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 2, 4, 2, ' ', 0)
	for _, r := range rows {
		io.WriteString(tw, strings.Join(r, "\t")+"\n")
	}
	tw.Flush()
	return b.String()
}

func tableOf(rows [][]string) string {
	var b bytes.Buffer
	tb := newTable(&b, rows[0]...)
	for _, r := range rows[1:] {
		tb.row(r...)
	}
	if err := tb.flush(); err != nil {
		panic(err)
	}
	return b.String()
}

// TestTable_RaggedAsTabwriter: a row with fewer cells than the others
// ends the columns it lacks, as text/tabwriter ended them (its column
// blocks): the rows after it are aligned anew, not to the widths of the
// rows before it. Before, every column was padded to its widest cell in
// the whole table.
func TestTable_RaggedAsTabwriter(t *testing.T) {
	for _, tc := range []struct {
		name string
		rows [][]string
	}{
		{"one-column table", [][]string{{"ID"}, {"a"}, {"a much longer id"}}},
		{"a row of one cell between", [][]string{{"ID", "NAME"}, {"a much longer id", "x"}, {"note"}, {"b", "y"}}},
		{"an empty row between", [][]string{{"ID", "NAME"}, {"a much longer id", "x"}, {}, {"b", "y"}}},
		{"a shorter row", [][]string{{"A", "B", "C"}, {"a", "a much longer b", "c"}, {"a", "b"}, {"a", "b", "c"}}},
		{"a longer row", [][]string{{"A", "B"}, {"a", "b", "c", "d"}, {"aaaaaaa", "bbbbbbbb", "c"}}},
		{"trailing empty cells", [][]string{{"A", "B", "C"}, {"a", "", ""}, {"", "", ""}}},
		{"a leading empty cell after a short row", [][]string{{"", "x y", "x y", "ab"}, {}, {"sess_123"}, {"Mozilla/5.0 (X11)", "-", "sess_123"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got, want := tableOf(tc.rows), tabwriterTable(tc.rows); got != want {
				t.Errorf("table =\n%s; want (tabwriter)\n%s(%q; want %q)", got, want, got, want)
			}
		})
	}
}

// TestTable_RandomAsTabwriter: for ASCII text, where a rune is a column,
// any table (empty cells, rows of any length, one column) is byte for
// byte what text/tabwriter wrote. The seed is fixed: a failure repeats.
func TestTable_RandomAsTabwriter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	// Words of 40 and 80 characters: padding past the 32 spaces the
	// table writes at once, once and more than once.
	words := []string{"", "a", "ab", "-", "x y", "sess_123", "2026-01-02T03:04:05Z", "Mozilla/5.0 (X11)",
		strings.Repeat("w", 40), strings.Repeat("W", 80)}
	for range 5000 {
		cols, ragged := 1+rng.IntN(5), rng.IntN(2) == 0
		rows := make([][]string, 1+rng.IntN(7))
		for i := range rows {
			n := cols
			if ragged && i > 0 {
				n = rng.IntN(cols + 2)
			}
			rows[i] = make([]string, n)
			for j := range rows[i] {
				rows[i][j] = words[rng.IntN(len(words))]
			}
		}
		if got, want := tableOf(rows), tabwriterTable(rows); got != want {
			t.Fatalf("table of %q =\n%s; want (tabwriter)\n%s", rows, got, want)
		}
	}
}

// BenchmarkTable: a sessions list of 100,000 rows written as one table.
func BenchmarkTable(b *testing.B) {
	header := []string{"ID", "CREATED", "LAST ACTIVE", "EXPIRES", "DEVICE-BOUND", "IP", "USER AGENT"}
	rows := make([][]string, 100_000)
	for i := range rows {
		rows[i] = []string{"sess_0123456789abcdef0123456789abcdef", "2026-01-02T03:04:05Z", "2026-01-02T03:04:05Z",
			"2026-01-02T03:04:05Z", "no", "203.0.113.7", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"}
	}
	b.ReportAllocs()
	for b.Loop() {
		tb := newTable(io.Discard, header...)
		for _, r := range rows {
			tb.row(r...)
		}
		if err := tb.flush(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestTable_WriteError: a table that cannot be written (stdout closed, a
// full disk) is an error the command returns (exit 1), not output lost.
func TestTable_WriteError(t *testing.T) {
	tb := newTable(failingWriter{}, "ID", "NAME")
	tb.row("k1", "alice")
	if err := tb.flush(); err == nil {
		t.Error("flush to a writer that fails = nil; want its error")
	}
}
