package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io"
	"net/http"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/verifier/stream"
)

// TestRevocationSnapshot_ContentCoding: the snapshot is gzipped for a
// client that accepts gzip and sent as is to one that does not (an older
// verifier, curl), with Vary: Accept-Encoding either way; both bodies are
// the bytes json.Marshal gives the document.
func TestRevocationSnapshot_ContentCoding(t *testing.T) {
	t.Parallel()
	e := newStreamEnv(t, nil)
	e.marks = []stream.Watermark{{Subject: "kim<&>", IssuedBefore: t0}}
	for range 3 {
		if err := e.m.Revoke(t.Context(), e.session("kim<&>\u2028"), sessiond.ReasonLogout); err != nil {
			t.Fatal(err)
		}
	}
	// The transport must not ask for gzip itself nor undo it.
	hc := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	get := func(accept []string) (*http.Response, []byte) {
		t.Helper()
		req := mustRequest(t, e.srv.URL+stream.SnapshotPath)
		for _, a := range accept {
			req.Header.Add("Accept-Encoding", a)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("snapshot = %d %v", resp.StatusCode, err)
		}
		return resp, b
	}
	_, identity := get(nil)
	var snap stream.Snapshot
	if err := json.Unmarshal(identity, &snap); err != nil || len(snap.Revocations) != 3 {
		t.Fatalf("snapshot %s: %v", identity, err)
	}
	want, _ := json.Marshal(snap)
	if want = append(want, '\n'); !bytes.Equal(identity, want) {
		t.Errorf("snapshot body\n%s\nwant json.Marshal's\n%s", identity, want)
	}
	for _, c := range []struct {
		accept []string
		gzip   bool
	}{
		{nil, false},
		{[]string{"gzip"}, true},
		{[]string{"br, GZIP;q=0.5"}, true},
		{[]string{"identity", "x-gzip"}, true},
		{[]string{"*"}, true},
		{[]string{"gzip;q=0"}, false},
		{[]string{"*, gzip;q=0"}, false},
		{[]string{"br, deflate"}, false},
		{[]string{"identity"}, false},
	} {
		resp, body := get(c.accept)
		if got := resp.Header.Get("Vary"); got != "Accept-Encoding" {
			t.Errorf("Accept-Encoding %q: Vary %q", c.accept, got)
		}
		if got := resp.Header.Get("Content-Type"); got != "application/json" {
			t.Errorf("Accept-Encoding %q: Content-Type %q", c.accept, got)
		}
		ce := resp.Header.Get("Content-Encoding")
		if c.gzip != (ce == "gzip") || !c.gzip && ce != "" {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q; want gzip %v", c.accept, ce, c.gzip)
			continue
		}
		if c.gzip {
			z, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if body, err = io.ReadAll(z); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(body, identity) {
			t.Errorf("Accept-Encoding %q: body\n%s\nwant\n%s", c.accept, body, identity)
		}
	}
}

// TestRevocationSnapshot_Empty: no revocations and no watermarks are
// empty arrays, not null, which verifiers refuse.
func TestRevocationSnapshot_Empty(t *testing.T) {
	t.Parallel()
	e := newStreamEnv(t, nil)
	resp, err := e.hc.Do(mustRequest(t, e.srv.URL+stream.SnapshotPath))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	want, _ := json.Marshal(stream.Snapshot{Revocations: []stream.Revoked{}, Watermarks: []stream.Watermark{},
		Cursor: stream.CursorAt(t0)})
	if !bytes.Equal(b, append(want, '\n')) {
		t.Errorf("empty snapshot %s; want %s", b, want)
	}
}
