package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/ssf"
)

// TestSSF_RequestsKeepTheContract: the transmitter's bodies are read as
// /openapi.json describes them: a negative maxEvents (minimum 0), a
// description or a verification state over their maxLength (counted in
// characters, as JSON Schema does) answer 400 rather than being clamped or
// cut, a description of maxLength two-byte characters is kept whole, and
// the document's limits are the transmitter's.
func TestSSF_RequestsKeepTheContract(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) { o.SSF = newSSF(t) })
	ssfKey := map[string]string{"Authorization": "Bearer " + string(scopedKey(apikey.ScopeSSF))}

	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					MaxLength *int `json:"maxLength"`
					Minimum   *int `json:"minimum"`
				} `json:"properties"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if r := e.do(http.MethodGet, "/openapi.json", "", nil, nil); json.Unmarshal(r.body, &doc) != nil {
		t.Fatalf("openapi = %d", r.status)
	}
	s := doc.Components.Schemas
	for _, c := range []struct {
		schema, field string
		got           *int
		want          int
	}{
		{"SSFStreamRequest", "description", s["SSFStreamRequest"].Properties["description"].MaxLength, ssf.MaxText},
		{"SSFVerifyRequest", "state", s["SSFVerifyRequest"].Properties["state"].MaxLength, ssf.MaxText},
		{"SSFPollRequest", "maxEvents", s["SSFPollRequest"].Properties["maxEvents"].Minimum, 0},
	} {
		if c.got == nil || *c.got != c.want {
			t.Errorf("openapi %s.%s limit = %v; want %d", c.schema, c.field, c.got, c.want)
		}
	}

	r := e.do(http.MethodPost, "/v1/ssf/streams", "application/json", []byte(`{"delivery":{"method":"urn:ietf:rfc:8936"}}`), ssfKey)
	var st struct {
		ID string `json:"stream_id"`
	}
	if err := json.Unmarshal(r.body, &st); err != nil || r.status != http.StatusCreated {
		t.Fatalf("create = %d %s", r.status, r.body)
	}
	long := strings.Repeat("é", ssf.MaxText+1)
	for _, tc := range []struct{ name, method, path, body, detail string }{
		{"negative maxEvents", http.MethodPost, "/v1/ssf/poll/" + st.ID, `{"maxEvents":-5,"returnImmediately":true}`, "maxEvents"},
		{"description over maxLength", http.MethodPatch, "/v1/ssf/streams", `{"stream_id":"` + st.ID + `","description":"` + long + `"}`, "description"},
		{"state over maxLength", http.MethodPost, "/v1/ssf/verify", `{"stream_id":"` + st.ID + `","state":"` + long + `"}`, "state"},
	} {
		wantProblem(t, tc.name, e.do(tc.method, tc.path, "application/json", []byte(tc.body), ssfKey),
			http.StatusBadRequest, "invalid_request", tc.detail)
	}
	desc := strings.Repeat("é", ssf.MaxText)
	r = e.do(http.MethodPatch, "/v1/ssf/streams", "application/json", []byte(`{"stream_id":"`+st.ID+`","description":"`+desc+`"}`), ssfKey)
	var got struct {
		Description string `json:"description"`
	}
	if err := json.Unmarshal(r.body, &got); err != nil || r.status != http.StatusOK {
		t.Fatalf("patch = %d %s", r.status, r.body)
	}
	if got.Description != desc {
		t.Errorf("a description of %d characters (within maxLength) came back as %d", ssf.MaxText, len([]rune(got.Description)))
	}
}
