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
		// Variation selectors choose how an emoji looks: kept.
		{"\u2764\ufe0f", "\u2764\ufe0f"},
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
