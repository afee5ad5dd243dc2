package ssf_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/ssf"
)

type kekSealer struct{ k *signing.KEK }

func (s kekSealer) Seal(name string, b []byte) ([]byte, error) { return s.k.SealDocument(name, b) }
func (s kekSealer) Open(name string, b []byte) ([]byte, error) {
	p, _, err := signing.OpenDocument(name, b, s.k)
	return p, err
}

// TestTransmitter_SealedAuthorization: with a Sealer the push
// authorization header is absent in clear from the stored stream list and
// still sent; a transmitter on the same store without the Sealer cannot
// open it, so its push fails (to be retried) rather than go out without
// the header, and its other work goes on.
func TestTransmitter_SealedAuthorization(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	ring, err := jwttoken.NewRing(time.Now(), jwttoken.RingOptions{MaxTokenLifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	kek, err := signing.ParseKEK([]byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{3}, 32))))
	if err != nil {
		t.Fatal(err)
	}
	auth := func(_ context.Context, bearer string) (string, bool, error) { return bearer, false, nil }
	newTx := func(s ssf.Sealer) *ssf.Transmitter {
		tx, err := ssf.NewTransmitter(ssf.TransmitterOptions{Issuer: "https://sessiond.example.com", Meta: st, Outbox: st,
			Signer: ring, AllowHTTP: true, AllowPrivate: true, Authenticate: auth, Sealer: s}) // the receiver is on loopback
		if err != nil {
			t.Fatal(err)
		}
		return tx
	}
	sealed := newTx(kekSealer{kek})
	var got []string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(rcv.Close)
	srv := httptest.NewServer(sealed)
	t.Cleanup(srv.Close)
	const header = "Bearer push-secret-93b1"
	body := `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"` + rcv.URL + `","authorization_header":"` + header + `"}}`
	var s map[string]any
	if code := txCall(t, http.MethodPost, srv.URL+ssf.PathStreams, "key-a", body, &s); code != http.StatusCreated {
		t.Fatalf("create = %d", code)
	}
	if _, ok := s["delivery"].(map[string]any)["authorization_header"]; ok {
		t.Errorf("create answered the authorization header: %v", s)
	}
	doc, _, err := st.GetMeta(ctx, "ssf.streams")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(doc), "push-secret") || !strings.Contains(string(doc), "authorization_sealed") {
		t.Fatalf("stored stream list %s; want the header sealed", doc)
	}

	e := sessiond.Event{ID: "evt_1", Time: time.Now(), Type: sessiond.EventSessionRevoked, Subject: "alice", SessionID: "s1"}
	ds, err := sealed.Deliveries(ctx, e)
	if err != nil || len(ds) != 1 {
		t.Fatalf("Deliveries = %v, %v", ds, err)
	}
	if perm, err := sealed.Send(ctx, ds[0]); err != nil || perm {
		t.Fatalf("Send = %v, %v", perm, err)
	}
	if len(got) != 1 || got[0] != header {
		t.Fatalf("receiver got Authorization %q; want the stream's header", got)
	}

	clear := newTx(nil)
	if ds, err := clear.Deliveries(ctx, e); err != nil || len(ds) != 1 {
		t.Fatalf("Deliveries without the KEK = %v, %v; want the stream's entry", ds, err)
	}
	if perm, err := clear.Send(ctx, ds[0]); err == nil || perm {
		t.Errorf("Send without the KEK = %v, %v; want a failure to retry", perm, err)
	}
	if len(got) != 1 {
		t.Errorf("a push went out without its header: %q", got)
	}
	// Changing the stream on the node without the KEK keeps the header.
	srvClear := httptest.NewServer(clear)
	t.Cleanup(srvClear.Close)
	if code := txCall(t, http.MethodPatch, srvClear.URL+ssf.PathStreams, "key-a", `{"stream_id":"`+s["stream_id"].(string)+`","description":"x"}`, nil); code != http.StatusOK {
		t.Fatalf("update = %d", code)
	}
	if perm, err := sealed.Send(ctx, ds[0]); err != nil || perm || len(got) != 2 || got[1] != header {
		t.Errorf("after an update without the KEK: Send = %v, %v, receiver got %q; want the header again", perm, err, got)
	}
}

// clearSealer seals nothing anew (Seal returns nil): a server given KEKs
// only as old ones, before it has read a secret sealed with one.
type clearSealer struct{}

func (clearSealer) Seal(string, []byte) ([]byte, error) { return nil, nil }
func (clearSealer) Open(string, []byte) ([]byte, error) {
	return nil, errors.New("clearSealer opens nothing")
}

// TestTransmitter_SealerSealsNothing: a Sealer whose Seal returns nil
// leaves the push authorization header in clear, as without a Sealer: it
// is stored and sent, not dropped.
func TestTransmitter_SealerSealsNothing(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	ring, err := jwttoken.NewRing(time.Now(), jwttoken.RingOptions{MaxTokenLifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	auth := func(_ context.Context, bearer string) (string, bool, error) { return bearer, false, nil }
	tx, err := ssf.NewTransmitter(ssf.TransmitterOptions{Issuer: "https://sessiond.example.com", Meta: st, Outbox: st,
		Signer: ring, AllowHTTP: true, AllowPrivate: true, Authenticate: auth, Sealer: clearSealer{}}) // the receiver is on loopback
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Get("Authorization"))
		w.WriteHeader(http.StatusAccepted)
	}))
	t.Cleanup(rcv.Close)
	srv := httptest.NewServer(tx)
	t.Cleanup(srv.Close)
	const header = "Bearer push-secret-5d21"
	body := `{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"` + rcv.URL + `","authorization_header":"` + header + `"}}`
	if code := txCall(t, http.MethodPost, srv.URL+ssf.PathStreams, "key-a", body, nil); code != http.StatusCreated {
		t.Fatalf("create = %d", code)
	}
	if doc, _, err := st.GetMeta(ctx, "ssf.streams"); err != nil || !strings.Contains(string(doc), "push-secret-5d21") {
		t.Fatalf("stored stream list %s, %v; want the header in clear", doc, err)
	}
	e := sessiond.Event{ID: "evt_1", Time: time.Now(), Type: sessiond.EventSessionRevoked, Subject: "alice", SessionID: "s1"}
	ds, err := tx.Deliveries(ctx, e)
	if err != nil || len(ds) != 1 {
		t.Fatalf("Deliveries = %v, %v", ds, err)
	}
	if perm, err := tx.Send(ctx, ds[0]); err != nil || perm || len(got) != 1 || got[0] != header {
		t.Errorf("Send = %v, %v, receiver got %q; want the stream's header", perm, err, got)
	}
}
