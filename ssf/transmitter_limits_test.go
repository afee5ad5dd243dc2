package ssf_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/ssf"
)

// TestTransmitter_ReplaceResetsAud: PUT replaces the configuration (SSF
// 1.0 §8.1.1.4): an aud set earlier and left out of the replacement
// returns to the default, as the description does; PATCH keeps it.
func TestTransmitter_ReplaceResetsAud(t *testing.T) {
	_, srv, _ := newTransmitterServer(t)
	id := createStream(t, srv, `{"aud":"https://custom.example","description":"d","delivery":{"method":"urn:ietf:rfc:8936"}}`)
	type config struct {
		Aud         any    `json:"aud"`
		Description string `json:"description"`
	}
	var patched config
	if code := txCall(t, http.MethodPatch, srv.URL+ssf.PathStreams, "key-a", `{"stream_id":"`+id+`","events_requested":[]}`, &patched); code != http.StatusOK {
		t.Fatalf("update = %d", code)
	}
	if patched.Aud != "https://custom.example" {
		t.Errorf("aud after an update without aud = %v; want the one set", patched.Aud)
	}
	var replaced config
	put := `{"stream_id":"` + id + `","delivery":{"method":"urn:ietf:rfc:8936"},"events_requested":[]}`
	if code := txCall(t, http.MethodPut, srv.URL+ssf.PathStreams, "key-a", put, &replaced); code != http.StatusOK {
		t.Fatalf("replace = %d", code)
	}
	if want := "https://sessiond.example.com" + ssf.PathStreams + "/" + id; replaced.Aud != want || replaced.Description != "" {
		t.Errorf("after a replacement without aud or description: aud %v, description %q; want the default %q and none", replaced.Aud, replaced.Description, want)
	}
}

// TestTransmitter_TextLimits: a description or verification state is
// refused (400) over ssf.MaxText characters, not cut, and one of
// ssf.MaxText characters of two bytes each is kept whole: the verification
// SET carries the state the receiver compares with what it sent (SSF 1.0
// §8.1.4.1). A reason is kept up to ssf.MaxText characters, never split
// inside one.
func TestTransmitter_TextLimits(t *testing.T) {
	ctx := context.Background()
	tx, srv, st := newTransmitterServer(t)
	id := createStream(t, srv, `{"delivery":{"method":"urn:ietf:rfc:8936"}}`)
	long := strings.Repeat("s", ssf.MaxText+1)
	wide := strings.Repeat("é", ssf.MaxText) // 2·MaxText bytes
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"state over the limit", http.MethodPost, ssf.PathVerify, `{"stream_id":"` + id + `","state":"` + long + `"}`, http.StatusBadRequest},
		{"description over the limit", http.MethodPatch, ssf.PathStreams, `{"stream_id":"` + id + `","description":"` + long + `"}`, http.StatusBadRequest},
		{"description of MaxText two-byte characters", http.MethodPatch, ssf.PathStreams, `{"stream_id":"` + id + `","description":"` + wide + `"}`, http.StatusOK},
		{"state of MaxText two-byte characters", http.MethodPost, ssf.PathVerify, `{"stream_id":"` + id + `","state":"` + wide + `"}`, http.StatusNoContent},
		{"reason over the limit", http.MethodPost, ssf.PathStatus, `{"stream_id":"` + id + `","status":"enabled","reason":"` + wide + `é"}`, http.StatusOK},
	}
	for _, tc := range tests {
		if code := txCall(t, tc.method, srv.URL+tc.path, "key-a", tc.body, nil); code != tc.want {
			t.Errorf("%s: %s %s = %d; want %d", tc.name, tc.method, tc.path, code, tc.want)
		}
	}
	var got struct {
		Description string `json:"description"`
	}
	txCall(t, http.MethodGet, srv.URL+ssf.PathStreams+"?stream_id="+id, "key-a", "", &got)
	if got.Description != wide {
		t.Errorf("description of %d characters came back as %d", ssf.MaxText, len([]rune(got.Description)))
	}
	var status struct {
		Reason string `json:"reason"`
	}
	txCall(t, http.MethodGet, srv.URL+ssf.PathStatus+"?stream_id="+id, "key-a", "", &status)
	if status.Reason != wide {
		t.Errorf("reason of %d characters kept as %d characters, %d bytes; want its first %d characters", ssf.MaxText+1,
			len([]rune(status.Reason)), len(status.Reason), ssf.MaxText)
	}
	pending, err := st.ListDeliveries(ctx, sessiond.DeliveryPending, 10)
	if err != nil || len(pending) != 1 {
		t.Fatalf("%d pending deliveries, %v; want the one verification accepted", len(pending), err)
	}
	if _, err := tx.Send(ctx, pending[0]); err != nil {
		t.Fatal(err)
	}
	for _, set := range pollNow(t, srv, id).Sets {
		ev, _ := setClaimsOf(t, set)["events"].(map[string]any)[ssf.SSFVerification].(map[string]any)
		if s, _ := ev["state"].(string); s != wide {
			t.Errorf("verification SET's state has %d characters; want the %d sent", len([]rune(s)), ssf.MaxText)
		}
	}
}

// TestTransmitter_PollRequestRefused: a negative maxEvents is refused
// (400, as the schema's minimum 0 says) before anything is acknowledged.
func TestTransmitter_PollRequestRefused(t *testing.T) {
	ctx := context.Background()
	tx, srv, _ := newTransmitterServer(t)
	id := createStream(t, srv, `{"delivery":{"method":"urn:ietf:rfc:8936"}}`)
	ds, err := tx.Deliveries(ctx, revokedEvent("evt_1"))
	if err != nil || len(ds) != 1 {
		t.Fatalf("Deliveries = %v, %v", ds, err)
	}
	if _, err := tx.Send(ctx, ds[0]); err != nil {
		t.Fatal(err)
	}
	jti := strings.TrimPrefix(ds[0].ID, "ssf_")
	if code := txCall(t, http.MethodPost, srv.URL+ssf.PathPoll+id, "key-a", `{"ack":["`+jti+`"],"maxEvents":-1}`, nil); code != http.StatusBadRequest {
		t.Errorf("poll with maxEvents -1 = %d; want 400", code)
	}
	if r := pollNow(t, srv, id); len(r.Sets) != 1 {
		t.Errorf("after a refused poll the queue holds %d SETs; want the 1 it acknowledged, still there", len(r.Sets))
	}
}

// recordingHandler keeps the records logged at info level or above.
type recordingHandler struct {
	mu   *sync.Mutex
	recs *[]slog.Record
}

func (h recordingHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (h recordingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	*h.recs = append(*h.recs, r)
	h.mu.Unlock()
	return nil
}
func (h recordingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h recordingHandler) WithGroup(string) slog.Handler      { return h }

// TestTransmitter_PollSetErrsLogged: a poll's setErrs are logged one
// warning each for the SETs the stream held, and the jtis it never held
// (chosen by the receiver, thousands in one body) make one line with
// their count, not a line each.
func TestTransmitter_PollSetErrsLogged(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var recs []slog.Record
	tx, srv, _ := newTransmitterServerWith(t, func(o *ssf.TransmitterOptions) {
		o.Logger = slog.New(recordingHandler{&mu, &recs})
	})
	id := createStream(t, srv, `{"delivery":{"method":"urn:ietf:rfc:8936"}}`)
	ds, err := tx.Deliveries(ctx, revokedEvent("evt_1"))
	if err != nil || len(ds) != 1 {
		t.Fatalf("Deliveries = %v, %v", ds, err)
	}
	if _, err := tx.Send(ctx, ds[0]); err != nil {
		t.Fatal(err)
	}
	held := strings.TrimPrefix(ds[0].ID, "ssf_")
	const madeUp = 2000
	var b bytes.Buffer
	b.WriteString(`{"returnImmediately":true,"setErrs":{"` + held + `":{"err":"invalid_key","description":"x"}`)
	for i := range madeUp {
		b.WriteString(`,"j` + strconv.Itoa(i) + `":{"err":"x"}`)
	}
	b.WriteString(`}}`)
	mu.Lock()
	recs = nil
	mu.Unlock()
	if code := txCall(t, http.MethodPost, srv.URL+ssf.PathPoll+id, "key-a", b.String(), nil); code != http.StatusOK {
		t.Fatalf("poll = %d", code)
	}
	mu.Lock()
	defer mu.Unlock()
	var refused []string
	var counted []int64
	for _, r := range recs {
		r.Attrs(func(a slog.Attr) bool {
			switch {
			case a.Key == "jti" && r.Level == slog.LevelWarn:
				refused = append(refused, a.Value.String())
			case a.Key == "count":
				counted = append(counted, a.Value.Int64())
			}
			return true
		})
	}
	if len(recs) != 2 || len(refused) != 1 || refused[0] != held || len(counted) != 1 || counted[0] != madeUp {
		t.Errorf("poll naming 1 held and %d made-up jtis in setErrs logged %d lines, warnings for %v, counts %v; want a warning for %s and one line counting %d",
			madeUp, len(recs), refused, counted, held, madeUp)
	}
}

// TestTransmitter_PushResponseHeadersBounded: the push client reads at
// most 64 KiB of a receiver's response headers, as the webhook client
// does, with AllowPrivate too: a receiver answering 2 MB of headers fails
// the attempt instead of having it read whole and counted delivered.
func TestTransmitter_PushResponseHeadersBounded(t *testing.T) {
	ctx := context.Background()
	big := strings.Repeat("a", 1<<20)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("X-Big-1", big)
		w.Header().Set("X-Big-2", big)
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(rcv.Close)
	tx, srv, _ := newTransmitterServer(t) // AllowPrivate: the receiver is on loopback
	createStream(t, srv, `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"`+rcv.URL+`"}}`)
	ds, err := tx.Deliveries(ctx, revokedEvent("evt_1"))
	if err != nil || len(ds) != 1 {
		t.Fatalf("Deliveries = %v, %v", ds, err)
	}
	if perm, err := tx.Send(ctx, ds[0]); err == nil || perm {
		t.Errorf("push answered with 2 MB of headers: Send = %v, %v; want a failed attempt, retried", perm, err)
	}
}
