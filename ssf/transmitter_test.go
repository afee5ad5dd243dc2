package ssf_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/ssf"

	"github.com/sessiond/sessiond/internal/testenv"
)

// newTransmitter serves a Transmitter on memstore whose API keys are
// "key-a", "key-b" (ssf scope), "admin" and "verify-only". It pushes to
// private addresses: the tests' receivers are httptest servers on loopback.
func newTransmitterServer(t *testing.T) (*ssf.Transmitter, *httptest.Server, *memstore.Store) {
	t.Helper()
	return newTransmitterServerWith(t, nil)
}

// newTransmitterServerWith is newTransmitterServer with mod applied to
// the options.
func newTransmitterServerWith(t *testing.T, mod func(*ssf.TransmitterOptions)) (*ssf.Transmitter, *httptest.Server, *memstore.Store) {
	t.Helper()
	st := memstore.New()
	ring, err := jwttoken.NewRing(time.Now(), jwttoken.RingOptions{MaxTokenLifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	o := ssf.TransmitterOptions{Issuer: "https://sessiond.example.com", Meta: st, Outbox: st,
		Signer: ring, AllowHTTP: true, AllowPrivate: true,
		Authenticate: func(_ context.Context, bearer string) (string, bool, error) {
			switch bearer {
			case "key-a", "key-b":
				return bearer, false, nil
			case "admin":
				return "admin", true, nil
			case "verify-only":
				return "", false, ssf.ErrForbidden
			}
			return "", false, ssf.ErrUnauthorized
		}}
	if mod != nil {
		mod(&o)
	}
	tx, err := ssf.NewTransmitter(o)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(tx)
	t.Cleanup(srv.Close)
	return tx, srv, st
}

func txCall(t *testing.T, method, url, key, body string, out any) int {
	t.Helper()
	return testenv.CallAPI(t, method, url, key, body, out)
}

// TestTransmitter_StreamAccess: stream management needs an ssf key; a key
// sees and changes only its own streams, an admin key all of them.
func TestTransmitter_StreamAccess(t *testing.T) {
	_, srv, _ := newTransmitterServer(t)
	streams := srv.URL + ssf.PathStreams
	var s struct {
		ID string `json:"stream_id"`
	}
	if code := txCall(t, http.MethodPost, streams, "key-a", `{"delivery":{"method":"urn:ietf:rfc:8936"}}`, &s); code != http.StatusCreated || s.ID == "" {
		t.Fatalf("create = %d", code)
	}
	tests := []struct {
		name, method, url, key, body string
		want                         int
	}{
		{"no key", http.MethodGet, streams, "", "", http.StatusUnauthorized},
		{"unknown key", http.MethodGet, streams, "nope", "", http.StatusUnauthorized},
		{"no ssf scope", http.MethodGet, streams, "verify-only", "", http.StatusForbidden},
		{"owner reads", http.MethodGet, streams + "?stream_id=" + s.ID, "key-a", "", http.StatusOK},
		{"other key reads", http.MethodGet, streams + "?stream_id=" + s.ID, "key-b", "", http.StatusNotFound},
		{"admin reads", http.MethodGet, streams + "?stream_id=" + s.ID, "admin", "", http.StatusOK},
		{"other key updates", http.MethodPatch, streams, "key-b", `{"stream_id":"` + s.ID + `","description":"x"}`, http.StatusNotFound},
		{"other key pauses", http.MethodPost, srv.URL + ssf.PathStatus, "key-b", `{"stream_id":"` + s.ID + `","status":"paused"}`, http.StatusNotFound},
		{"other key polls", http.MethodPost, srv.URL + ssf.PathPoll + s.ID, "key-b", `{}`, http.StatusNotFound},
		{"other key deletes", http.MethodDelete, streams + "?stream_id=" + s.ID, "key-b", "", http.StatusNotFound},
		{"bad method", http.MethodPost, streams, "key-a", `{"delivery":{"method":"smtp"}}`, http.StatusBadRequest},
		{"not JSON", http.MethodPost, streams, "key-a", `{`, http.StatusBadRequest},
		{"bad status", http.MethodPost, srv.URL + ssf.PathStatus, "key-a", `{"stream_id":"` + s.ID + `","status":"gone"}`, http.StatusBadRequest},
		// A request naming no stream is malformed (400), not about a
		// stream that is not there (404).
		{"delete without stream_id", http.MethodDelete, streams, "key-a", "", http.StatusBadRequest},
		{"status without stream_id", http.MethodGet, srv.URL + ssf.PathStatus, "key-a", "", http.StatusBadRequest},
		{"set status without stream_id", http.MethodPost, srv.URL + ssf.PathStatus, "key-a", `{"status":"paused"}`, http.StatusBadRequest},
		{"update without stream_id", http.MethodPatch, streams, "key-a", `{"description":"x"}`, http.StatusBadRequest},
		{"verify without stream_id", http.MethodPost, srv.URL + ssf.PathVerify, "key-a", `{}`, http.StatusBadRequest},
		{"add a subject without stream_id", http.MethodPost, srv.URL + ssf.PathAddSubject, "key-a", `{"subject":{"format":"opaque","id":"u1"}}`, http.StatusBadRequest},
		{"owner deletes", http.MethodDelete, streams + "?stream_id=" + s.ID, "key-a", "", http.StatusNoContent},
		{"deleted", http.MethodGet, streams + "?stream_id=" + s.ID, "key-a", "", http.StatusNotFound},
	}
	for _, tc := range tests {
		if code := txCall(t, tc.method, tc.url, tc.key, tc.body, nil); code != tc.want {
			t.Errorf("%s: %s = %d; want %d", tc.name, tc.method, code, tc.want)
		}
	}
}

// TestTransmitter_EventListsAreArrays: a stream that requested no event
// sessiond sends has an empty events_delivered, an array as SSF 1.0
// §8.1.1 and the OpenAPI document say, never null; so has a stream whose
// events_requested was sent as null.
func TestTransmitter_EventListsAreArrays(t *testing.T) {
	_, srv, _ := newTransmitterServer(t)
	streams := srv.URL + ssf.PathStreams
	for _, body := range []string{
		`{"delivery":{"method":"urn:ietf:rfc:8936"},"events_requested":["https://example.com/not-an-event"]}`,
		`{"delivery":{"method":"urn:ietf:rfc:8936"},"events_requested":null}`,
	} {
		var created map[string]json.RawMessage
		if code := txCall(t, http.MethodPost, streams, "key-a", body, &created); code != http.StatusCreated {
			t.Fatalf("create %s = %d", body, code)
		}
		var id string
		if err := json.Unmarshal(created["stream_id"], &id); err != nil {
			t.Fatal(err)
		}
		var read map[string]json.RawMessage
		if code := txCall(t, http.MethodGet, streams+"?stream_id="+id, "key-a", "", &read); code != http.StatusOK {
			t.Fatalf("read = %d", code)
		}
		for _, doc := range []map[string]json.RawMessage{created, read} {
			for _, k := range []string{"events_requested", "events_delivered", "events_supported"} {
				var l []string
				if v := doc[k]; !bytes.HasPrefix(v, []byte("[")) || json.Unmarshal(v, &l) != nil {
					t.Errorf("stream created with %s: %s = %s; want an array", body, k, v)
				}
			}
		}
	}
}

// TestTransmitter_Send: how a push attempt ends for each state of the
// stream and each answer of the receiver.
func TestTransmitter_Send(t *testing.T) {
	ctx := context.Background()
	tx, srv, _ := newTransmitterServer(t)
	answer := http.StatusAccepted
	var got []string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") != "application/secevent+jwt" || r.Header.Get("Authorization") != "Bearer r" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		got = append(got, r.Method)
		w.WriteHeader(answer)
	}))
	t.Cleanup(rcv.Close)
	var s struct {
		ID string `json:"stream_id"`
	}
	body := `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"` + rcv.URL + `","authorization_header":"Bearer r"}}`
	if code := txCall(t, http.MethodPost, srv.URL+ssf.PathStreams, "key-a", body, &s); code != http.StatusCreated {
		t.Fatalf("create = %d", code)
	}
	e := sessiond.Event{ID: "evt_1", Time: time.Now(), Type: sessiond.EventSessionRevoked, Subject: "alice", SessionID: "s1",
		Details: map[string]any{"reason": "logout"}}
	ds, err := tx.Deliveries(ctx, e)
	if err != nil || len(ds) != 1 || !tx.Owns(ds[0].Endpoint) {
		t.Fatalf("Deliveries = %v, %v; want one for the stream", ds, err)
	}
	if other, _ := tx.Deliveries(ctx, sessiond.Event{ID: "evt_2", Type: sessiond.EventSessionCreated, Subject: "alice"}); len(other) != 0 {
		t.Errorf("a session.created event gave %d SETs", len(other))
	}
	status := func(st string) {
		if code := txCall(t, http.MethodPost, srv.URL+ssf.PathStatus, "key-a", `{"stream_id":"`+s.ID+`","status":"`+st+`"}`, nil); code != http.StatusOK {
			t.Fatalf("status %s = %d", st, code)
		}
	}
	tests := []struct {
		name          string
		setup         func()
		wantErr, perm bool
	}{
		{"delivered", func() {}, false, false},
		{"receiver 503", func() { answer = http.StatusServiceUnavailable }, true, false},
		{"receiver 400", func() { answer = http.StatusBadRequest }, true, true},
		{"paused", func() { answer = http.StatusAccepted; status(ssf.StatusPaused) }, true, false},
		{"disabled", func() { status(ssf.StatusDisabled) }, true, true},
		{"deleted", func() {
			txCall(t, http.MethodDelete, srv.URL+ssf.PathStreams+"?stream_id="+s.ID, "key-a", "", nil)
		}, true, true},
	}
	for _, tc := range tests {
		tc.setup()
		perm, err := tx.Send(ctx, ds[0])
		if (err != nil) != tc.wantErr || perm != tc.perm {
			t.Errorf("%s: Send = %v, %v; want error %v, permanent %v", tc.name, perm, err, tc.wantErr, tc.perm)
		}
	}
	if len(got) != 3 { // delivered, 503, 400: nothing once paused, disabled or deleted
		t.Errorf("receiver got %d pushes; want 3", len(got))
	}
}

// TestTransmitter_Poll: the poll endpoint returns queued SETs up to
// maxEvents with moreAvailable, forgets acknowledged ones, and holds a
// request with returnImmediately false until a SET is queued.
func TestTransmitter_Poll(t *testing.T) {
	ctx := context.Background()
	tx, srv, _ := newTransmitterServer(t)
	var s struct {
		ID       string `json:"stream_id"`
		Delivery struct {
			EndpointURL string `json:"endpoint_url"`
		} `json:"delivery"`
	}
	if code := txCall(t, http.MethodPost, srv.URL+ssf.PathStreams, "key-a", `{"delivery":{"method":"urn:ietf:rfc:8936"}}`, &s); code != http.StatusCreated {
		t.Fatalf("create = %d", code)
	}
	pollURL := srv.URL + ssf.PathPoll + s.ID
	if s.Delivery.EndpointURL != "https://sessiond.example.com"+ssf.PathPoll+s.ID {
		t.Errorf("poll endpoint_url = %q", s.Delivery.EndpointURL)
	}
	queue := func(id string) {
		ds, err := tx.Deliveries(ctx, sessiond.Event{ID: id, Time: time.Now(), Type: sessiond.EventSessionRevoked, Subject: "alice", SessionID: "s-" + sessiond.SessionID(id)})
		if err != nil || len(ds) != 1 {
			t.Fatalf("Deliveries = %v, %v", ds, err)
		}
		if _, err := tx.Send(ctx, ds[0]); err != nil {
			t.Fatalf("Send to a poll stream = %v", err)
		}
	}
	type pollResp struct {
		Sets          map[string]string `json:"sets"`
		MoreAvailable bool              `json:"moreAvailable"`
	}
	// Held: answered once a SET is queued.
	held := make(chan pollResp, 1)
	go func() {
		var r pollResp
		txCall(t, http.MethodPost, pollURL, "key-a", `{"returnImmediately":false}`, &r)
		held <- r
	}()
	time.Sleep(50 * time.Millisecond) // let the request start waiting (not a threshold: it passes either way)
	queue("e1")
	if r := <-held; len(r.Sets) != 1 {
		t.Fatalf("held poll = %+v; want the queued SET", r)
	}
	queue("e2")
	queue("e3")
	var r pollResp
	if code := txCall(t, http.MethodPost, pollURL, "key-a", `{"maxEvents":2,"returnImmediately":true}`, &r); code != http.StatusOK || len(r.Sets) != 2 || !r.MoreAvailable {
		t.Fatalf("poll maxEvents 2 = %d %+v; want 2 SETs and moreAvailable", code, r)
	}
	var ack []string
	for jti := range r.Sets {
		ack = append(ack, jti)
	}
	b, _ := json.Marshal(map[string]any{"ack": ack, "setErrs": map[string]any{}, "returnImmediately": true})
	var r2 pollResp
	txCall(t, http.MethodPost, pollURL, "key-a", string(b), &r2)
	if len(r2.Sets) != 1 || r2.MoreAvailable {
		t.Fatalf("after acking 2 of 3: %+v; want the last one", r2)
	}
	for jti := range r2.Sets {
		b, _ = json.Marshal(map[string]any{"setErrs": map[string]any{jti: map[string]string{"err": "invalid_key", "description": "x"}}, "maxEvents": 0})
	}
	var r3 pollResp
	txCall(t, http.MethodPost, pollURL, "key-a", string(b), &r3)
	var r4 pollResp
	txCall(t, http.MethodPost, pollURL, "key-a", `{"returnImmediately":true}`, &r4)
	if len(r3.Sets) != 0 || len(r4.Sets) != 0 || r4.MoreAvailable {
		t.Errorf("after setErrs: %+v then %+v; want an empty queue", r3, r4)
	}
}

// TestTransmitter_OwnerRevoked: a stream whose owner key is revoked (or
// lost the ssf scope) gets no new SET, and what was queued for it is
// dropped at its next attempt; an error reading the key set withholds
// nothing.
func TestTransmitter_OwnerRevoked(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	owner := map[string]error{} // key ID → nil (active), errRevoked, or another error
	errRevoked := errors.New("revoked")
	tx, srv, _ := newTransmitterServerWith(t, func(o *ssf.TransmitterOptions) {
		o.OwnerActive = func(_ context.Context, id string) (bool, error) {
			mu.Lock()
			defer mu.Unlock()
			switch err := owner[id]; {
			case err == nil:
				return true, nil
			case errors.Is(err, errRevoked):
				return false, nil
			default:
				return false, err
			}
		}
	})
	set := func(err error) {
		mu.Lock()
		owner["key-a"] = err
		mu.Unlock()
	}
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }))
	t.Cleanup(rcv.Close)
	body := `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"` + rcv.URL + `"}}`
	if code := txCall(t, http.MethodPost, srv.URL+ssf.PathStreams, "key-a", body, nil); code != http.StatusCreated {
		t.Fatalf("create = %d", code)
	}
	e := sessiond.Event{ID: "evt_1", Time: time.Now(), Type: sessiond.EventSessionRevoked, Subject: "alice", SessionID: "s1",
		Details: map[string]any{"reason": "logout"}}
	queued, err := tx.Deliveries(ctx, e)
	if err != nil || len(queued) != 1 {
		t.Fatalf("Deliveries with the owner active = %d, %v; want 1", len(queued), err)
	}
	set(errRevoked)
	if ds, err := tx.Deliveries(ctx, e); err != nil || len(ds) != 0 {
		t.Errorf("Deliveries with the owner revoked = %d, %v; want none", len(ds), err)
	}
	if perm, err := tx.Send(ctx, queued[0]); err == nil || !perm {
		t.Errorf("Send of a SET queued before the owner was revoked = %v, %v; want a permanent failure", perm, err)
	}
	set(errors.New("key set unreadable"))
	if ds, err := tx.Deliveries(ctx, e); err != nil || len(ds) != 1 {
		t.Errorf("Deliveries when the key set cannot be read = %d, %v; want 1 (nothing withheld)", len(ds), err)
	}
}

// TestTransmitter_TwoAuthorizationHeaders: stream management refuses a
// request with two Authorization headers (401) rather than serving the
// first key: a proxy in front could read the other.
func TestTransmitter_TwoAuthorizationHeaders(t *testing.T) {
	_, srv, _ := newTransmitterServer(t)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+ssf.PathStreams, nil)
	req.Header["Authorization"] = []string{"Bearer admin", "Bearer key-a"}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("two Authorization headers = %d; want 401", resp.StatusCode)
	}
	if code := txCall(t, http.MethodGet, srv.URL+ssf.PathStreams, "admin", "", nil); code != http.StatusOK {
		t.Errorf("one = %d; want 200", code)
	}
}

// TestTransmitter_SendReceiverStatus: a receiver's 5xx or 429 comes back
// as an error the webhook dispatcher reads (HTTPStatus, with Retry-After)
// to cool the receiver down, and whose text is the standard status text.
func TestTransmitter_SendReceiverStatus(t *testing.T) {
	ctx := context.Background()
	tx, srv, _ := newTransmitterServer(t)
	var code int
	var retry string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if retry != "" {
			w.Header().Set("Retry-After", retry)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(rcv.Close)
	body := `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"` + rcv.URL + `"}}`
	if c := txCall(t, http.MethodPost, srv.URL+ssf.PathStreams, "key-a", body, nil); c != http.StatusCreated {
		t.Fatalf("create = %d", c)
	}
	ds, err := tx.Deliveries(ctx, sessiond.Event{ID: "evt_1", Time: time.Now(), Type: sessiond.EventSessionRevoked,
		Subject: "alice", SessionID: "s1", Details: map[string]any{"reason": "logout"}})
	if err != nil || len(ds) != 1 {
		t.Fatalf("Deliveries = %v, %v", ds, err)
	}
	type httpStatus interface {
		HTTPStatus() (int, time.Duration)
	}
	for _, tc := range []struct {
		code      int
		retry     string
		wantRetry time.Duration
		wantText  string
	}{
		{http.StatusInternalServerError, "", 0, "receiver answered 500 Internal Server Error"},
		{http.StatusServiceUnavailable, "120", 2 * time.Minute, "receiver answered 503 Service Unavailable"},
		{http.StatusTooManyRequests, "30", 30 * time.Second, "receiver answered 429 Too Many Requests"},
		{http.StatusTooManyRequests, "soon", 0, "receiver answered 429 Too Many Requests"},
		// Past an int64: still "wait long", capped, not "no Retry-After".
		{http.StatusTooManyRequests, "9223372036854775808", 366 * 24 * time.Hour, "receiver answered 429 Too Many Requests"},
		{http.StatusBadGateway, "60", 0, "receiver answered 502 Bad Gateway"}, // Retry-After only means something on 429 and 503
	} {
		code, retry = tc.code, tc.retry
		perm, err := tx.Send(ctx, ds[0])
		if perm || err == nil {
			t.Fatalf("%d: Send = %v, %v; want a temporary error", tc.code, perm, err)
		}
		var hs httpStatus
		if !errors.As(err, &hs) {
			t.Fatalf("%d: error %q carries no HTTPStatus: the dispatcher cannot tell the receiver is failing", tc.code, err)
		}
		if c, d := hs.HTTPStatus(); c != tc.code || d != tc.wantRetry {
			t.Errorf("%d: HTTPStatus = %d, %v; want %d, %v", tc.code, c, d, tc.code, tc.wantRetry)
		}
		if err.Error() != tc.wantText {
			t.Errorf("%d: error %q; want %q", tc.code, err, tc.wantText)
		}
	}
}
