package verifier_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/verifier"
	"github.com/sessiond/sessiond/verifier/stream"

	"github.com/sessiond/sessiond/internal/testenv"
)

const (
	apiKey   = "sdk_test_verifier_key_0123456789abcdefghij"
	issuer   = "https://sessiond.test"
	audience = "test-app"
)

var life = sessiond.Lifetimes{Access: 5 * time.Minute, Refresh: 24 * time.Hour, Idle: 30 * time.Minute, Absolute: 8 * time.Hour}

// server is an in-process sessiond API (hybrid, memstore) with a
// revocation stream, on one fake clock shared with the verifiers.
type server struct {
	t          testing.TB
	clock      *sessiondtest.Clock
	store      *memstore.Store
	ring       *jwttoken.KeyRing
	m          *sessiond.Manager
	srv        *httptest.Server
	jwksCalls  atomic.Int64
	marks      []stream.Watermark
	marksMu    sync.Mutex
	hookMu     sync.Mutex
	streamHook func(w http.ResponseWriter, r *http.Request) bool // answers instead of the API when it returns true
}

// setHook sets (nil: removes) what answers requests before the API.
func (s *server) setHook(h func(w http.ResponseWriter, r *http.Request) bool) {
	s.hookMu.Lock()
	s.streamHook = h
	s.hookMu.Unlock()
}

func (s *server) hook() func(w http.ResponseWriter, r *http.Request) bool {
	s.hookMu.Lock()
	defer s.hookMu.Unlock()
	return s.streamHook
}

func (s *server) setMarks(m []stream.Watermark) {
	s.marksMu.Lock()
	s.marks = m
	s.marksMu.Unlock()
}

func newServer(t testing.TB, edit func(*httpapi.RevocationStream)) *server {
	t.Helper()
	return newServerWith(t, life, edit)
}

// newServerWith is newServer with other lifetimes.
func newServerWith(t testing.TB, lt sessiond.Lifetimes, edit func(*httpapi.RevocationStream)) *server {
	t.Helper()
	return newServerLeeway(t, lt, 0, edit)
}

// newServerLeeway is newServerWith whose tokens have a leeway (the
// server's jwt.leeway; none in the other tests).
func newServerLeeway(t testing.TB, lt sessiond.Lifetimes, leeway time.Duration, edit func(*httpapi.RevocationStream)) *server {
	t.Helper()
	s := &server{t: t, clock: sessiondtest.NewClock(time.Now().UTC().Truncate(time.Second)), store: memstore.New()}
	var err error
	if s.ring, err = jwttoken.NewRing(s.clock.Now(), jwttoken.RingOptions{MaxTokenLifetime: lt.Refresh}); err != nil {
		t.Fatal(err)
	}
	signed, err := jwttoken.New(s.ring, jwttoken.Options{Issuer: issuer, Audience: audience, Leeway: leeway})
	if err != nil {
		t.Fatal(err)
	}
	s.m = testenv.HybridManager(context.Background(), t, s.store, signed, s.clock, lt)
	rs := &httpapi.RevocationStream{
		Log: s.store, Revocations: s.store.Revocations, AccessLifetime: lt.Access, Retention: 24 * time.Hour,
		Watermarks: func(context.Context) ([]stream.Watermark, error) {
			s.marksMu.Lock()
			defer s.marksMu.Unlock()
			return append([]stream.Watermark{}, s.marks...), nil
		},
		Poll: 10 * time.Millisecond, Heartbeat: time.Hour, Now: s.clock.Now,
	}
	if edit != nil {
		edit(rs)
	}
	h, err := httpapi.New(httpapi.Options{Manager: s.m, JWKS: s.ring.JWKS, Stream: rs, Logger: slog.New(slog.DiscardHandler),
		Authenticate: func(_ context.Context, k sessiond.Secret) (apikey.Key, error) {
			if k != apiKey {
				return apikey.Key{}, sessiond.ErrInvalidToken
			}
			return apikey.Key{ID: "key", Scopes: []apikey.Scope{apikey.ScopeVerify}}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/.well-known/jwks.json" {
			s.jwksCalls.Add(1)
		}
		if h := s.hook(); h != nil && h(w, r) {
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(s.srv.Close)
	return s
}

// token creates a session of subject and returns it with its access token.
func (s *server) token(subject string) (sessiond.SessionID, string) {
	s.t.Helper()
	iss, err := s.m.Create(context.Background(), subject, sessiond.CreateOptions{})
	if err != nil {
		s.t.Fatal(err)
	}
	return iss.Session.ID, string(iss.AccessToken)
}

// introspect asks the server's POST /oauth2/introspect (RFC 7662), what a
// resource server that does not verify tokens itself would ask, whether
// tok is active.
func (s *server) introspect(tok string) bool {
	s.t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.srv.URL+"/oauth2/introspect", strings.NewReader(url.Values{"token": {tok}}.Encode()))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Authorization", "Bearer "+apiKey)
	resp, err := s.srv.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Active bool `json:"active"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		s.t.Fatalf("introspect: %d, %v", resp.StatusCode, err)
	}
	return out.Active
}

// appendEvent writes an event to the log as the server layer would.
func (s *server) appendEvent(typ sessiond.EventType, details map[string]any) {
	s.t.Helper()
	now := s.clock.Now()
	if err := s.store.AppendEvents(context.Background(), sessiond.Event{ID: sessiond.NewEventID(now), Time: now, Type: typ, Details: details}); err != nil {
		s.t.Fatal(err)
	}
}

// newVerifier starts a verifier on s with the shared clock.
func (s *server) newVerifier(edit func(*verifier.Options)) (*verifier.Verifier, *testenv.SyncBuffer) {
	s.t.Helper()
	logs := &testenv.SyncBuffer{}
	o := verifier.Options{URL: s.srv.URL, APIKey: apiKey, Issuer: issuer, Audience: audience, Clock: s.clock,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	if edit != nil {
		edit(&o)
	}
	v, err := verifier.New(context.Background(), o)
	if err != nil {
		s.t.Fatalf("verifier.New: %v", err)
	}
	s.t.Cleanup(func() { v.Close() })
	return v, logs
}

// eventually waits up to 10 s (a bound on waiting, never a measurement)
// for cond.
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// foreignToken is an access token with the right claims signed by a key
// sessiond never had (a kid no JWKS of s lists).
func (s *server) foreignToken() string {
	s.t.Helper()
	foreign, err := jwttoken.NewRing(s.clock.Now(), jwttoken.RingOptions{MaxTokenLifetime: life.Refresh})
	if err != nil {
		s.t.Fatal(err)
	}
	codec, err := jwttoken.New(foreign, jwttoken.Options{Issuer: issuer, Audience: audience})
	if err != nil {
		s.t.Fatal(err)
	}
	now := s.clock.Now()
	tok, err := codec.Sign(sessiond.KindAccess, sessiond.TokenClaims{SessionID: "sess-foreign", Subject: "eve", Strategy: sessiond.StrategyHybrid,
		IssuedAt: now, ExpiresAt: now.Add(time.Minute), AuthTime: now, SessionExpiresAt: now.Add(time.Hour)})
	if err != nil {
		s.t.Fatal(err)
	}
	return string(tok)
}
