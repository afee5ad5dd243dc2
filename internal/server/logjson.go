package server

import (
	"context"
	"io"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/sessiond/sessiond/internal/jsonstr"
)

// jsonLineHandler writes the lines slog.JSONHandler would write, byte for
// byte, without its per-attribute machinery for the records every request
// logs: a time, a level, a message and flat attributes of plain kinds
// (string, integers, float, bool, duration). That encoder was about a
// tenth of the server's CPU on a verify (docs/PERFORMANCE.md); a float
// attribute (the request line's duration_ms) alone went through
// encoding/json's reflection. Any other record (a group, an error value,
// a LogValuer, a year outside 0–9999, a NaN), and any logger derived with
// With or WithGroup, is left to the JSONHandler itself.
// TestJSONLineHandler_AsJSONHandler and FuzzJSONLineHandler hold the two
// to the same bytes.
//
// It stands only in front of a JSONHandler made with no ReplaceAttr and no
// AddSource (NewLogger's), writing to the same writer, which must keep
// each Write whole (bufferedWriter does).
type jsonLineHandler struct {
	*slog.JSONHandler
	w io.Writer
}

func newJSONLineHandler(w io.Writer, level slog.Leveler) *jsonLineHandler {
	return &jsonLineHandler{JSONHandler: slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}), w: w}
}

var lineBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// Handle writes r as the JSONHandler would.
func (h *jsonLineHandler) Handle(ctx context.Context, r slog.Record) error {
	bp := lineBufPool.Get().(*[]byte)
	b, ok := appendJSONLine((*bp)[:0], r)
	if !ok {
		lineBufPool.Put(bp)
		return h.JSONHandler.Handle(ctx, r)
	}
	_, err := h.w.Write(b)
	if cap(b) <= 16<<10 { // one huge line does not pin its buffer
		*bp = b
		lineBufPool.Put(bp)
	}
	return err
}

// appendJSONLine appends r as slog.JSONHandler (no ReplaceAttr, no
// AddSource, no groups or attributes of its own) writes it, or reports
// false for a record it leaves to it.
func appendJSONLine(b []byte, r slog.Record) ([]byte, bool) {
	b = append(b, '{')
	if !r.Time.IsZero() {
		if y := r.Time.Year(); y < 0 || y >= 10000 {
			return b, false // the JSONHandler writes an error for it
		}
		b = append(b, `"time":"`...)
		b = r.Time.AppendFormat(b, time.RFC3339Nano)
		b = append(b, `",`...)
	}
	b = append(b, `"level":`...)
	b = jsonstr.Append(b, r.Level.String(), jsonstr.Slog)
	b = append(b, `,"msg":`...)
	b = jsonstr.Append(b, r.Message, jsonstr.Slog)
	ok := true
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "" {
			ok = false // elided or inlined by the JSONHandler
			return false
		}
		b = append(b, ',')
		b = jsonstr.Append(b, a.Key, jsonstr.Slog)
		b = append(b, ':')
		switch v := a.Value; v.Kind() {
		case slog.KindString:
			b = jsonstr.Append(b, v.String(), jsonstr.Slog)
		case slog.KindInt64:
			b = strconv.AppendInt(b, v.Int64(), 10)
		case slog.KindUint64:
			b = strconv.AppendUint(b, v.Uint64(), 10)
		case slog.KindBool:
			b = strconv.AppendBool(b, v.Bool())
		case slog.KindDuration:
			b = strconv.AppendInt(b, int64(v.Duration()), 10)
		case slog.KindFloat64:
			b, ok = appendJSONFloat(b, v.Float64())
		default:
			ok = false
		}
		return ok
	})
	if !ok {
		return b, false
	}
	return append(b, "}\n"...), true
}

// appendJSONFloat appends f as encoding/json does (which the JSONHandler
// calls for floats); false for NaN and the infinities, which it refuses.
func appendJSONFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // e-09 → e-9, as encoding/json
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, true
}
