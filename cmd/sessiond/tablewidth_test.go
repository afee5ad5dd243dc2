package main

import (
	"bytes"
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
			"NAME      ID\na\\u200bb  k1\nab        k2\n"},
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
