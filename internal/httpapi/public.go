package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
)

// readyTimeout bounds one readiness check, so a hung store answers 503
// instead of hanging the probe.
const readyTimeout = 5 * time.Second

type status struct {
	Status string `json:"status"`
}

// JWKSMaxAge is the longest the server lets a verifier cache the JWKS
// (Options.JWKSMaxAge): shorter than the default key_publish_period, so a
// verifier's cached copy knows a new key before it signs.
const JWKSMaxAge = 5 * time.Minute

// GET /.well-known/jwks.json: public and cacheable for Options.JWKSMaxAge.
func (s *server) jwks(w http.ResponseWriter, r *http.Request) error {
	if s.jwksFn == nil {
		return notFound(fmt.Sprintf("the %s strategy issues no JWTs", s.m.Strategy()))
	}
	doc, err := s.jwksFn()
	if err != nil {
		return fmt.Errorf("httpapi: jwks: %w", err)
	}
	h := w.Header()
	h.Set("Cache-Control", "public, max-age="+strconv.FormatInt(int64(max(s.jwksAge, 0)/time.Second), 10))
	writeRaw(w, "application/json", doc)
	return nil
}

// GET /healthz: the process is up. It asks nothing else.
func (s *server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, "application/json", status{Status: "ok"})
	return nil
}

// ErrShuttingDown is what Options.Ready returns while the server, told to
// stop, still serves so that load balancers move off it first: /readyz
// answers it 503 store_unavailable, with its own detail.
var ErrShuttingDown = errors.New("httpapi: shutting down")

// GET /readyz: 200 while Ready succeeds, else 503 store_unavailable.
func (s *server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.readyFn != nil {
		ctx, cancel := context.WithTimeout(r.Context(), readyTimeout)
		defer cancel()
		err := s.readyFn(ctx)
		if errors.Is(err, ErrShuttingDown) {
			return &requestError{status: http.StatusServiceUnavailable, code: apitype.CodeStoreUnavailable,
				detail: "the server is shutting down", cause: err}
		}
		if err != nil {
			return fmt.Errorf("httpapi: not ready: %w: %w", sessiond.ErrStoreUnavailable, err)
		}
	}
	writeJSON(w, http.StatusOK, "application/json", status{Status: "ok"})
	return nil
}

// GET /openapi.json
func (s *server) openapi(w http.ResponseWriter, r *http.Request) error {
	writeRaw(w, "application/json", s.doc)
	return nil
}

func writeRaw(w http.ResponseWriter, contentType string, b []byte) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// GET /metrics and GET /sdk/sessiond.js are handlers owned elsewhere.
func (s *server) metrics(w http.ResponseWriter, r *http.Request) error {
	if s.metricsH == nil {
		return notFound("metrics are not enabled")
	}
	s.metricsH.ServeHTTP(w, r)
	return nil
}

func (s *server) sdk(w http.ResponseWriter, r *http.Request) error {
	if s.sdkH == nil {
		return notFound("no client SDK")
	}
	s.sdkH.ServeHTTP(w, r)
	return nil
}
