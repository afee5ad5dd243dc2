package server_test

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/apitype"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
)

// sessionsPushed is a push receiver that records the session IDs of the
// CAEP session-revoked SETs it is sent.
type sessionsPushed struct {
	mu  sync.Mutex
	ids []string
	srv *httptest.Server
}

func newSessionsPushed(t *testing.T) *sessionsPushed {
	p := &sessionsPushed{}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if parts := strings.Split(string(b), "."); len(parts) == 3 {
			claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
			if strings.Contains(string(claims), specSessionRevoked) {
				p.mu.Lock()
				p.ids = append(p.ids, string(claims))
				p.mu.Unlock()
			}
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// has waits up to 10 s for a SET about session id.
func (p *sessionsPushed) has(id string) bool {
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		p.mu.Lock()
		for _, c := range p.ids {
			if strings.Contains(c, id) {
				p.mu.Unlock()
				return true
			}
		}
		p.mu.Unlock()
	}
	return false
}

// TestSSF_RevokedOwnerGetsNoMoreSETs: an API key with the ssf scope
// creates a push stream to an endpoint of its choosing. Once the key is
// revoked it can no longer see, change or delete the stream, so the
// stream must stop receiving SETs too: revoking a leaked ssf key ends the
// data it subscribed to.
func TestSSF_RevokedOwnerGetsNoMoreSETs(t *testing.T) {
	cfg := devConfig(t)
	addr := freeAddr(t)
	cfg.Server.Listen = addr
	cfg.SSF.Transmitter = config.SSFTransmitter{Enabled: true, Issuer: "http://" + addr}
	n := start(t, server.Options{Config: cfg})
	base := "http://" + n.addr

	// One stream per key: the leaked key's, and an admin's that shows
	// when a revocation's SETs have gone out.
	leaked, control := newSessionsPushed(t), newSessionsPushed(t)
	var created struct {
		Key struct {
			ID string `json:"id"`
		} `json:"key"`
		Secret string `json:"secret"`
	}
	if code := apiCall(t, http.MethodPost, base+"/v1/api-keys", `{"name":"siem","scopes":["ssf"]}`, &created); code != http.StatusCreated {
		t.Fatalf("create ssf key = %d", code)
	}
	for _, s := range []struct {
		key string
		to  *sessionsPushed
	}{{created.Secret, leaked}, {string(testKey), control}} {
		r := &specReceiver{t: t, apiKey: s.key}
		if code := r.call(http.MethodPost, base+"/v1/ssf/streams", map[string]any{
			"delivery": map[string]any{"method": specPush, "endpoint_url": s.to.srv.URL + "/ssf"},
		}, nil); code != http.StatusCreated {
			t.Fatalf("create push stream = %d", code)
		}
	}
	revokeSession := func() string {
		id := createSession(t, base, "alice@example.com")
		if code := apiCall(t, http.MethodDelete, base+"/v1/sessions/"+id, "", nil); code != http.StatusNoContent {
			t.Fatalf("revoke session = %d", code)
		}
		return id
	}

	before := revokeSession()
	if !leaked.has(before) || !control.has(before) {
		t.Fatal("while the key is live, both streams receive the revocation")
	}
	if code := apiCall(t, http.MethodDelete, base+"/v1/api-keys/"+created.Key.ID, "", nil); code != http.StatusNoContent {
		t.Fatalf("revoke ssf key = %d", code)
	}
	after := revokeSession()
	if !control.has(after) {
		t.Fatal("the admin's stream did not receive the later revocation")
	}
	// Both streams' SETs of an event are enqueued together, so once the
	// control stream has its SET every SET of this revocation is in the
	// outbox; none pending means each has been answered by its receiver
	// (or ended), so a SET to the leaked stream would be recorded by now.
	eventually(t, 10*time.Second, "the outbox has no pending delivery", func() bool {
		var page apitype.DeliveryPage
		code := apiCall(t, http.MethodGet, base+"/v1/webhooks/deliveries?state=pending", "", &page)
		return code == http.StatusOK && len(page.Deliveries) == 0
	})
	leaked.mu.Lock()
	defer leaked.mu.Unlock()
	for _, c := range leaked.ids {
		if strings.Contains(c, after) {
			t.Errorf("after its owner key %s was revoked, the key's push stream still received a SET for a later revocation", created.Key.ID)
		}
	}
}
