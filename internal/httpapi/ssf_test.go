package httpapi_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/internal/ratelimit"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/ssf"
)

// newSSF is a transmitter on its own memstore.
func newSSF(t testing.TB) *ssf.Transmitter {
	t.Helper()
	st := memstore.New()
	ring, err := jwttoken.NewRing(time.Now(), jwttoken.RingOptions{MaxTokenLifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := ssf.NewTransmitter(ssf.TransmitterOptions{Issuer: "https://sessiond.test", Meta: st, Outbox: st, Signer: ring})
	if err != nil {
		t.Fatal(err)
	}
	return tx
}

// TestSSF_Routes: the transmitter's routes are API routes: the ssf scope
// (an admin key too), problem documents for every refusal, the body limit,
// a request log line with the pattern and the key, and the rate limits;
// the configuration document is public but logged and limited per
// address.
func TestSSF_Routes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
		o.SSF = newSSF(t)
		o.MaxBodyBytes = 4 << 10
		o.RateLimits.PerClientIP = ratelimit.Options{Rate: 0.001, Burst: 40}
	})
	ssfKey := map[string]string{"Authorization": "Bearer " + string(scopedKey(apikey.ScopeSSF))}
	verifyKey := map[string]string{"Authorization": "Bearer " + string(scopedKey(apikey.ScopeVerify))}

	r := e.do(http.MethodGet, "/.well-known/ssf-configuration", "", nil, map[string]string{"Authorization": "", "X-Request-Id": "cfg-1"})
	var cfg map[string]any
	if err := json.Unmarshal(r.body, &cfg); err != nil || r.status != http.StatusOK {
		t.Fatalf("configuration = %d %s", r.status, r.body)
	}
	if cfg["add_subject_endpoint"] != "https://sessiond.test/v1/ssf/subjects/add" || cfg["configuration_endpoint"] != "https://sessiond.test/v1/ssf/streams" {
		t.Errorf("configuration = %v", cfg)
	}

	create := `{"delivery":{"method":"urn:ietf:rfc:8936"}}`
	r = e.do(http.MethodPost, "/v1/ssf/streams", "application/json", []byte(create), withID(ssfKey, "create-1"))
	var st struct {
		ID string `json:"stream_id"`
	}
	if err := json.Unmarshal(r.body, &st); err != nil || r.status != http.StatusCreated || st.ID == "" {
		t.Fatalf("create = %d %s", r.status, r.body)
	}
	wantProblem(t, "no key", e.do(http.MethodGet, "/v1/ssf/streams", "", nil, map[string]string{"Authorization": ""}),
		http.StatusUnauthorized, "unauthorized", "API key")
	wantProblem(t, "verify scope", e.do(http.MethodGet, "/v1/ssf/streams", "", nil, verifyKey),
		http.StatusForbidden, "insufficient_scope", "ssf")
	wantProblem(t, "unknown stream", e.do(http.MethodGet, "/v1/ssf/streams?stream_id=nope", "", nil, ssfKey),
		http.StatusNotFound, "not_found", "stream")
	wantProblem(t, "bad delivery", e.do(http.MethodPost, "/v1/ssf/streams", "application/json", []byte(`{"delivery":{"method":"smtp"}}`), ssfKey),
		http.StatusBadRequest, "invalid_request", "delivery.method")
	wantProblem(t, "not JSON", e.do(http.MethodPost, "/v1/ssf/subjects/add", "application/json", []byte(`{`), ssfKey),
		http.StatusBadRequest, "invalid_request", "")
	wantProblem(t, "wrong content type", e.do(http.MethodPost, "/v1/ssf/verify", "text/plain", []byte(`{}`), ssfKey),
		http.StatusBadRequest, "invalid_request", "content type")
	big := `{"stream_id":"` + st.ID + `","subject":{"format":"opaque","id":"` + strings.Repeat("x", 5<<10) + `"}}`
	wantProblem(t, "oversized", e.do(http.MethodPost, "/v1/ssf/subjects/add", "application/json", []byte(big), ssfKey),
		http.StatusRequestEntityTooLarge, "payload_too_large", "")
	wantProblem(t, "malformed subject", e.do(http.MethodPost, "/v1/ssf/subjects/add", "application/json",
		[]byte(`{"stream_id":"`+st.ID+`","subject":{"format":"email","email":"a@b.example"}}`), ssfKey),
		http.StatusBadRequest, "invalid_request", "subject format")
	if r := e.do(http.MethodPost, "/v1/ssf/subjects/add", "application/json",
		[]byte(`{"stream_id":"`+st.ID+`","subject":{"format":"opaque","id":"alice"},"verified":true}`), ssfKey); r.status != http.StatusOK {
		t.Errorf("add subject = %d %s", r.status, r.body)
	}
	r = e.do(http.MethodPost, "/v1/ssf/poll/"+st.ID, "application/json", []byte(`{"returnImmediately":true}`), withID(ssfKey, "poll-1"))
	if r.status != http.StatusOK || !strings.Contains(string(r.body), `"sets"`) {
		t.Errorf("poll = %d %s", r.status, r.body)
	}

	// The address's budget (40) runs out on the public document too.
	limited := false
	for range 60 {
		r := e.do(http.MethodGet, "/.well-known/ssf-configuration", "", nil, map[string]string{"Authorization": ""})
		if r.status == http.StatusTooManyRequests {
			wantProblem(t, "rate limited", r, http.StatusTooManyRequests, "too_many_requests", "address")
			limited = true
			break
		}
	}
	if !limited {
		t.Error("the configuration document is not rate limited per address")
	}

	// Every request above has its log line; those named here are checked.
	want := map[string]string{"cfg-1": "GET /.well-known/ssf-configuration", "create-1": "POST /v1/ssf/streams", "poll-1": "POST /v1/ssf/poll/{stream_id}"}
	for _, l := range requestLines(e.logLines()) {
		id, _ := l["request_id"].(string)
		if p, ok := want[id]; ok {
			if l["pattern"] != p || (id != "cfg-1" && l["api_key_id"] == "") {
				t.Errorf("log line %v; want pattern %s and the key", l, p)
			}
			delete(want, id)
		}
	}
	if len(want) != 0 {
		t.Errorf("no log line for %v", want)
	}
}

func withID(h map[string]string, id string) map[string]string {
	out := map[string]string{"X-Request-Id": id}
	for k, v := range h {
		out[k] = v
	}
	return out
}

// TestSSF_Receivers: a push receiver's path is served by the receiver, not
// the routes, behind the request log (the configured path as the pattern),
// the security headers and the per-address limit; other paths, and the
// receiver's path with a suffix, still reach the routes.
func TestSSF_Receivers(t *testing.T) {
	t.Parallel()
	var served int
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
		o.RateLimits.PerClientIP = ratelimit.Options{Rate: 0.5, Burst: 2}
		o.Receivers = map[string]http.Handler{"/ssf/push/idp": http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			served++
			w.WriteHeader(http.StatusAccepted)
		})}
	})
	push := func(path string) *http.Response {
		t.Helper()
		res, err := e.srv.Client().Post(e.srv.URL+path, "application/secevent+jwt", strings.NewReader("x.y.z"))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	for i := range 2 {
		res := push("/ssf/push/idp")
		if res.StatusCode != http.StatusAccepted || res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("push %d = %d, nosniff %q; want 202 from the receiver with the API's headers",
				i+1, res.StatusCode, res.Header.Get("X-Content-Type-Options"))
		}
	}
	if res := push("/ssf/push/idp"); res.StatusCode != http.StatusTooManyRequests || served != 2 {
		t.Errorf("third push = %d, receiver ran %d times; want 429 and 2", res.StatusCode, served)
	}
	if res := push("/ssf/push/idp/extra"); res.StatusCode != http.StatusNotFound || served != 2 {
		t.Errorf("push to a longer path = %d, receiver ran %d times; want the routes' 404 and 2", res.StatusCode, served)
	}
	var statuses []float64
	for _, l := range requestLines(e.logLines()) {
		if l["pattern"] == "/ssf/push/idp" {
			statuses = append(statuses, l["status"].(float64))
		}
	}
	if len(statuses) != 3 || statuses[0] != 202 || statuses[2] != 429 {
		t.Errorf("request log lines for the receiver: statuses %v; want [202 202 429]", statuses)
	}
}

// TestSSF_Off: with no transmitter its routes do not exist: every method
// on each of their paths answers 404, with or without a key, and no
// Allow list (a 405 would say the route is there under other methods).
func TestSSF_Off(t *testing.T) {
	t.Parallel()
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	keys := map[string]map[string]string{
		"no key":  {"Authorization": ""},
		"ssf key": {"Authorization": "Bearer " + string(scopedKey(apikey.ScopeSSF))},
	}
	paths := []string{"/.well-known/ssf-configuration", "/v1/ssf/streams", "/v1/ssf/status", "/v1/ssf/verify",
		"/v1/ssf/subjects/add", "/v1/ssf/subjects/remove", "/v1/ssf/poll/s1"}
	methods := []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions}
	for name, key := range keys {
		for _, p := range paths {
			for _, m := range methods {
				op := name + " " + m + " " + p
				r := e.do(m, p, "application/json", []byte(`{}`), key)
				if allow := r.header.Get("Allow"); allow != "" {
					t.Errorf("%s: Allow = %q; want none", op, allow)
				}
				if m == http.MethodHead {
					if r.status != http.StatusNotFound {
						t.Errorf("%s = %d; want 404", op, r.status)
					}
					continue
				}
				wantProblem(t, op, r, http.StatusNotFound, "not_found", "ssf.transmitter")
			}
		}
	}
}
