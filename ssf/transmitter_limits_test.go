package ssf_test

import (
	"bytes"
	"context"
	"fmt"
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

// TestTransmitter_AudReadOnly: aud is Transmitter-Supplied and "cannot be
// updated" (SSF 1.0 §8.1.1): an update or replacement may repeat it (as a
// string or a list) but not change it (400, the stream unchanged), and one
// that leaves it out keeps it, a replacement included (Transmitter-Supplied
// properties missing from a PUT are ignored, §8.1.1.4), while the
// Receiver-Supplied description a replacement leaves out goes.
func TestTransmitter_AudReadOnly(t *testing.T) {
	_, srv, _ := newTransmitterServer(t)
	streams := srv.URL + ssf.PathStreams
	poll := `"delivery":{"method":"urn:ietf:rfc:8936"}`
	custom := createStream(t, srv, `{"aud":"https://custom.example","description":"d",`+poll+`}`)
	plain := createStream(t, srv, `{`+poll+`}`)
	plainAud := "https://sessiond.example.com" + ssf.PathStreams + "/" + plain
	type config struct {
		Aud         any    `json:"aud"`
		Description string `json:"description"`
	}
	tests := []struct {
		name, method, id, body string
		want                   int
		wantAud                any
	}{
		{"update without aud", http.MethodPatch, custom, `"events_requested":[]`, http.StatusOK, "https://custom.example"},
		{"update repeating aud", http.MethodPatch, custom, `"aud":"https://custom.example","description":"e"`, http.StatusOK, "https://custom.example"},
		{"update repeating aud as a list", http.MethodPatch, custom, `"aud":["https://custom.example"]`, http.StatusOK, "https://custom.example"},
		{"update changing aud", http.MethodPatch, custom, `"aud":"https://elsewhere.example"`, http.StatusBadRequest, "https://custom.example"},
		{"update adding an aud", http.MethodPatch, custom, `"aud":["https://custom.example","https://b.example"]`, http.StatusBadRequest, "https://custom.example"},
		{"update of a default aud", http.MethodPatch, plain, `"aud":"https://elsewhere.example"`, http.StatusBadRequest, plainAud},
		{"replace changing aud", http.MethodPut, custom, `"aud":"https://elsewhere.example",` + poll + `,"events_requested":[]`, http.StatusBadRequest, "https://custom.example"},
		{"replace without aud", http.MethodPut, custom, poll + `,"events_requested":[]`, http.StatusOK, "https://custom.example"},
		{"replace repeating aud", http.MethodPut, custom, `"aud":"https://custom.example",` + poll + `,"events_requested":[]`, http.StatusOK, "https://custom.example"},
		{"replace of a default aud without aud", http.MethodPut, plain, poll + `,"events_requested":[]`, http.StatusOK, plainAud},
	}
	for _, tc := range tests {
		body := `{"stream_id":"` + tc.id + `",` + tc.body + `}`
		if code := txCall(t, tc.method, streams, "key-a", body, nil); code != tc.want {
			t.Errorf("%s: %s = %d; want %d", tc.name, tc.method, code, tc.want)
		}
		var read config
		if code := txCall(t, http.MethodGet, streams+"?stream_id="+tc.id, "key-a", "", &read); code != http.StatusOK {
			t.Fatalf("read = %d", code)
		}
		if read.Aud != tc.wantAud {
			t.Errorf("%s: aud = %v; want %v", tc.name, read.Aud, tc.wantAud)
		}
	}
	var replaced config
	if code := txCall(t, http.MethodGet, streams+"?stream_id="+custom, "key-a", "", &replaced); code != http.StatusOK || replaced.Description != "" {
		t.Errorf("description after a replacement without it = %q (%d); want none", replaced.Description, code)
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

// TestTransmitter_EventListsNotShared: the lists the configuration
// document and a stream carry are the caller's own: changing one changes
// neither what the transmitter sends nor what it tells the next caller.
func TestTransmitter_EventListsNotShared(t *testing.T) {
	tx, srv, _ := newTransmitterServer(t)
	want := strings.Join(ssf.TransmittedEvents(), " ")
	if l, ok := tx.Configuration()["events_supported"].([]string); ok && len(l) > 0 {
		saved := l[0]
		l[0] = "https://example.com/not-an-event"
		t.Cleanup(func() { l[0] = saved }) // the package's own list, before the fix
	}
	ssf.TransmittedEvents()[0] = "https://example.com/changed"
	var created struct {
		Supported []string `json:"events_supported"`
		Delivered []string `json:"events_delivered"`
	}
	if code := txCall(t, http.MethodPost, srv.URL+ssf.PathStreams, "key-a", `{"delivery":{"method":"urn:ietf:rfc:8936"}}`, &created); code != http.StatusCreated {
		t.Fatalf("create = %d", code)
	}
	for name, got := range map[string][]string{
		"configuration events_supported": tx.Configuration()["events_supported"].([]string),
		"stream events_supported":        created.Supported,
		"stream events_delivered":        created.Delivered,
		"TransmittedEvents":              ssf.TransmittedEvents(),
	} {
		if strings.Join(got, " ") != want {
			t.Errorf("%s = %v; want %s", name, got, want)
		}
	}
	if got := fmt.Sprint(ssf.Algorithms()); got != "[RS256 ES256 EdDSA]" {
		t.Errorf("Algorithms() = %s; want [RS256 ES256 EdDSA]", got)
	}
	ssf.Algorithms()[0] = "none"
	if got := fmt.Sprint(ssf.Algorithms()); got != "[RS256 ES256 EdDSA]" {
		t.Errorf("Algorithms() after changing a returned list = %s; want it unchanged", got)
	}
}
