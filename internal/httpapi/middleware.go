package httpapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/ratelimit"
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
	admin   bool   // the key has the admin scope
	code    string // problem or OAuth error code of an error reply
	oauth   bool   // errors are answered in RFC 6749 form (the /oauth2 routes)
	err     error  // cause of an error reply; never holds a token
	// unbounded is the request's context without the store-call deadline
	// (Options.WriteTimeout), for the routes that are long by design.
	unbounded context.Context
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

// The values of the headers every response carries, shared by all
// responses instead of allocated per request. Each has len == cap, so an
// Add by a handler copies instead of writing into the shared array; Set
// replaces the slice.
var (
	nosniffValue = []string{"nosniff"}[:1:1]
	cspValue     = []string{"default-src 'none'; frame-ancestors 'none'"}[:1:1]
	noStoreValue = []string{"no-store"}[:1:1]
)

// requestState is everything the middleware keeps for one request, in one
// allocation: the log's info, the recording writer, the X-Request-Id
// header's value and the request's context, which it is itself (it
// answers infoKey and passes every other question to the parent).
type requestState struct {
	context.Context
	info  requestInfo
	rw    responseWriter
	id    [1]string
	bound boundContext // the context under the request's deadline
}

func (st *requestState) Value(key any) any {
	if _, ok := key.(infoKey); ok {
		return &st.info
	}
	return st.Context.Value(key)
}

// middleware wraps every request: request ID, security headers, panic
// recovery, the request log line, and the deadline of its store calls
// (Options.WriteTimeout; the routes of unboundedRoutes do without).
func (s *server) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		st := &requestState{Context: r.Context(), rw: responseWriter{ResponseWriter: w}}
		info, rw := &st.info, &st.rw
		info.id = requestID(firstValue(r.Header["X-Request-Id"])) // canonical already
		st.id[0] = info.id
		h := rw.Header()
		h["X-Request-Id"] = st.id[:1:1]
		h["X-Content-Type-Options"] = nosniffValue
		h["Content-Security-Policy"] = cspValue
		// Everything but the JWKS (which overrides it) is private: token
		// responses above all, and nothing else gains from caching.
		h["Cache-Control"] = noStoreValue
		info.unbounded = st
		var ctx context.Context = st
		if s.bound > 0 {
			dl := start.Add(s.bound)
			if pd, ok := st.Deadline(); ok && !dl.Before(pd) {
				var cancel context.CancelFunc
				ctx, cancel = context.WithDeadline(st, dl) // the parent's is sooner
				defer cancel()
			} else {
				st.bound.parent, st.bound.deadline = st, dl
				ctx = &st.bound // its timer made only if waited on (boundcontext.go)
				defer st.bound.cancel()
			}
		}
		r = r.WithContext(ctx)

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
		if loc, ok := cleanLocation(r); ok {
			http.Redirect(rw, r, loc, http.StatusTemporaryRedirect)
			return
		}
		next.ServeHTTP(rw, r)
	})
}

// statusClientClosed is logged for a request whose client went away
// before its answer (NGINX's 499); no client ever sees it.
const statusClientClosed = 499

// clientGone reports whether the request failed because its client went
// away: the request's own context, without the store deadline, is
// canceled, and the error is a canceled context or there is none. A
// handler that answers for itself (a Shared Signals receiver's 503) sets
// no error here; its own line says why it failed, and the request line
// does not page anyone for an answer no client was there to read.
func clientGone(info *requestInfo) bool {
	return (info.err == nil || errors.Is(info.err, context.Canceled)) &&
		info.unbounded != nil && info.unbounded.Err() != nil
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
		if clientGone(info) {
			// The client went away mid-request and its canceled context
			// failed the call: no answer reached anyone and nothing is
			// wrong with the server, so no ERROR line to wake an operator.
			// 499 is the status NGINX logs for the same thing.
			status, level = statusClientClosed, slog.LevelInfo
		} else if errors.Is(info.err, ErrShuttingDown) {
			// /readyz during a stop's shutdown delay: a planned stop,
			// at every rolling restart, is no ERROR to wake anyone.
			level = slog.LevelInfo
		}
	}
	ctx := r.Context()
	if !s.log.Enabled(ctx, level) {
		return
	}
	// The record is built here rather than by Logger.LogAttrs, which
	// would read the clock again and walk the stack for a source position
	// no handler of the server prints (runtime.Callers, about a tenth of
	// the line's cost). The line is the same.
	now := time.Now()
	rec := slog.NewRecord(now, level, "request", 0)
	rec.AddAttrs(
		slog.String("request_id", info.id),
		slog.String("method", r.Method),
		slog.String("pattern", info.pattern),
		slog.Int("status", status),
		slog.Float64("duration_ms", float64(now.Sub(start).Microseconds())/1000),
		slog.Int64("bytes", rw.bytes),
		slog.String("remote_addr", s.remoteAddr(r)),
		slog.String("api_key_id", info.keyID),
	)
	if info.code != "" {
		rec.AddAttrs(slog.String("code", info.code))
	}
	if info.err != nil {
		rec.AddAttrs(slog.String("err", info.err.Error()))
	}
	_ = s.log.Handler().Handle(ctx, rec)
}

// requestIDLen is the length of a generated request ID: 26 characters
// of base32, as crypto/rand.Text gives (130 bits).
const requestIDLen = 26

const base32Alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"

// requestID returns the caller's X-Request-Id when it is sane (1 to 64
// characters of [A-Za-z0-9._-]), else a fresh random one. A request ID correlates log lines and is no secret: it comes
// from math/rand/v2's generator (ChaCha8, seeded by the runtime from the
// system) rather than crypto/rand, which is a getrandom system call per
// request on kernels without the vDSO one.
func requestID(in string) string {
	if saneRequestID(in) {
		return in
	}
	var b [requestIDLen]byte
	var x uint64
	for i := range b {
		if i%12 == 0 { // 12 characters of 5 bits use 60 of 64
			x = mrand.Uint64()
		}
		b[i] = base32Alphabet[x&31]
		x >>= 5
	}
	return string(b[:])
}

func saneRequestID(in string) bool {
	if len(in) == 0 || len(in) > 64 {
		return false
	}
	for i := 0; i < len(in); i++ {
		c := in[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// errNoAPIKey: the request has no usable `Authorization: Bearer` header.
var errNoAPIKey = errors.New("no bearer API key in the Authorization header")

// errTwoAPIKeys: more than one Authorization header.
var errTwoAPIKeys = errors.New("more than one Authorization header")

// authenticate checks the API key and its scope and records its ID for
// the log and the request's events. A refused key is 401 (unauthorized,
// or invalid_client on /oauth2), a key without the route's scope 403
// insufficient_scope, a key store that does not answer 503: an outage,
// not a bad key.
func (s *server) authenticate(w http.ResponseWriter, r *http.Request, scope apikey.Scope) error {
	info := infoFrom(r.Context())
	err := errNoAPIKey
	// Exactly one Authorization header: with two, a proxy in front and
	// sessiond could each authorize a different key.
	// One lookup of the header serves both checks: the key is already in
	// canonical form, as Header.Get and Values would make it.
	auth := r.Header["Authorization"]
	if len(auth) > 1 {
		err = errTwoAPIKeys
	} else if secret, ok := bearerKey(firstValue(auth)); ok {
		var key apikey.Key
		if key, err = s.auth(r.Context(), sessiond.Secret(secret)); err == nil {
			info.keyID, info.admin = key.ID, key.Allows(apikey.ScopeAdmin)
			if !key.Allows(scope) {
				w.Header().Set("WWW-Authenticate", `Bearer realm="sessiond", error="insufficient_scope", scope="`+string(scope)+`"`)
				return &requestError{status: http.StatusForbidden, code: apitype.CodeInsufficientScope,
					detail: "the API key lacks the " + string(scope) + " scope this route requires"}
			}
			return nil
		}
		err = fmt.Errorf("authenticate: %w", err)
	}
	if errors.Is(err, sessiond.ErrStoreUnavailable) {
		return err
	}
	s.authFailed(r.Context(), r)
	if ok, retry := s.failLimit.Allow(ratelimit.AddrKey(peerIP(r))); !ok {
		return tooMany(w, retry, "too many requests without a valid API key from this address")
	}
	code := apitype.CodeUnauthorized
	if info.oauth {
		code = "invalid_client" // RFC 6749 §5.2
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="sessiond"`)
	return &requestError{status: http.StatusUnauthorized, code: code, detail: "a valid API key is required", cause: err}
}

// rateLimit applies the per-key and per-address limits of the busy routes
// (a public route has no key: the address limit only).
func (s *server) rateLimit(w http.ResponseWriter, r *http.Request) error {
	if id := infoFrom(r.Context()).keyID; id != "" {
		if ok, retry := s.keyLimit.Allow(id); !ok {
			return tooMany(w, retry, "this API key is over its request rate")
		}
	}
	if ok, retry := s.ipLimit.Allow(ratelimit.AddrKey(peerIP(r))); !ok {
		return tooMany(w, retry, "this address is over its request rate")
	}
	return nil
}

// tooMany answers 429 with Retry-After in whole seconds.
func tooMany(w http.ResponseWriter, retry time.Duration, detail string) error {
	w.Header().Set("Retry-After", strconv.Itoa(int(retry.Seconds())))
	return &requestError{status: http.StatusTooManyRequests, code: apitype.CodeTooManyRequests, detail: detail}
}

// ActingKeyID returns the ID of the API key that authenticated the
// request ctx belongs to, or "" (no request, or a public route). The
// server's event sink records it in every event the request causes.
func ActingKeyID(ctx context.Context) string {
	if info, ok := ctx.Value(infoKey{}).(*requestInfo); ok && info.keyID != "" {
		return info.keyID
	}
	id, _ := ctx.Value(actingKey{}).(string)
	return id
}

type actingKey struct{}

// WithActingKey names id as the API key acting in ctx, for a surface other
// than the API whose requests act with a key (the console, signed in with
// one): ActingKeyID then returns it, and the events they cause record it.
func WithActingKey(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, actingKey{}, id)
}

// firstValue returns the first of a header's values, or "" (Header.Get).
func firstValue(vs []string) string {
	if len(vs) == 0 {
		return ""
	}
	return vs[0]
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

// remoteAddr is the request line's remote_addr: the peer as it is, or,
// with LogIPPrefixes, its address cut to the network without the port
// (a port beside a network would single the client out again).
func (s *server) remoteAddr(r *http.Request) string {
	if s.logIP == (sessiond.IPPrefixes{}) {
		return r.RemoteAddr
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return s.logIP.Mask(host)
}
