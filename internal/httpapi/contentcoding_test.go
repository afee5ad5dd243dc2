package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/sessiond/sessiond"
)

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	if _, err := z.Write([]byte(s)); err != nil {
		t.Fatal(err)
	}
	if err := z.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestContentCoding: the API reads bodies as sent, without content
// codings. A body sent with one (gzip…) is refused with 415 and
// Accept-Encoding naming what would do (RFC 9110 §15.5.16, §12.5.3), not
// 400 as if the JSON were malformed; a 400 for another reason carries no
// Accept-Encoding (RFC 9110 §12.5.3: it would read as a coding problem).
func TestContentCoding(t *testing.T) {
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	tr := e.create("ann")
	create := `{"subject":"bob"}`
	verify := jsonBody(t, map[string]any{"access_token": string(tr.AccessToken)})
	form := url.Values{"token": {string(tr.AccessToken)}}.Encode()
	const (
		jsonType = "application/json"
		formType = "application/x-www-form-urlencoded"
	)
	for _, tc := range []struct {
		name, path, ctype, coding string
		body                      []byte
		status                    int
		oauth                     bool
	}{
		{"gzip JSON", "/v1/sessions", jsonType, "gzip", gzipped(t, create), http.StatusUnsupportedMediaType, false},
		{"gzip verify", "/v1/sessions/verify", jsonType, "gzip", gzipped(t, verify), http.StatusUnsupportedMediaType, false},
		{"br, declared only", "/v1/sessions", jsonType, "br", []byte(create), http.StatusUnsupportedMediaType, false},
		{"two codings", "/v1/sessions", jsonType, "identity, gzip", gzipped(t, create), http.StatusUnsupportedMediaType, false},
		{"gzip form", "/oauth2/introspect", formType, "gzip", gzipped(t, form), http.StatusUnsupportedMediaType, true},
		{"identity JSON", "/v1/sessions", jsonType, "identity", []byte(create), http.StatusCreated, false},
		{"identity form", "/oauth2/introspect", formType, "Identity", []byte(form), http.StatusOK, true},
		{"wrong content type", "/v1/sessions", "text/plain", "", []byte(create), http.StatusBadRequest, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(http.MethodPost, tc.path, tc.ctype, tc.body, map[string]string{"Content-Encoding": tc.coding})
			if r.status != tc.status {
				t.Fatalf("POST %s with Content-Encoding %q = %d %s; want %d", tc.path, tc.coding, r.status, r.body, tc.status)
			}
			ae, hasAE := r.header["Accept-Encoding"]
			if tc.status != http.StatusUnsupportedMediaType {
				if hasAE {
					t.Errorf("%d answer with Accept-Encoding %q; want none", r.status, ae)
				}
				return
			}
			if len(ae) != 1 || ae[0] != "identity" {
				t.Errorf("415 Accept-Encoding = %q; want identity", ae)
			}
			if tc.oauth {
				var oe struct {
					Error string `json:"error"`
				}
				if err := json.Unmarshal(r.body, &oe); err != nil || oe.Error != "invalid_request" {
					t.Errorf("415 body %s; want an RFC 6749 error invalid_request", r.body)
				}
				return
			}
			wantProblem(t, "415", r, http.StatusUnsupportedMediaType, "invalid_request", "Content-Encoding")
		})
	}
}
