package httpapi

import (
	"net/http"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sessiond/sessiond/apitype"
	"github.com/sessiond/sessiond/internal/jsonstr"
)

// The verify answer is the hottest response sessiond writes, so it is
// appended by hand into a pooled buffer instead of going through
// encoding/json's reflection. The output is byte-for-byte what json.Marshal
// gives for the same value; FuzzAppendSession holds it to that.

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// jsonValue is the shared Content-Type value of the hot path (see
// nosniffValue).
var jsonValue = []string{"application/json"}[:1:1]

// autoLengthBytes: net/http sets Content-Length itself for an answer of up
// to 2048 bytes written before the handler returns (its buffer before
// chunking), saving the header value's allocations; this stays below.
const autoLengthBytes = 1900

// writeVerified writes 200 {"active":true,"session":…}.
func writeVerified(w http.ResponseWriter, s *apitype.Session) {
	bp := bufPool.Get().(*[]byte)
	b := append((*bp)[:0], `{"active":true,"session":`...)
	b = appendSession(b, s)
	b = append(b, "}\n"...)
	h := w.Header()
	h["Content-Type"] = jsonValue
	if len(b) > autoLengthBytes {
		h.Set("Content-Length", strconv.Itoa(len(b)))
	}
	// Otherwise net/http writes the same Content-Length itself: the
	// answer is written whole, and buffered until the handler returns.
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	*bp = b
	bufPool.Put(bp)
}

// appendSession appends s as json.Marshal would.
func appendSession(b []byte, s *apitype.Session) []byte {
	b = append(b, `{"id":`...)
	b = appendString(b, string(s.ID))
	b = append(b, `,"subject":`...)
	b = appendString(b, s.Subject)
	b = append(b, `,"strategy":`...)
	b = appendString(b, string(s.Strategy))
	b = append(b, `,"created_at":`...)
	b = appendTime(b, s.CreatedAt)
	b = append(b, `,"last_active_at":`...)
	b = appendTime(b, s.LastActiveAt)
	b = append(b, `,"idle_expires_at":`...)
	b = appendTime(b, s.IdleExpiresAt)
	b = append(b, `,"expires_at":`...)
	b = appendTime(b, s.ExpiresAt)
	b = append(b, `,"persistent":`...)
	b = strconv.AppendBool(b, s.Persistent)
	b = append(b, `,"client":{"ip":`...)
	b = appendString(b, s.Client.IP)
	b = append(b, `,"user_agent":`...)
	b = appendString(b, s.Client.UserAgent)
	b = append(b, `},"claims":`...)
	b = appendCompact(b, s.Claims)
	b = append(b, `,"device_bound":`...)
	b = strconv.AppendBool(b, s.DeviceBound)
	return append(b, '}')
}

// appendString quotes s as encoding/json does by default.
func appendString(b []byte, s string) []byte { return jsonstr.Append(b, s, jsonstr.EncodingJSON) }

func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendCompact appends raw JSON (the claims: an object validated at
// creation, or {}) as json.Marshal writes a json.RawMessage: compacted
// and HTML-escaped. Anything unexpected falls back to the library.
func appendCompact(b []byte, raw []byte) []byte {
	for _, c := range raw {
		// The fast path covers claims with no whitespace or characters
		// encoding/json would rewrite.
		if c <= ' ' || c == '<' || c == '>' || c == '&' || c >= utf8.RuneSelf {
			return appendCompactSlow(b, raw)
		}
	}
	return append(b, raw...)
}
