package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
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
		{"para\u2029sep", `para\u2029sep`},
		// Letters and marks that show as nothing (Unicode's default
		// ignorables that are not format characters): "alice\u3164" must
		// not pass for "alice".
		{"alice\u3164", `alice\u3164`},
		{"ali\u115fce\u1160", `ali\u115fce\u1160`},
		{"al\u034fice", `al\u034fice`},
		{"alice\uffa0", `alice\uffa0`},
		{"\u17b4alice", `\u17b4alice`},
		// A text or emoji presentation selector changes how an emoji
		// looks: kept after one. Elsewhere a variation selector shows as
		// nothing, and so does the blank Braille pattern: escaped.
		{"\u2764\ufe0f", "\u2764\ufe0f"},
		{"\u00a9\ufe0e", "\u00a9\ufe0e"},
		{"alice\ufe0f", `alice\ufe0f`},
		{"al\ufe00ice", `al\ufe00ice`},
		{"\u845b\U000e0100", "\u845b" + `\U000e0100`},
		{"alice\u180b", `alice\u180b`},
		{"\u2764\ufe0f\ufe0f", "\u2764\ufe0f" + `\ufe0f`},
		{"\u200b\ufe0f", `\u200b\ufe0f`},
		{"bad\xff\ufe0f", `bad\xff\ufe0f`},
		{"alice\u2800", `alice\u2800`},
		{"alice\U0001d159\ufe0f", `alice\U0001d159\ufe0f`},
		// Beyond U+FFFF, Go's \U: "\ue0041" would read as U+E004 and "1".
		{"tag\U000e0041", `tag\U000e0041`},
		{"\U000e0001", `\U000e0001`},
		// Spaces other than ASCII's pass for it: "alice\u00a0bob" is
		// another subject than "alice bob", and so are the others.
		{"alice\u00a0bob", `alice\u00a0bob`},
		{"alice\u1680bob", `alice\u1680bob`},
		{"a\u2000b\u200ac", `a\u2000b\u200ac`},
		{"alice\u202fbob\u205f", `alice\u202fbob\u205f`},
		{"山田\u3000太郎", "山田" + `\u3000` + "太郎"},
		{"alice bob", "alice bob"},
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

// TestWriteJSON_EscapesSelectors: a variation selector that shows as
// nothing (after a letter, at a string's start) is escaped as clean
// escapes it; an emoji's is kept.
func TestWriteJSON_EscapesSelectors(t *testing.T) {
	in := map[string]string{"name": "\ufe0falice\ufe0f \u2764\ufe0f"}
	var b bytes.Buffer
	if err := writeJSON(&b, in); err != nil {
		t.Fatal(err)
	}
	if want := `{"name":"\ufe0falice\ufe0f ` + "\u2764\ufe0f" + `"}` + "\n"; b.String() != want {
		t.Errorf("writeJSON = %q; want %q", b.String(), want)
	}
}

// TestWriteJSON_EscapesSpaces: a space other than ASCII's is escaped in
// JSON as clean escapes it; the JSON means the same.
func TestWriteJSON_EscapesSpaces(t *testing.T) {
	in := map[string]string{"subject": "alice\u00a0bob \u3000"}
	var b bytes.Buffer
	if err := writeJSON(&b, in); err != nil {
		t.Fatal(err)
	}
	if want := `{"subject":"alice\u00a0bob \u3000"}` + "\n"; b.String() != want {
		t.Errorf("writeJSON = %q; want %q", b.String(), want)
	}
	var back map[string]string
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back["subject"] != in["subject"] {
		t.Errorf("writeJSON does not round-trip: %q, %v", back["subject"], err)
	}
}

// TestWarnings: the store's log on the CLI's stderr is its warnings and
// errors only, one line each, attributes as key=value (groups named
// before their keys), a terminal control in a message or value escaped.
func TestWarnings(t *testing.T) {
	for _, tc := range []struct {
		name string
		log  func(*slog.Logger)
		want string
	}{
		{"info is left out", func(l *slog.Logger) { l.Info("redisstore: revocations wait for replicas", "replicas", 1) }, ""},
		{"warning", func(l *slog.Logger) {
			l.Warn("redisstore: not on enough replicas", "op", `put meta "api_keys"`, "replicas", 0, "err", "timed out")
		}, `warning: redisstore: not on enough replicas op="put meta \"api_keys\"" replicas=0 err="timed out"` + "\n"},
		{"error", func(l *slog.Logger) { l.Error("x") }, "error: x\n"},
		{"attrs and groups", func(l *slog.Logger) {
			l.With("store", "redis").WithGroup("g").Warn("m", slog.Group("h", "k", "v"), "e", "")
		}, `warning: m store=redis g.h.k=v g.e=""` + "\n"},
		{"controls escaped", func(l *slog.Logger) { l.Warn("a\x1b[2Jb\nc", "err", "x\ny") }, `warning: a\x1b[2Jb\x0ac err="x\ny"` + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			tc.log(newWarnings(&b))
			if b.String() != tc.want {
				t.Errorf("stderr = %q; want %q", b.String(), tc.want)
			}
		})
	}
}
