package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/sessiond/sessiond/apitype"
	"github.com/sessiond/sessiond/internal/ratelimit"
	"github.com/sessiond/sessiond/ssf"
)

// SSF is the Shared Signals transmitter (*ssf.Transmitter): its
// configuration document, public, and its stream management and poll
// endpoints, which the API authenticates (the ssf scope), rate limits,
// logs and answers errors for as every other route.
type SSF interface {
	Configuration() map[string]any
	Serve(w http.ResponseWriter, r *http.Request, c ssf.Caller) error
}

var errSSFOff = notFound("the Shared Signals transmitter is not enabled (ssf.transmitter)")

// ssfPath reports whether path is one of the transmitter's routes.
func ssfPath(path string) bool {
	return path == "/.well-known/ssf-configuration" || strings.HasPrefix(path, "/v1/ssf/")
}

// ssfOff answers every request for the transmitter's routes when it is
// off (New): 404 for any method, before any key is read, as for a path
// that no route serves.
func (s *server) ssfOff() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		infoFrom(r.Context()).pattern = r.Pattern
		s.writeError(w, r, errSSFOff)
	})
}

// ssfConfiguration serves GET /.well-known/ssf-configuration.
func (s *server) ssfConfiguration(w http.ResponseWriter, _ *http.Request) error {
	if s.ssf == nil {
		return errSSFOff
	}
	writeJSON(w, http.StatusOK, "application/json", s.ssf.Configuration())
	return nil
}

// ssfManage serves the transmitter's stream management and poll routes
// for the authenticated key: it owns the streams it creates, and an admin
// key sees every stream.
func (s *server) ssfManage(w http.ResponseWriter, r *http.Request) error {
	if s.ssf == nil {
		return errSSFOff
	}
	// The transmitter reads stream_id with url.Values.Get: it must be
	// there at most once, as every query parameter of the API.
	if _, err := oneValue(r.URL.Query(), "stream_id"); err != nil {
		return err
	}
	if r.Method != http.MethodGet && r.Method != http.MethodDelete {
		// The body passes the API's JSON checks (UTF-8, no lone
		// surrogate, no two keys equal or differing only in case,
		// depth, size) before the transmitter reads it. Unknown members
		// are let through: SSF 1.0 lets a receiver send back the members
		// the transmitter supplied, and ignores those it does not know;
		// the transmitter refuses a member named like one it knows in
		// other letters (ssf's unmarshalExact).
		var body map[string]json.RawMessage
		raw, err := s.readStrict(w, r, &body)
		if err != nil {
			return err
		}
		r.Body = io.NopCloser(bytes.NewReader(raw))
	}
	info := infoFrom(r.Context())
	err := s.ssf.Serve(w, r, ssf.Caller{Owner: info.keyID, Admin: info.admin})
	re, ok := errors.AsType[*ssf.RequestError](err)
	if !ok {
		return err // the store's: the error table answers
	}
	switch re.Status {
	case http.StatusRequestEntityTooLarge:
		return s.tooLarge()
	case http.StatusNotFound:
		return &requestError{status: re.Status, code: apitype.CodeNotFound, detail: re.Detail}
	}
	return &requestError{status: re.Status, code: apitype.CodeInvalidRequest, detail: re.Detail}
}

// readStrict reads the JSON body with every check of decodeJSON but the
// unknown fields of dst (a free object) and returns a copy of it.
func (s *server) readStrict(w http.ResponseWriter, r *http.Request, dst any) ([]byte, error) {
	bp := bodyPool.Get().(*[]byte)
	defer bodyPool.Put(bp)
	body, err := s.readJSON(w, r, bp)
	if err != nil {
		return nil, err
	}
	if err := s.decodeStrict(body, dst); err != nil {
		return nil, err
	}
	return bytes.Clone(body), nil
}

// receivers sends a request for an exact push path to its Shared Signals
// receiver, limited per address and logged under that path (from the
// configuration, never the request's own); anything else goes to routes.
func (s *server) receivers(push map[string]http.Handler, routes http.Handler) http.Handler {
	if len(push) == 0 {
		return routes
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, ok := push[r.URL.Path]
		if !ok {
			routes.ServeHTTP(w, r)
			return
		}
		infoFrom(r.Context()).pattern = r.URL.Path
		if ok, retry := s.ipLimit.Allow(ratelimit.AddrKey(peerIP(r))); !ok {
			s.writeError(w, r, tooMany(w, retry, "this address is over its request rate"))
			return
		}
		h.ServeHTTP(w, r)
	})
}
