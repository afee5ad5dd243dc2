package httpapi

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
)

// maxAPIKeyBytes bounds the key handed to Authenticate.
const maxAPIKeyBytes = 1024

// requestInfo is what the request log line needs from deeper layers. One is
// made per request and shared through the context; only the request's own
// goroutine touches it.
type requestInfo struct {
	id      string
	pattern string // the ServeMux pattern, never the raw path
	keyID   string // API key ID once authenticated
	code    string // problem or OAuth error code of an error reply
	oauth   bool   // errors are answered in RFC 6749 form (the /oauth2 routes)
	err     error  // cause of an error reply; never holds a token
}

type infoKey struct{}

// infoFrom returns the request's info; a throwaway one outside the
// middleware, so handlers never check for nil.
func infoFrom(ctx context.Context) *requestInfo {
	if info, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}

// responseWriter records what the log line reports.
type responseWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *responseWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *responseWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the connection.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// errPanic stands for a recovered panic in the error table (500 internal).
var errPanic = errors.New("handler panicked")

// middleware wraps every request: request ID, security headers, panic
// recovery and the request log line.
func (s *server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		info := &requestInfo{id: requestID(r.Header.Get("X-Request-Id"))}
		rw := &responseWriter{ResponseWriter: w}
		h := rw.Header()
		h.Set("X-Request-Id", info.id)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		// Everything but the JWKS (which overrides it) is private: token
		// responses above all, and nothing else gains from caching.
		h.Set("Cache-Control", "no-store")
		r = r.WithContext(context.WithValue(r.Context(), infoKey{}, info))

		defer s.logRequest(r, rw, info, start)
		defer func() {
			v := recover()
			if v == nil {
				return
			}
			if v == http.ErrAbortHandler {
				panic(v) // a deliberate abort, as net/http documents
			}
			s.log.LogAttrs(r.Context(), slog.LevelError, "panic recovered",
				slog.String("request_id", info.id), slog.String("panic", fmt.Sprint(v)),
				slog.String("stack", string(debug.Stack())))
			if rw.status != 0 {
				info.err = errPanic // too late for an error reply; the client sees a cut response
				return
			}
			if err := fmt.Errorf("%w: %v", errPanic, v); info.oauth {
				s.writeOAuthError(rw, r, err)
			} else {
				s.writeError(rw, r, err)
			}
		}()
		next.ServeHTTP(rw, r)
	})
}

func (s *server) logRequest(r *http.Request, rw *responseWriter, info *requestInfo, start time.Time) {
	status := rw.status
	if status == 0 {
		status = http.StatusOK
	}
	if s.logReq != nil && !s.logReq(status) {
		return
	}
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	attrs := make([]slog.Attr, 0, 11)
	attrs = append(attrs,
		slog.String("request_id", info.id),
		slog.String("method", r.Method),
		slog.String("pattern", info.pattern),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		slog.Int64("bytes", rw.bytes),
		slog.String("remote_addr", r.RemoteAddr),
		slog.String("api_key_id", info.keyID),
	)
	if info.code != "" {
		attrs = append(attrs, slog.String("code", info.code))
	}
	if info.err != nil {
		attrs = append(attrs, slog.String("err", info.err.Error()))
	}
	s.log.LogAttrs(r.Context(), level, "request", attrs...)
}

// requestID returns the caller's X-Request-Id when it is sane (1 to 64
// characters of [A-Za-z0-9._-]), else a fresh random one.
func requestID(in string) string {
	if len(in) == 0 || len(in) > 64 {
		return rand.Text()
	}
	for i := 0; i < len(in); i++ {
		c := in[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return rand.Text()
		}
	}
	return in
}

// errNoAPIKey: the request has no usable `Authorization: Bearer` header.
var errNoAPIKey = errors.New("no bearer API key in the Authorization header")

// authenticate checks the API key and records its ID for the log. A
// refused key is 401 (unauthorized, or invalid_client on /oauth2), a key
// store that does not answer 503: an outage, not a bad key.
func (s *server) authenticate(w http.ResponseWriter, r *http.Request) error {
	info := infoFrom(r.Context())
	err := errNoAPIKey
	if key, ok := bearerKey(r.Header.Get("Authorization")); ok {
		var id string
		if id, err = s.auth(r.Context(), sessiond.Secret(key)); err == nil {
			info.keyID = id
			return nil
		}
		err = fmt.Errorf("authenticate: %w", err)
	}
	if errors.Is(err, sessiond.ErrStoreUnavailable) {
		return err
	}
	s.authFailed(r.Context(), r)
	code := codeUnauthorized
	if info.oauth {
		code = "invalid_client" // RFC 6749 §5.2
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="sessiond"`)
	return &requestError{status: http.StatusUnauthorized, code: code, detail: "a valid API key is required", cause: err}
}

// bearerKey returns the credentials of an `Authorization: Bearer` header
// (RFC 6750 §2.1; the scheme is case-insensitive).
func bearerKey(h string) (string, bool) {
	scheme, key, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	key = strings.TrimLeft(key, " ")
	if key == "" || len(key) > maxAPIKeyBytes || strings.ContainsAny(key, " \t") {
		return "", false
	}
	return key, true
}
