package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/config"
)

// bothLines logs r through jsonLineHandler and through a plain
// slog.JSONHandler and returns the two outputs.
func bothLines(t testing.TB, r slog.Record) (got, want string) {
	t.Helper()
	var fast, plain bytes.Buffer
	if err := newJSONLineHandler(&fast, slog.LevelDebug).Handle(context.Background(), r); err != nil {
		t.Fatalf("jsonLineHandler.Handle: %v", err)
	}
	if err := slog.NewJSONHandler(&plain, &slog.HandlerOptions{Level: slog.LevelDebug}).Handle(context.Background(), r); err != nil {
		t.Fatalf("JSONHandler.Handle: %v", err)
	}
	return fast.String(), plain.String()
}

type logValuer struct{}

func (logValuer) LogValue() slog.Value { return slog.IntValue(7) }

func TestJSONLineHandler_AsJSONHandler(t *testing.T) {
	at := time.Date(2026, 12, 7, 21, 30, 1, 123456789, time.UTC)
	tests := []struct {
		name  string
		time  time.Time
		level slog.Level
		msg   string
		attrs []slog.Attr
	}{
		{"request line", at, slog.LevelInfo, "request", []slog.Attr{
			slog.String("request_id", "2T6ZX2DGFL4VZI4JQKI4NZCK7G"), slog.String("method", "POST"),
			slog.String("pattern", "POST /v1/sessions/verify"), slog.Int("status", 200),
			slog.Float64("duration_ms", 0.016), slog.Int64("bytes", 343),
			slog.String("remote_addr", "127.0.0.1:54362"), slog.String("api_key_id", "key_4q6ni2kkd6sni"),
		}},
		{"error line", at, slog.LevelError, "request", []slog.Attr{
			slog.String("code", "store_unavailable"), slog.String("err", "pgstore: \"x\"\n\t<&>\\ \x01 \x7f"),
		}},
		{"no attributes", at, slog.LevelWarn, "hello", nil},
		{"zero time", time.Time{}, slog.LevelInfo, "no time", []slog.Attr{slog.Bool("b", true)}},
		{"other zone, monotonic", time.Now().In(time.FixedZone("x", -5*3600)), slog.LevelInfo, "m", nil},
		{"custom levels", at, slog.LevelError + 3, "m", []slog.Attr{slog.Int("n", -1)}},
		{"debug minus", at, slog.LevelDebug - 2, "m", nil},
		{"unicode", at, slog.LevelInfo, "é\u2028\u2029\U0001F600", []slog.Attr{
			slog.String("k\u2028", "bad \xff\xfe utf8 \xe2\x80"), slog.String("é", "ü"),
		}},
		{"integers", at, slog.LevelInfo, "m", []slog.Attr{
			slog.Int64("min", math.MinInt64), slog.Uint64("max", math.MaxUint64), slog.Duration("d", 1500*time.Millisecond),
			slog.Bool("f", false),
		}},
		{"floats", at, slog.LevelInfo, "m", []slog.Attr{
			slog.Float64("zero", 0), slog.Float64("negzero", math.Copysign(0, -1)), slog.Float64("tiny", 1e-7),
			slog.Float64("edge", 1e-6), slog.Float64("big", 1e21), slog.Float64("below", 999999999999999999999.0),
			slog.Float64("neg", -123.456), slog.Float64("ms", 1234567.891), slog.Float64("e-9", 1.5e-9),
			slog.Float64("max", math.MaxFloat64), slog.Float64("minpos", math.SmallestNonzeroFloat64),
		}},
		{"empty strings", at, slog.LevelInfo, "", []slog.Attr{slog.String("s", "")}},
		// encoding/json writes \b and \f short; slog's copy of it does not.
		{"backspace, form feed", at, slog.LevelInfo, "\b\f", []slog.Attr{slog.String("\b", "a\fb\x1f\x00")}},
		{"whole second", time.Date(2026, 12, 7, 21, 30, 1, 0, time.UTC), slog.LevelInfo, "m", nil},
		{"trailing zeros", time.Date(2026, 12, 7, 21, 30, 1, 120000000, time.UTC), slog.LevelInfo, "m", nil},
		{"offset with seconds", time.Date(1890, 1, 1, 0, 0, 0, 5, time.FixedZone("LMT", 3600+61)), slog.LevelInfo, "m", nil},
		{"year 0", time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), slog.LevelInfo, "m", nil},
		{"year 9999", time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), slog.LevelInfo, "m", nil},
		{"float edges", at, slog.LevelInfo, "m", []slog.Attr{
			slog.Float64("under1e-6", 9.999999999999999e-7), slog.Float64("1e20", 1e20), slog.Float64("neg1e21", -1e21),
			slog.Float64("neg tiny", -1e-7), slog.Float64("1e-10", 1e-10), slog.Float64("1e100", 1e100),
			slog.Float64("1e-100", 1e-100), slog.Float64("int", 3), slog.Float64("third", 1.0/3),
		}},
		{"durations", at, slog.LevelInfo, "m", []slog.Attr{
			slog.Duration("neg", -time.Nanosecond), slog.Duration("max", math.MaxInt64), slog.Duration("zero", 0),
			slog.Any("any duration", 2*time.Second), slog.Any("any string", "s"), slog.Any("any int", 5),
		}},
		// Left to the JSONHandler: the same bytes either way.
		{"group", at, slog.LevelInfo, "m", []slog.Attr{slog.Group("g", slog.Int("a", 1)), slog.Int("after", 2)}},
		{"empty group", at, slog.LevelInfo, "m", []slog.Attr{slog.Group("g")}},
		{"inline group", at, slog.LevelInfo, "m", []slog.Attr{slog.Group("", slog.Int("a", 1))}},
		{"empty attribute", at, slog.LevelInfo, "m", []slog.Attr{{}, slog.Int("after", 2)}},
		{"empty key", at, slog.LevelInfo, "m", []slog.Attr{slog.Int("", 3)}},
		{"any", at, slog.LevelInfo, "m", []slog.Attr{slog.Any("err", errors.New("boom")), slog.Any("m", map[string]int{"a": 1})}},
		{"time attribute", at, slog.LevelInfo, "m", []slog.Attr{slog.Time("t", at)}},
		{"log valuer", at, slog.LevelInfo, "m", []slog.Attr{slog.Any("v", logValuer{})}},
		{"NaN", at, slog.LevelInfo, "m", []slog.Attr{slog.Float64("nan", math.NaN()), slog.Float64("inf", math.Inf(-1))}},
		{"year 10000", time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), slog.LevelInfo, "m", nil},
		{"year -1", time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), slog.LevelInfo, "m", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := slog.NewRecord(tt.time, tt.level, tt.msg, 0)
			r.AddAttrs(tt.attrs...)
			if got, want := bothLines(t, r); got != want {
				t.Errorf("jsonLineHandler wrote\n%s\nJSONHandler writes\n%s", got, want)
			}
		})
	}
}

// TestJSONLineHandler_Derived: a logger derived with With or WithGroup
// writes what the JSONHandler's would.
func TestJSONLineHandler_Derived(t *testing.T) {
	var fast, plain bytes.Buffer
	at := time.Date(2026, 12, 7, 21, 30, 1, 0, time.UTC)
	for _, h := range []slog.Handler{newJSONLineHandler(&fast, slog.LevelInfo), slog.NewJSONHandler(&plain, nil)} {
		for _, d := range []slog.Handler{h.WithAttrs([]slog.Attr{slog.String("component", "x")}), h.WithGroup("g")} {
			r := slog.NewRecord(at, slog.LevelInfo, "m", 0)
			r.AddAttrs(slog.Int("n", 1))
			if err := d.Handle(context.Background(), r); err != nil {
				t.Fatal(err)
			}
		}
		if h.Enabled(context.Background(), slog.LevelDebug) {
			t.Errorf("%T: debug enabled at level info", h)
		}
	}
	if fast.String() != plain.String() {
		t.Errorf("derived jsonLineHandler wrote\n%s\nJSONHandler writes\n%s", fast.String(), plain.String())
	}
}

func FuzzJSONLineHandler(f *testing.F) {
	f.Add("request", "request_id", "abc", "k", int64(200), 0.016, uint64(1), int64(1733600000123456789), 4)
	f.Add("\u2028\xff\"", "\\", "\x00\x1f<>&", "é", int64(-1), 1e-7, uint64(0), int64(0), -4)
	f.Add("m", "k", "v", "n", int64(0), 1e21, uint64(math.MaxUint64), int64(-62135596800000000), 12)
	f.Add("\b\f\u2029", "\ufffd", "\xed\xa0\x80", "", int64(math.MinInt64), math.Copysign(0, -1), uint64(0), int64(math.MaxInt64), math.MinInt32)
	f.Add("m", "k", "v", "n", int64(1), 1e-6, uint64(1), int64(0), 2)
	f.Add("m", "k", "v", "n", int64(1), 9.999999999999999e20, uint64(1), int64(1), -2)
	f.Fuzz(func(t *testing.T, msg, k1, v1, k2 string, n int64, fl float64, u uint64, unixNano int64, level int) {
		r := slog.NewRecord(time.Unix(0, unixNano).UTC(), slog.Level(level), msg, 0)
		r.AddAttrs(slog.String(k1, v1), slog.Int64(k2, n), slog.Float64("f", fl), slog.Uint64("u", u),
			slog.Duration("d", time.Duration(n)), slog.Bool("b", n%2 == 0))
		if got, want := bothLines(t, r); got != want {
			t.Errorf("jsonLineHandler wrote\n%q\nJSONHandler writes\n%q", got, want)
		}
	})
}

// BenchmarkRequestLine is the request log line's encoding: the
// JSONHandler alone against jsonLineHandler in front of it.
func BenchmarkRequestLine(b *testing.B) {
	r := slog.NewRecord(time.Now(), slog.LevelInfo, "request", 0)
	r.AddAttrs(
		slog.String("request_id", "2T6ZX2DGFL4VZI4JQKI4NZCK7G"), slog.String("method", "POST"),
		slog.String("pattern", "POST /v1/sessions/verify"), slog.Int("status", 200),
		slog.Float64("duration_ms", 0.016), slog.Int64("bytes", 343),
		slog.String("remote_addr", "127.0.0.1:54362"), slog.String("api_key_id", "key_4q6ni2kkd6sni"),
	)
	for _, h := range []struct {
		name string
		h    slog.Handler
	}{
		{"JSONHandler", slog.NewJSONHandler(discard{}, nil)},
		{"jsonLineHandler", newJSONLineHandler(discard{}, slog.LevelInfo)},
	} {
		b.Run(h.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = h.h.Handle(context.Background(), r)
			}
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// TestJSONLineHandler_Concurrent: the server's JSON logger used by many
// goroutines at once, lines written directly and lines left to the
// JSONHandler (which writes under a lock the direct ones do not take),
// writes every line whole (run with -race).
func TestJSONLineHandler_Concurrent(t *testing.T) {
	var out bytes.Buffer
	log, closeLog := NewLogger(&out, config.Log{Format: "json"})
	const goroutines, lines = 8, 200
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range lines {
				if i%2 == 0 {
					log.Info("request", "g", g, "i", i, "s", strings.Repeat("x", i))
				} else {
					log.Info("grouped", slog.Group("grp", "g", g, "i", i))
				}
			}
		})
	}
	wg.Wait()
	if err := closeLog(); err != nil {
		t.Fatal(err)
	}
	n := 0
	for line := range strings.Lines(out.String()) {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %d %q: %v", n, line, err)
		}
		n++
	}
	if n != goroutines*lines {
		t.Errorf("%d lines; want %d", n, goroutines*lines)
	}
}
