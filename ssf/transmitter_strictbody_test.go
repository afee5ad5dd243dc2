package ssf_test

import (
	"net/http"
	"testing"

	"github.com/sessiond/sessiond/ssf"
)

// TestTransmitter_StrictBodies: the Transmitter used alone as an
// http.Handler refuses (400) what sessiond's API routes refuse before it
// reads a body: a member name twice in one object, at any depth
// (encoding/json keeps the last, another reader the first: "stream_id"
// twice chose the stream to change), a body that is not a JSON object
// (null created a stream) and invalid UTF-8. Each refused request changes
// nothing.
func TestTransmitter_StrictBodies(t *testing.T) {
	_, srv, _ := newTransmitterServer(t)
	a := createStream(t, srv, `{"delivery":{"method":"urn:ietf:rfc:8936"},"description":"a"}`)
	b := createStream(t, srv, `{"delivery":{"method":"urn:ietf:rfc:8936"},"description":"b"}`)
	streams := srv.URL + ssf.PathStreams
	tests := []struct {
		name, method, url, body string
		want                    int
	}{
		{"stream_id twice on PATCH", http.MethodPatch, streams, `{"stream_id":"` + a + `","description":"x","stream_id":"` + b + `"}`, http.StatusBadRequest},
		{"stream_id twice, once escaped", http.MethodPatch, streams, `{"stream_id":"` + a + `","description":"x","\u0073tream_id":"` + b + `"}`, http.StatusBadRequest},
		{"description twice on PUT", http.MethodPut, streams, `{"stream_id":"` + a + `","delivery":{"method":"urn:ietf:rfc:8936"},"events_requested":[],"description":"x","description":"y"}`, http.StatusBadRequest},
		{"endpoint_url twice on create", http.MethodPost, streams, `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"https://a.example/","endpoint_url":"https://b.example/"}}`, http.StatusBadRequest},
		{"a name twice in a member sessiond does not read", http.MethodPost, streams, `{"delivery":{"method":"urn:ietf:rfc:8936"},"x":[{"y":1,"y":2}]}`, http.StatusBadRequest},
		{"status twice", http.MethodPost, srv.URL + ssf.PathStatus, `{"stream_id":"` + a + `","status":"disabled","status":"enabled"}`, http.StatusBadRequest},
		{"subject id twice", http.MethodPost, srv.URL + ssf.PathAddSubject, `{"stream_id":"` + a + `","subject":{"format":"opaque","id":"bob","id":"alice"}}`, http.StatusBadRequest},
		{"maxEvents twice", http.MethodPost, srv.URL + ssf.PathPoll + a, `{"maxEvents":1,"maxEvents":0,"returnImmediately":true}`, http.StatusBadRequest},
		{"null create", http.MethodPost, streams, `null`, http.StatusBadRequest},
		{"array create", http.MethodPost, streams, `[]`, http.StatusBadRequest},
		{"invalid UTF-8 in description", http.MethodPatch, streams, `{"stream_id":"` + a + `","description":"x` + "\xff" + `"}`, http.StatusBadRequest},
		// encoding/json reads a lone surrogate escape as U+FFFD, as it does
		// an invalid byte: "\ud800bob" and "\udfffbob" would be one subject.
		{"lone surrogate in description", http.MethodPatch, streams, `{"stream_id":"` + a + `","description":"x\ud800"}`, http.StatusBadRequest},
		{"lone low surrogate in a subject", http.MethodPost, srv.URL + ssf.PathAddSubject, `{"stream_id":"` + a + `","subject":{"format":"opaque","id":"\udfffbob"}}`, http.StatusBadRequest},
		{"surrogates reversed in a name", http.MethodPost, streams, `{"delivery":{"method":"urn:ietf:rfc:8936"},"\ude00\ud83d":1}`, http.StatusBadRequest},
		// url.Values.Get reads the first of two, another reader the last.
		{"stream_id twice in the query of DELETE", http.MethodDelete, streams + "?stream_id=" + a + "&stream_id=" + b, "", http.StatusBadRequest},
		{"stream_id twice in the query of GET status", http.MethodGet, srv.URL + ssf.PathStatus + "?stream_id=" + a + "&stream_id=" + b, "", http.StatusBadRequest},
		{"stream_id twice in the query of GET", http.MethodGet, streams + "?stream_id=" + a + "&stream_id=" + b, "", http.StatusBadRequest},
		{"a surrogate pair, escaped", http.MethodPost, srv.URL + ssf.PathPoll + a, `{"maxEvents":0,"returnImmediately":true,"x\ud83d\ude00":"\\ud800"}`, http.StatusOK},
		{"exact and distinct names", http.MethodPost, srv.URL + ssf.PathPoll + a, `{"maxEvents":0,"returnImmediately":true}`, http.StatusOK},
	}
	for _, tc := range tests {
		if code := txCall(t, tc.method, tc.url, "key-a", tc.body, nil); code != tc.want {
			t.Errorf("%s: %s = %d; want %d", tc.name, tc.method, code, tc.want)
		}
	}
	var list []struct {
		ID          string `json:"stream_id"`
		Description string `json:"description"`
	}
	if code := txCall(t, http.MethodGet, streams, "key-a", "", &list); code != http.StatusOK || len(list) != 2 {
		t.Fatalf("list = %d, %d streams; want the two created (no refused create made one)", code, len(list))
	}
	for _, s := range list {
		if want := map[string]string{a: "a", b: "b"}[s.ID]; s.Description != want {
			t.Errorf("stream %s description %q; want %q (no refused change made)", s.ID, s.Description, want)
		}
	}
	var st struct {
		Status string `json:"status"`
	}
	if code := txCall(t, http.MethodGet, srv.URL+ssf.PathStatus+"?stream_id="+a, "key-a", "", &st); code != http.StatusOK || st.Status != ssf.StatusEnabled {
		t.Errorf("status = %d, %q; want enabled", code, st.Status)
	}
}
