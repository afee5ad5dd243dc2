package jsonstr_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/jsonstr"
)

// samples: every ASCII byte alone and in text, invalid UTF-8, the line
// and paragraph separators (alone and after text, which must be kept), and
// other text outside ASCII.
func samples() []string {
	out := []string{"", "plain", "a\"b\\c", "<a href='x'>&amp;</a>", "\xff", "a\xc3", "\u2028\u2029", "é 山 😀", "\ufffd", "\x7f\u0085",
		"line\u2028para\u2029end", "é\xffü\xed\xa0\x80z"}
	var all strings.Builder
	for c := range 0x80 {
		out = append(out, string(rune(c)))
		all.WriteByte(byte(c))
	}
	out = append(out, all.String())
	// Append reads eight bytes at a time: each byte that needs a look, and
	// each kind of non-ASCII text, at every offset of a word in a long
	// plain run, so the word test can miss none.
	plain := strings.Repeat("abcdefgh", 3)
	for _, odd := range []string{"\x00", "\x1f", "\x7f", "\"", "\\", "<", ">", "&", "\xff", "é", "\u2028", "😀"} {
		for at := range 17 {
			out = append(out, plain[:at]+odd+plain[at:])
		}
	}
	return out
}

func TestAppend_AsEncodingJSON(t *testing.T) {
	for _, s := range samples() {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonstr.Append(nil, s, jsonstr.EncodingJSON); !bytes.Equal(got, want) {
			t.Errorf("Append(%q, EncodingJSON) = %s; encoding/json writes %s", s, got, want)
		}
	}
}

func TestAppend_AsSlog(t *testing.T) {
	for _, s := range samples() {
		if got, want := string(jsonstr.Append(nil, s, jsonstr.Slog)), slogQuoted(t, s); got != want {
			t.Errorf("Append(%q, Slog) = %s; slog writes %s", s, got, want)
		}
	}
}

// FuzzAppend: any string, in either style, is quoted as the standard
// library's encoder quotes it.
func FuzzAppend(f *testing.F) {
	for _, s := range samples() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := jsonstr.Append(nil, s, jsonstr.EncodingJSON); !bytes.Equal(got, want) {
			t.Errorf("Append(%q, EncodingJSON) = %s; encoding/json writes %s", s, got, want)
		}
		if got, want := string(jsonstr.Append(nil, s, jsonstr.Slog)), slogQuoted(t, s); got != want {
			t.Errorf("Append(%q, Slog) = %s; slog writes %s", s, got, want)
		}
	})
}

// slogQuoted is s as slog's JSONHandler quotes a message.
func slogQuoted(t *testing.T, s string) string {
	t.Helper()
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == slog.LevelKey {
				return slog.Attr{}
			}
			return a
		},
	})).Info(s)
	line := strings.TrimSuffix(buf.String(), "}\n")
	want, ok := strings.CutPrefix(line, `{"msg":`)
	if !ok {
		t.Fatalf("slog wrote %q", buf.String())
	}
	return want
}

func TestAppend_Appends(t *testing.T) {
	if got := string(jsonstr.Append([]byte("x:"), "y", jsonstr.Slog)); got != `x:"y"` {
		t.Errorf("Append to x: = %s; want x:\"y\"", got)
	}
}
