package ssf_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/ssf"
)

// TestTransmitter_StrictAsTheAPI: the Transmitter used alone as an
// http.Handler refuses what sessiond's API routes refuse before they hand
// it a body, so that one body is never read two ways depending on where
// the transmitter is mounted: two member names differing only in letter
// case, even names it does not read (encoding/json would give a struct
// field either of them, another reader neither); nesting deeper than the
// API's 64 levels; a content type other than JSON in UTF-8; a content
// coding (a compressed body it would read as malformed JSON, or one only
// declared compressed, read otherwise by a proxy that decodes it). Each
// refused request changes nothing.
func TestTransmitter_StrictAsTheAPI(t *testing.T) {
	_, srv, _ := newTransmitterServer(t)
	a := createStream(t, srv, `{"delivery":{"method":"urn:ietf:rfc:8936"},"description":"a"}`)
	streams := srv.URL + ssf.PathStreams
	patch := func(extra string) string {
		return `{"stream_id":"` + a + `","description":"x"` + extra + `}`
	}
	deepWith := func(n int, in string) string { return strings.Repeat(`[`, n) + in + strings.Repeat(`]`, n) }
	deep := func(n int) string { return deepWith(n, "") }
	tests := []struct {
		name, method, url, ctype, coding, body string
		want                                   int
	}{
		{"two unknown names in other letters", http.MethodPatch, streams, "application/json", "", patch(`,"foo":1,"FOO":2`), http.StatusBadRequest},
		{"two unknown names in other letters, deeper", http.MethodPatch, streams, "application/json", "", patch(`,"x":[{"Kelvin":1,"kelvin":2}]`), http.StatusBadRequest},
		{"two unknown names folding to one (long s)", http.MethodPatch, streams, "application/json", "", patch(`,"xs":1,"xſ":2`), http.StatusBadRequest},
		{"nested 65 levels below the body", http.MethodPatch, streams, "application/json", "", patch(`,"x":` + deep(65)), http.StatusBadRequest},
		// The API counts every value's level, not only a container's: a
		// number or a member inside the 64th level is at the 65th.
		{"a number 65 levels below the body", http.MethodPatch, streams, "application/json", "", patch(`,"x":` + deepWith(64, "1")), http.StatusBadRequest},
		{"a member 65 levels below the body", http.MethodPatch, streams, "application/json", "", patch(`,"x":` + deepWith(63, `{"a":"b"}`)), http.StatusBadRequest},
		{"no content type", http.MethodPatch, streams, "", "", patch(""), http.StatusBadRequest},
		{"text/plain", http.MethodPatch, streams, "text/plain", "", patch(""), http.StatusBadRequest},
		{"JSON in latin-1", http.MethodPatch, streams, "application/json; charset=iso-8859-1", "", patch(""), http.StatusBadRequest},
		{"a form", http.MethodPost, srv.URL + ssf.PathStatus, "application/x-www-form-urlencoded", "", `{"stream_id":"` + a + `","status":"paused"}`, http.StatusBadRequest},
		{"gzip declared", http.MethodPatch, streams, "application/json", "gzip", patch(""), http.StatusUnsupportedMediaType},
		// What the API takes, the Transmitter alone takes too.
		{"nested 63 levels below the body", http.MethodPost, srv.URL + ssf.PathPoll + a, "application/json", "", `{"maxEvents":0,"returnImmediately":true,"x":` + deep(63) + `}`, http.StatusOK},
		{"empty, nested 64 levels below the body", http.MethodPost, srv.URL + ssf.PathPoll + a, "application/json", "", `{"maxEvents":0,"returnImmediately":true,"x":` + deep(64) + `}`, http.StatusOK},
		// A request that reads no body is answered as before, whatever its
		// headers: the API's router answers it before any body check.
		{"a method no endpoint takes", http.MethodOptions, streams, "", "", "", http.StatusMethodNotAllowed},
		{"a method the endpoint does not take", http.MethodPut, srv.URL + ssf.PathStatus, "", "", "", http.StatusMethodNotAllowed},
		{"no such endpoint", http.MethodPost, srv.URL + "/v1/ssf/nothing", "", "gzip", "", http.StatusNotFound},
		{"JSON in UTF-8, said", http.MethodPost, srv.URL + ssf.PathPoll + a, "application/json; charset=UTF-8", "identity", `{"maxEvents":0,"returnImmediately":true}`, http.StatusOK},
		{"values equal to names, names of other objects", http.MethodPost, srv.URL + ssf.PathPoll + a, "application/json", "", `{"maxEvents":0,"returnImmediately":true,"x":{"a":"A","b":{},"c":[]},"y":[{"a":1},{"A":[{"a":{}},{"A":{}}]}],"z":["k","K"],"w":"z"}`, http.StatusOK},
		{"distinct unknown names", http.MethodPost, srv.URL + ssf.PathPoll + a, "application/json", "", `{"maxEvents":0,"returnImmediately":true,"foo":1,"fooo":2}`, http.StatusOK},
	}
	for _, tc := range tests {
		req, err := http.NewRequestWithContext(t.Context(), tc.method, tc.url, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer key-a")
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		if tc.coding != "" {
			req.Header.Set("Content-Encoding", tc.coding)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("%s: %s = %d; want %d", tc.name, tc.method, res.StatusCode, tc.want)
		}
		if tc.want == http.StatusUnsupportedMediaType && res.Header.Get("Accept-Encoding") != "identity" {
			t.Errorf("%s: Accept-Encoding %q; want identity", tc.name, res.Header.Get("Accept-Encoding"))
		}
	}
	var got struct {
		Description string `json:"description"`
		Status      string `json:"status"`
	}
	if code := txCall(t, http.MethodGet, streams+"?stream_id="+a, "key-a", "", &got); code != http.StatusOK || got.Description != "a" {
		t.Errorf("stream = %d, description %q; want a (no refused change made)", code, got.Description)
	}
	if code := txCall(t, http.MethodGet, srv.URL+ssf.PathStatus+"?stream_id="+a, "key-a", "", &got); code != http.StatusOK || got.Status != ssf.StatusEnabled {
		t.Errorf("status = %d, %q; want enabled", code, got.Status)
	}
}
