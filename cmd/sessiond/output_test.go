package main

import (
	"bytes"
	"encoding/json"
	"testing"
)

func TestClean(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Mozilla/5.0 (X11; Linux) Firefox/128.0", "Mozilla/5.0 (X11; Linux) Firefox/128.0"},
		{"héllo 日本 😀", "héllo 日本 😀"},
		{"a\x1b[2Jb", `a\x1b[2Jb`},
		{"a\x07\x00\x7f", `a\x07\x00\x7f`},
		{"tab\tnew\nline\r", `tab\x09new\x0aline\x0d`},
		{"c1\u009b31m", `c1\u009b31m`},
		{"bidi\u202eexe\u2066", `bidi\u202eexe\u2066`},
		{"bad\xffutf8", `bad\xffutf8`},
		{"line\u2028sep", `line\u2028sep`},
	} {
		if got := clean(tc.in); got != tc.want {
			t.Errorf("clean(%q) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

func TestWriteJSON_EscapesControls(t *testing.T) {
	in := map[string]string{"ua": "x\x1b[2J\u009b\u202e\U000e0041"}
	var b bytes.Buffer
	if err := writeJSON(&b, in); err != nil {
		t.Fatal(err)
	}
	if want := `{"ua":"x\u001b[2J\u009b\u202e\udb40\udc41"}` + "\n"; b.String() != want {
		t.Errorf("writeJSON = %q; want %q", b.String(), want)
	}
	var back map[string]string
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back["ua"] != in["ua"] {
		t.Errorf("writeJSON does not round-trip: %q, %v", back["ua"], err)
	}
}
