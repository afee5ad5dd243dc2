package ssf_test

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sessiond/sessiond/ssf"
)

// refusal is the transmitter's {"err","description"} answer.
type refusal struct {
	Err         string `json:"err"`
	Description string `json:"description"`
}

// TestTransmitter_StreamsPerOwner: one API key may hold at most
// MaxStreamsPerOwner of the deployment's MaxStreams streams, so one
// receiver's key cannot take them all and lock every other receiver out.
// Past it a create is refused with 409, as past MaxStreams, even when
// many are made at once; other keys still create, an admin key is not
// held to it, and a key that deletes one of its streams may create one
// again. The deployment's limit still holds above a key's.
func TestTransmitter_StreamsPerOwner(t *testing.T) {
	const poll = `{"delivery":{"method":"urn:ietf:rfc:8936"}}`
	create := func(t *testing.T, url, key string) (int, refusal) {
		t.Helper()
		var r refusal
		return txCall(t, http.MethodPost, url+ssf.PathStreams, key, poll, &r), r
	}
	tests := []struct {
		name  string
		limit int // TransmitterOptions.MaxStreamsPerOwner; 0: the default
		want  int // streams key-a gets
	}{
		{"default", 0, ssf.DefaultMaxStreamsPerOwner},
		{"set lower", 2, 2},
		{"set above the deployment's limit", ssf.MaxStreams + 1, ssf.MaxStreams},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, srv, _ := newTransmitterServerWith(t, func(o *ssf.TransmitterOptions) { o.MaxStreamsPerOwner = tt.limit })
			wantDetail := "too many streams for this API key (at most " + strconv.Itoa(tt.want) + ")"
			if tt.want == ssf.MaxStreams {
				wantDetail = "too many streams"
			}
			// Many at once first: the count is checked within the stream
			// list's compare-and-swap, so none gets past it (a create that
			// loses every try to the others answers 503); then one by one
			// up to the limit and one more.
			var mu sync.Mutex
			var wg sync.WaitGroup
			created, answers := 0, map[int]int{}
			for range min(2*tt.want, 20) {
				wg.Go(func() {
					code, r := create(t, srv.URL, "key-a")
					mu.Lock()
					defer mu.Unlock()
					answers[code]++
					switch {
					case code == http.StatusCreated:
						created++
					case code == http.StatusConflict && (r.Err != "invalid_request" || r.Description != wantDetail):
						t.Errorf("refusal = %+v; want invalid_request %q", r, wantDetail)
					}
				})
			}
			wg.Wait()
			if created > tt.want || answers[http.StatusCreated]+answers[http.StatusConflict]+answers[http.StatusServiceUnavailable] != min(2*tt.want, 20) {
				t.Fatalf("creates by one key at once answered %v; want at most %d × 201, the others 409 (or 503)", answers, tt.want)
			}
			for ; created < tt.want; created++ {
				if code, r := create(t, srv.URL, "key-a"); code != http.StatusCreated {
					t.Fatalf("create #%d = %d %+v; want 201", created+1, code, r)
				}
			}
			if code, r := create(t, srv.URL, "key-a"); code != http.StatusConflict || r.Err != "invalid_request" || r.Description != wantDetail {
				t.Fatalf("create #%d = %d %+v; want 409 invalid_request %q", tt.want+1, code, r, wantDetail)
			}
			var list []struct {
				ID string `json:"stream_id"`
			}
			if code := txCall(t, http.MethodGet, srv.URL+ssf.PathStreams, "key-a", "", &list); code != http.StatusOK || len(list) != tt.want {
				t.Fatalf("key-a's list = %d with %d streams; want %d", code, len(list), tt.want)
			}
			if tt.want == ssf.MaxStreams {
				if code, _ := create(t, srv.URL, "key-b"); code != http.StatusConflict {
					t.Errorf("create past the deployment's %d streams = %d; want 409", ssf.MaxStreams, code)
				}
				return
			}
			if code, r := create(t, srv.URL, "key-b"); code != http.StatusCreated {
				t.Errorf("create by another key = %d %+v; want 201", code, r)
			}
			for i := range tt.want + 1 {
				if code, r := create(t, srv.URL, "admin"); code != http.StatusCreated {
					t.Fatalf("admin's create #%d = %d %+v; want 201: an admin key is not held to a key's limit", i+1, code, r)
				}
			}
			if code := txCall(t, http.MethodDelete, srv.URL+ssf.PathStreams+"?stream_id="+list[0].ID, "key-a", "", nil); code != http.StatusNoContent {
				t.Fatalf("delete = %d", code)
			}
			if code, r := create(t, srv.URL, "key-a"); code != http.StatusCreated {
				t.Errorf("create after deleting one = %d %+v; want 201", code, r)
			}
			if code, r := create(t, srv.URL, "key-a"); code != http.StatusConflict || !strings.Contains(r.Description, "this API key") {
				t.Errorf("create past the limit again = %d %+v; want 409", code, r)
			}
		})
	}
}
