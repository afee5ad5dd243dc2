package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
)

func TestEvents_Route(t *testing.T) {
	var e *env
	e = newEnv(t, sessiond.StrategyHybrid, nil)
	// A second handler over the same Manager and store, with the event log.
	h, err := httpapi.New(httpapi.Options{Manager: e.m, Authenticate: authenticate, Events: e.store, Outbox: e.store})
	if err != nil {
		t.Fatal(err)
	}
	e.handler = h
	e.srv.Config.Handler = h

	now := t0.Add(time.Minute)
	var evs []sessiond.Event
	for i := range 5 {
		at := now.Add(time.Duration(i) * time.Second)
		evs = append(evs, sessiond.Event{ID: sessiond.NewEventID(at), Time: at, Type: sessiond.EventSessionCreated,
			Subject: []string{"alice", "bob"}[i%2], Details: map[string]any{"n": i}})
	}
	if err := e.store.AppendEvents(t.Context(), evs...); err != nil {
		t.Fatal(err)
	}
	r := e.do(http.MethodGet, "/v1/events?subject=alice&limit=2", "", nil, nil)
	var page struct {
		Events     []map[string]any `json:"events"`
		NextCursor *string          `json:"next_cursor"`
	}
	if err := json.Unmarshal(r.body, &page); r.status != 200 || err != nil || len(page.Events) != 2 || page.NextCursor == nil {
		t.Fatalf("GET /v1/events = %d %s", r.status, r.body)
	}
	r = e.do(http.MethodGet, "/v1/events?subject=alice&limit=2&cursor="+*page.NextCursor, "", nil, nil)
	json.Unmarshal(r.body, &page)
	if len(page.Events) != 1 || page.NextCursor != nil || page.Events[0]["subject"] != "alice" {
		t.Fatalf("second page = %s; want alice's third event and no cursor", r.body)
	}
	since := now.Add(3 * time.Second).Format(time.RFC3339)
	r = e.do(http.MethodGet, "/v1/events?since="+since, "", nil, nil)
	json.Unmarshal(r.body, &page)
	if len(page.Events) != 2 {
		t.Errorf("since filter: %d events; want 2", len(page.Events))
	}

	for _, tc := range []struct{ query, detail string }{
		// Given twice: the first value is not taken (TestAPI_RepeatedQueryParameter).
		{"limit=1&limit=5000", "limit: must be given at most once"},
		{"subject=alice&subject=mallory", "subject: must be given at most once"},
		{"since=yesterday", "since"},
		{"until=2026-13-01T00:00:00Z", "until"},
		// The zero time would read as no bound: every event.
		{"until=0001-01-01T00:00:00Z", "until"},
		{"since=0001-01-01T00:00:00Z", "since"},
		// Given empty, a filter was read as absent: ?subject= listed every
		// subject's events (an empty cursor stays the first page).
		{"subject=", "subject: must not be empty"},
		{"session_id=", "session_id: must not be empty"},
		{"type=", "type: must not be empty"},
		{"since=", "since: must not be empty"},
		{"until=", "until: must not be empty"},
		{"limit=0", "limit"},
		{"limit=5000", "limit"},
		{"limit=ten", "limit"},
		// Not the canonical spelling of an integer (the OpenAPI type).
		{"limit=%2B5", "limit"},
		{"limit=05", "limit"},
		{"limit=-0", "limit"},
		// A type sessiond never records matches nothing: a typo answered
		// an empty list, read as "no such events".
		{"type=nonsense", `type: unknown event type "nonsense"`},
		{"type=session.revokd", `type: unknown event type "session.revokd"`},
		{"subject=" + strings.Repeat("s", 300), "too long"},
		{"cursor=" + strings.Repeat("c", 100), "too long"},
		// Not printable ASCII: PostgreSQL would match other values.
		{"cursor=evt_%00", "printable ASCII"},
		{"type=session.created%FF", "printable ASCII"},
		{"session_id=abc%20def", "printable ASCII"},
		{"type=session.%E2%80%AEcreated", "printable ASCII"},
		{"subject=a%00b", "subject"},
	} {
		wantProblem(t, "GET /v1/events?"+tc.query[:min(len(tc.query), 20)], e.do(http.MethodGet, "/v1/events?"+tc.query, "", nil, nil),
			http.StatusBadRequest, "invalid_request", tc.detail)
	}
	wantProblem(t, "events without API key", e.do(http.MethodGet, "/v1/events", "", nil, map[string]string{"Authorization": ""}),
		http.StatusUnauthorized, "unauthorized", "")

	// Deliveries: state filter and bad input.
	if err := e.store.EnqueueDeliveries(t.Context(), sessiond.Delivery{ID: "msg_1", Endpoint: "ep", EventID: evs[0].ID,
		Payload: []byte("{}"), NextAttemptAt: now, CreatedAt: now, UpdatedAt: now}); err != nil {
		t.Fatal(err)
	}
	r = e.do(http.MethodGet, "/v1/webhooks/deliveries?state=pending", "", nil, nil)
	if r.status != 200 || !strings.Contains(string(r.body), `"msg_1"`) {
		t.Errorf("pending deliveries = %d %s", r.status, r.body)
	}
	r = e.do(http.MethodGet, "/v1/webhooks/deliveries", "", nil, nil)
	if r.status != 200 || strings.Contains(string(r.body), "msg_1") {
		t.Errorf("default (dead) deliveries = %d %s; want none", r.status, r.body)
	}
	wantProblem(t, "deliveries bad state", e.do(http.MethodGet, "/v1/webhooks/deliveries?state=lost", "", nil, nil),
		http.StatusBadRequest, "invalid_request", "state")
	wantProblem(t, "deliveries bad limit", e.do(http.MethodGet, "/v1/webhooks/deliveries?limit=-1", "", nil, nil),
		http.StatusBadRequest, "invalid_request", "limit")
	wantProblem(t, "deliveries limit with a sign", e.do(http.MethodGet, "/v1/webhooks/deliveries?limit=%2B5", "", nil, nil),
		http.StatusBadRequest, "invalid_request", "limit")
	if r := e.do(http.MethodGet, "/v1/webhooks/deliveries?limit=5", "", nil, nil); r.status != 200 {
		t.Errorf("deliveries limit=5 = %d %s; want 200", r.status, r.body)
	}
	for _, typ := range sessiond.EventTypes() {
		if r := e.do(http.MethodGet, "/v1/events?limit=1&type="+string(typ), "", nil, nil); r.status != 200 {
			t.Errorf("GET /v1/events?type=%s = %d %s; want 200", typ, r.status, r.body)
		}
	}
	wantProblem(t, "deliveries state twice", e.do(http.MethodGet, "/v1/webhooks/deliveries?state=dead&state=pending", "", nil, nil),
		http.StatusBadRequest, "invalid_request", "state: must be given at most once")
}

func TestOpsRoutes_NotConfigured(t *testing.T) {
	e := newEnv(t, sessiond.StrategyHybrid, nil)
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/v1/events"},
		{http.MethodGet, "/v1/webhooks/deliveries"},
		{http.MethodGet, "/metrics"},
		{http.MethodGet, "/sdk/sessiond.js"},
		{http.MethodGet, "/.well-known/ssf-configuration"},
		{http.MethodGet, "/v1/ssf/streams"},
	} {
		wantProblem(t, tc.path, e.do(tc.method, tc.path, "", nil, nil), http.StatusNotFound, "not_found", "")
	}
	wantProblem(t, "revocations", e.postJSON("/v1/revocations", `{"all":true}`), http.StatusNotFound, "not_found", "")
}

func TestIncident_Route(t *testing.T) {
	var got []httpapi.IncidentRequest
	incident := func(_ context.Context, req httpapi.IncidentRequest) (int, error) {
		got = append(got, req)
		return 7, nil
	}
	var failures int
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
		o.Incident = incident
		o.AuthFailed = func(_ context.Context, f httpapi.AuthFailure) { failures += f.Count }
		o.Metrics = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
			w.Write([]byte("sessiond_up 1\n"))
		})
		o.SDK = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
			w.Write([]byte("export {}"))
		})
	})
	r := e.postJSON("/v1/revocations", `{"subjects":["alice"],"issued_before":"2026-11-26T10:00:00Z","reason":"leak","rotate_keys":true,"notify":true}`)
	if r.status != 200 || string(r.body) != "{\"revoked\":7}\n" {
		t.Fatalf("POST /v1/revocations = %d %s", r.status, r.body)
	}
	want := httpapi.IncidentRequest{Subjects: []string{"alice"}, IssuedBefore: time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC),
		Reason: "leak", RotateKeys: true, Notify: true}
	if len(got) != 1 || got[0].Reason != want.Reason || !got[0].IssuedBefore.Equal(want.IssuedBefore) || !got[0].RotateKeys || !got[0].Notify || got[0].Subjects[0] != "alice" {
		t.Fatalf("incident got %+v; want %+v", got, want)
	}
	many := `{"subjects":[` + strings.Repeat(`"x",`, 10000) + `"y"]}`
	for _, tc := range []struct{ name, body, detail string }{
		{"no scope", `{"reason":"x"}`, "all"},
		{"unknown field", `{"all":true,"everything":true}`, "everything"},
		{"wrong type", `{"all":"yes"}`, "all"},
		// A time's own UnmarshalJSON names no field: the detail does.
		{"bad time", `{"issued_before":"last week"}`, `invalid value for "issued_before": want an RFC 3339 time`},
		{"time a number", `{"issued_before":1700000000}`, `invalid value for "issued_before": want an RFC 3339 time`},
		{"time without zone", `{"all":true,"issued_before":"2026-11-26T10:00:00"}`, `invalid value for "issued_before"`},
		{"null time", `{"all":true,"issued_before":null}`, "issued_before: must not be null"},
		{"too many subjects", many, "subjects"},
		{"long reason", `{"all":true,"reason":"` + strings.Repeat("r", 300) + `"}`, "reason"},
		{"not json", `all=true`, ""},
		{"issued_before in the future", `{"issued_before":"2099-01-01T00:00:00Z"}`, "issued_before"},
	} {
		wantProblem(t, tc.name, e.postJSON("/v1/revocations", tc.body), http.StatusBadRequest, "invalid_request", tc.detail)
	}
	if len(got) != 1 {
		t.Errorf("bad requests reached the kill switch: %d calls", len(got))
	}
	wantProblem(t, "no API key", e.do(http.MethodPost, "/v1/revocations", "application/json", []byte(`{"all":true}`),
		map[string]string{"Authorization": "Bearer " + strings.Repeat("w", 40)}), http.StatusUnauthorized, "unauthorized", "")
	if failures != 1 {
		t.Errorf("AuthFailed calls = %d; want 1", failures)
	}
	if r := e.do(http.MethodGet, "/metrics", "", nil, map[string]string{"Authorization": ""}); r.status != 200 || string(r.body) != "sessiond_up 1\n" {
		t.Errorf("/metrics = %d %q", r.status, r.body)
	}
	if r := e.do(http.MethodGet, "/sdk/sessiond.js", "", nil, map[string]string{"Authorization": ""}); r.status != 200 {
		t.Errorf("/sdk/sessiond.js = %d", r.status)
	}
}

// TestIncident_IssuedBefore: issued_before is any RFC 3339 time from the
// Unix epoch to a minute past now, in any offset and to the nanosecond.
// Before the epoch it is refused: no session is that old, so such a time
// is a typo, and the zero time (0001-01-01T00:00:00Z) reads as no
// issued_before at all, widening the subjects given to all their sessions;
// a time before it (year 0) passed the store the zero time, the same.
func TestIncident_IssuedBefore(t *testing.T) {
	var got []httpapi.IncidentRequest
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
		o.Incident = func(_ context.Context, req httpapi.IncidentRequest) (int, error) {
			got = append(got, req)
			return 0, nil
		}
	})
	for _, tc := range []struct {
		name, issuedBefore string
		want               time.Time // zero: refused
	}{
		{"zero time", "0001-01-01T00:00:00Z", time.Time{}},
		{"zero time in another offset", "0001-01-01T01:00:00+01:00", time.Time{}},
		{"before the zero time", "0000-12-31T23:00:00Z", time.Time{}},
		{"year 0", "0000-01-01T00:00:00Z", time.Time{}},
		{"before 1970", "1969-12-31T23:59:59Z", time.Time{}},
		{"a nanosecond before 1970", "1969-12-31T23:59:59.999999999Z", time.Time{}},
		{"epoch", "1970-01-01T00:00:00Z", time.Unix(0, 0)},
		{"offset", "2026-11-26T11:00:00+01:00", time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC)},
		{"fraction", "2026-11-26T10:00:00.123456789Z", time.Date(2026, 11, 26, 10, 0, 0, 123456789, time.UTC)},
		{"within the minute ahead", t0.Add(30 * time.Second).Format(time.RFC3339Nano), t0.Add(30 * time.Second)},
	} {
		got = nil
		r := e.postJSON("/v1/revocations", `{"subjects":["alice"],"issued_before":"`+tc.issuedBefore+`","reason":"x"}`)
		if tc.want.IsZero() {
			wantProblem(t, tc.name, r, http.StatusBadRequest, "invalid_request", "issued_before")
			if len(got) != 0 {
				t.Errorf("%s: reached the kill switch as %+v", tc.name, got)
			}
			continue
		}
		if r.status != http.StatusOK || len(got) != 1 || !got[0].IssuedBefore.Equal(tc.want) {
			t.Errorf("%s: POST /v1/revocations = %d %s, got %+v; want 200 with issued_before %v", tc.name, r.status, r.body, got, tc.want)
		}
	}
}

// TestIncident_Long: a kill switch that takes longer than the server's
// write timeout still answers, and one whose client goes away runs to its
// end with a context that is not canceled. Before, the connection was cut
// at server.write_timeout (the CLI saw EOF after 15 s on about 680,000
// Redis sessions) and the revocation stopped with the request's context.
func TestIncident_Long(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	canceled := make(chan bool, 1)
	var slow atomic.Bool
	e := newEnv(t, sessiond.StrategyHybrid, func(o *httpapi.Options) {
		o.WriteTimeout = 100 * time.Millisecond // as the server below: the request's deadline does not reach the kill switch
		o.Incident = func(ctx context.Context, req httpapi.IncidentRequest) (int, error) {
			if slow.Load() {
				time.Sleep(300 * time.Millisecond) // three write timeouts
				return 3, nil
			}
			started <- struct{}{}
			<-release
			select {
			case <-ctx.Done():
				canceled <- true
			case <-time.After(time.Second): // the server has seen the client go by now
				canceled <- false
			}
			return 1, nil
		}
	})
	srv := httptest.NewUnstartedServer(e.handler)
	srv.Config.WriteTimeout = 100 * time.Millisecond
	srv.Start()
	t.Cleanup(srv.Close)
	post := func(ctx context.Context) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/revocations", strings.NewReader(`{"all":true,"reason":"drill"}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+apiKey)
		return srv.Client().Do(req)
	}

	t.Run("longer than the write timeout", func(t *testing.T) {
		slow.Store(true)
		defer slow.Store(false)
		resp, err := post(t.Context())
		if err != nil {
			t.Fatalf("POST /v1/revocations = %v; want an answer after the write timeout", err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK || string(b) != "{\"revoked\":3}\n" {
			t.Fatalf("POST /v1/revocations = %d %q, %v; want 200 {\"revoked\":3}", resp.StatusCode, b, err)
		}
	})

	t.Run("client gone", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		errc := make(chan error, 1)
		go func() {
			resp, err := post(ctx)
			if err == nil {
				resp.Body.Close()
			}
			errc <- err
		}()
		<-started
		cancel()
		if err := <-errc; !errors.Is(err, context.Canceled) {
			t.Fatalf("POST with the client gone = %v; want context.Canceled", err)
		}
		close(release)
		if <-canceled {
			t.Fatal("the kill switch's context was canceled when its client went away; want it to run to its end")
		}
	})
}
