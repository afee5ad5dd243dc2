package ssf_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/ssf"
	"github.com/sessiond/sessiond/webhook"
)

// countingServer answers 202 to every request and counts them.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// guardedOn is a transmitter with AllowPrivate false on st, the store of a
// transmitter that allowed private endpoints: the stream it finds there
// stands for one created before the guard, or under a name that resolves
// to a private address only later.
func guardedOn(t *testing.T, st *memstore.Store, mod func(*ssf.TransmitterOptions)) *ssf.Transmitter {
	t.Helper()
	tx, _, _ := newTransmitterServerWith(t, func(o *ssf.TransmitterOptions) {
		o.Meta, o.Outbox, o.AllowPrivate = st, st, false
		if mod != nil {
			mod(o)
		}
	})
	return tx
}

// pushStream creates a push stream to endpoint through srv and returns a
// delivery for it.
func pushStream(t *testing.T, tx *ssf.Transmitter, srv *httptest.Server, endpoint string) sessiond.Delivery {
	t.Helper()
	body := `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"` + endpoint + `","authorization_header":"Bearer push-secret-0123"}}`
	if code := txCall(t, http.MethodPost, srv.URL+ssf.PathStreams, "key-a", body, nil); code != http.StatusCreated {
		t.Fatalf("create push stream = %d", code)
	}
	ds, err := tx.Deliveries(context.Background(), sessiond.Event{ID: "evt_1", Time: time.Now(),
		Type: sessiond.EventSessionRevoked, Subject: "alice", SessionID: "s1"})
	if err != nil || len(ds) != 1 {
		t.Fatalf("Deliveries = %v, %v; want one", ds, err)
	}
	return ds[0]
}

// TestTransmitter_PrivateEndpoint: with AllowPrivate false a push to a
// receiver on 127.0.0.1 never reaches it; the attempt fails with an error
// naming the address class (and nothing of the request), and the outbox
// keeps the delivery pending, SET intact, for its retry. With AllowPrivate
// the same delivery is delivered.
func TestTransmitter_PrivateEndpoint(t *testing.T) {
	ctx := context.Background()
	rcv, hits := countingServer(t)
	open, srv, st := newTransmitterServer(t) // AllowPrivate
	del := pushStream(t, open, srv, rcv.URL+"/ssf")
	guarded := guardedOn(t, st, nil)

	perm, err := guarded.Send(ctx, del)
	if !errors.Is(err, ssf.ErrPrivateAddress) || perm {
		t.Fatalf("guarded Send = %v, %v; want a retryable ErrPrivateAddress", perm, err)
	}
	t.Logf("refused push: %v", err)
	if msg := err.Error(); !strings.Contains(msg, "loopback") || strings.Contains(msg, "push-secret") || strings.Contains(msg, "/ssf") {
		t.Errorf("guarded Send error = %q; want the address class, no header or URL path", msg)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the receiver on loopback got %d requests from the guarded transmitter; want 0", n)
	}

	// Through the dispatcher: a failed attempt like any other.
	if err := st.EnqueueDeliveries(ctx, del); err != nil {
		t.Fatal(err)
	}
	clock := sessiondtest.NewClock(time.Now())
	dispatch := func(s webhook.Sender) {
		t.Helper()
		d, err := webhook.New(webhook.Options{Outbox: st, Senders: []webhook.Sender{s}, Clock: clock})
		if err != nil {
			t.Fatal(err)
		}
		if n, err := d.DeliverDue(ctx); n != 1 || err != nil {
			t.Fatalf("DeliverDue = %d, %v; want one attempt recorded", n, err)
		}
	}
	dispatch(guarded)
	pending, err := st.ListDeliveries(ctx, sessiond.DeliveryPending, 10)
	if err != nil || len(pending) != 1 {
		t.Fatalf("pending after a refused push = %v, %v; want the delivery", pending, err)
	}
	p := pending[0]
	if p.ID != del.ID || p.Attempts != 1 || !p.NextAttemptAt.After(clock.Now()) || !bytes.Equal(p.Payload, del.Payload) ||
		!strings.Contains(p.LastError, "loopback") || strings.Contains(p.LastError, "push-secret") {
		t.Errorf("delivery after a refused push = %+v; want pending, 1 attempt, a retry scheduled, the SET unchanged, LastError naming loopback", p)
	}
	if n := hits.Load(); n != 0 {
		t.Fatalf("the receiver got %d requests through the dispatcher; want 0", n)
	}

	// Allowed: the retry, once due, is delivered.
	clock.Advance(time.Hour)
	dispatch(open)
	if n := hits.Load(); n != 1 {
		t.Errorf("receiver got %d requests with AllowPrivate; want 1", n)
	}
	if done, _ := st.ListDeliveries(ctx, sessiond.DeliveryDelivered, 10); len(done) != 1 || done[0].Attempts != 2 {
		t.Errorf("delivered = %+v; want the delivery, after 2 attempts", done)
	}
}

// TestTransmitter_PrivateEndpointNoProxy: the guarded client goes around
// the proxy (which would otherwise be the only address it checks) and
// refuses the receiver's own address; with AllowPrivate the proxy is used.
func TestTransmitter_PrivateEndpointNoProxy(t *testing.T) {
	ctx := context.Background()
	rcv, hits := countingServer(t)
	proxy, proxied := countingServer(t)
	proxyURL, _ := url.Parse(proxy.URL)
	viaProxy := func(o *ssf.TransmitterOptions) {
		o.HTTPClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: http.ProxyURL(proxyURL)}}
	}
	open, srv, st := newTransmitterServerWith(t, viaProxy)
	del := pushStream(t, open, srv, rcv.URL+"/ssf")

	guarded := guardedOn(t, st, viaProxy)
	_, err := guarded.Send(ctx, del)
	if !errors.Is(err, ssf.ErrPrivateAddress) || !strings.Contains(err.Error(), rcv.Listener.Addr().String()) {
		t.Errorf("guarded Send = %v; want ErrPrivateAddress for the receiver's address %s, not the proxy's", err, rcv.Listener.Addr())
	}
	if proxied.Load() != 0 || hits.Load() != 0 {
		t.Errorf("guarded Send reached the proxy %d times, the receiver %d; want 0, 0", proxied.Load(), hits.Load())
	}

	if _, err := open.Send(ctx, del); err != nil {
		t.Fatalf("Send with AllowPrivate = %v", err)
	}
	if proxied.Load() != 1 {
		t.Errorf("Send with AllowPrivate reached the proxy %d times; want 1", proxied.Load())
	}
}

// TestTransmitter_PrivateEndpointRefusedAtCreation: a push endpoint_url
// whose host is localhost or a literal non-public address is refused with
// 400 on create, update and replace; a name is accepted (it is checked
// when connecting), and everything is accepted with AllowPrivate.
func TestTransmitter_PrivateEndpointRefusedAtCreation(t *testing.T) {
	_, guarded, _ := newTransmitterServerWith(t, func(o *ssf.TransmitterOptions) { o.AllowPrivate = false })
	// One stream per case on open, all of key-a's: more than a key's default limit.
	_, open, _ := newTransmitterServerWith(t, func(o *ssf.TransmitterOptions) { o.MaxStreamsPerOwner = ssf.MaxStreams })
	streams := guarded.URL + ssf.PathStreams
	create := func(endpoint string) string {
		return `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"` + endpoint + `"}}`
	}
	tests := []struct {
		name, endpoint string
		want           int
	}{
		{"loopback", "https://127.0.0.1/ssf", http.StatusBadRequest},
		{"loopback with port", "https://127.0.0.1:8443/ssf", http.StatusBadRequest},
		{"localhost", "https://localhost/ssf", http.StatusBadRequest},
		{"localhost fqdn", "https://LOCALHOST./ssf", http.StatusBadRequest},
		{"a .localhost name", "https://api.localhost/ssf", http.StatusBadRequest},
		{"IPv6 loopback", "https://[::1]/ssf", http.StatusBadRequest},
		{"metadata", "http://169.254.169.254/latest/meta-data", http.StatusBadRequest},
		{"mapped metadata", "https://[::ffff:169.254.169.254]/", http.StatusBadRequest},
		{"RFC 1918", "https://10.0.0.5/ssf", http.StatusBadRequest},
		{"RFC 1918 172", "https://172.20.1.1/ssf", http.StatusBadRequest},
		{"unique local", "https://[fd00::1]/ssf", http.StatusBadRequest},
		{"link-local IPv6 with zone", "https://[fe80::1%25eth0]/ssf", http.StatusBadRequest},
		{"CGNAT", "https://100.64.0.1/ssf", http.StatusBadRequest},
		{"unspecified", "https://0.0.0.0/ssf", http.StatusBadRequest},
		{"public name", "https://receiver.example.com/ssf", http.StatusCreated},
		{"public address", "https://8.8.8.8/ssf", http.StatusCreated},
		{"name starting with localhost", "https://localhost.example.com/ssf", http.StatusCreated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out map[string]string
			code := txCall(t, http.MethodPost, streams, "key-a", create(tc.endpoint), &out)
			if code != tc.want {
				t.Fatalf("create with %s = %d %v; want %d", tc.endpoint, code, out, tc.want)
			}
			if code == http.StatusBadRequest && (out["err"] != "invalid_request" || !strings.Contains(out["description"], "non-public")) {
				t.Errorf("refusal = %v; want invalid_request saying the address is not public", out)
			}
			if code := txCall(t, http.MethodPost, open.URL+ssf.PathStreams, "key-a", create(tc.endpoint), nil); code != http.StatusCreated {
				t.Errorf("create with %s and AllowPrivate = %d; want 201", tc.endpoint, code)
			}
		})
	}

	var s struct {
		ID string `json:"stream_id"`
	}
	if code := txCall(t, http.MethodPost, streams, "key-a", create("https://receiver.example.com/ssf"), &s); code != http.StatusCreated {
		t.Fatalf("create = %d", code)
	}
	private := `{"method":"urn:ietf:rfc:8935","endpoint_url":"https://10.1.2.3/ssf"}`
	for _, method := range []string{http.MethodPatch, http.MethodPut} {
		body := `{"stream_id":"` + s.ID + `","events_requested":[],"delivery":` + private + `}`
		if code := txCall(t, method, streams, "key-a", body, nil); code != http.StatusBadRequest {
			t.Errorf("%s to a private endpoint_url = %d; want 400", method, code)
		}
	}
	var got struct {
		Delivery struct {
			EndpointURL string `json:"endpoint_url"`
		} `json:"delivery"`
	}
	txCall(t, http.MethodGet, streams+"?stream_id="+s.ID, "key-a", "", &got)
	if got.Delivery.EndpointURL != "https://receiver.example.com/ssf" {
		t.Errorf("endpoint_url after refused updates = %q; want it unchanged", got.Delivery.EndpointURL)
	}
}
