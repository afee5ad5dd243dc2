package ssf

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/memstore"
)

// TestServePoll_DisabledHandsOutNone: a SET that reaches a disabled poll
// stream's queue after the disable cleared it (a Send that read the
// stream just before) is not handed out while the stream is disabled.
func TestServePoll_DisabledHandsOutNone(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	ring, err := jwttoken.NewRing(time.Now(), jwttoken.RingOptions{MaxTokenLifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := NewTransmitter(TransmitterOptions{Issuer: "https://sessiond.example.com", Meta: st, Outbox: st, Signer: ring})
	if err != nil {
		t.Fatal(err)
	}
	c := Caller{Owner: "key-a"}
	call := func(method, path, body string, out any) int {
		t.Helper()
		w := httptest.NewRecorder()
		r := httptest.NewRequestWithContext(ctx, method, path, strings.NewReader(body))
		if err := tx.Serve(w, r, c); err != nil {
			t.Fatalf("%s %s = %v", method, path, err)
		}
		if out != nil {
			if err := json.Unmarshal(w.Body.Bytes(), out); err != nil {
				t.Fatal(err)
			}
		}
		return w.Code
	}
	var s struct {
		ID string `json:"stream_id"`
	}
	if code := call(http.MethodPost, PathStreams, `{"delivery":{"method":"urn:ietf:rfc:8936"}}`, &s); code != http.StatusCreated {
		t.Fatalf("create = %d", code)
	}
	if code := call(http.MethodPost, PathStatus, `{"stream_id":"`+s.ID+`","status":"disabled"}`, nil); code != http.StatusOK {
		t.Fatalf("disable = %d", code)
	}
	claims := `{"iss":"https://sessiond.example.com","jti":"late","aud":"x","sub_id":{},"events":{}}`
	if err := tx.queue.add(ctx, s.ID, queued{JTI: "late", Claims: json.RawMessage(claims)}); err != nil {
		t.Fatal(err)
	}
	var r struct {
		Sets map[string]string `json:"sets"`
	}
	if code := call(http.MethodPost, PathPoll+s.ID, `{"returnImmediately":true}`, &r); code != http.StatusOK || len(r.Sets) != 0 {
		t.Errorf("poll of a disabled stream = %d with %d SETs; want 200 with none", code, len(r.Sets))
	}
}
