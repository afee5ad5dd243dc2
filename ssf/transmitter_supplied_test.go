package ssf_test

import (
	"net/http"
	"testing"

	"github.com/sessiond/sessiond/ssf"
)

// TestTransmitter_CreateWithoutDelivery: SSF 1.0 §8.1.1.1: a create
// request without delivery is a poll stream (urn:ietf:rfc:8936), and the
// answer carries the delivery with its method and endpoint_url.
func TestTransmitter_CreateWithoutDelivery(t *testing.T) {
	_, srv, _ := newTransmitterServer(t)
	for _, body := range []string{`{}`, `{"description":"no delivery"}`} {
		var s struct {
			ID       string `json:"stream_id"`
			Delivery struct {
				Method      string `json:"method"`
				EndpointURL string `json:"endpoint_url"`
			} `json:"delivery"`
		}
		if code := txCall(t, http.MethodPost, srv.URL+ssf.PathStreams, "key-a", body, &s); code != http.StatusCreated {
			t.Fatalf("create %s = %d; want 201", body, code)
		}
		if s.Delivery.Method != ssf.DeliveryPoll || s.Delivery.EndpointURL != "https://sessiond.example.com"+ssf.PathPoll+s.ID {
			t.Errorf("create %s: delivery = %+v; want poll with the stream's poll endpoint", body, s.Delivery)
		}
		if r := pollNow(t, srv, s.ID); len(r.Sets) != 0 {
			t.Errorf("poll of the new stream = %v; want none", r.Sets)
		}
	}
}

// TestTransmitter_SuppliedMembersReadOnly: SSF 1.0 §8.1.1.3, §8.1.1.4: an
// update or replacement MAY repeat a transmitter-supplied member (iss,
// events_supported, events_delivered, a poll stream's endpoint_url, as
// aud), but it MUST match, else
// 400; one left out is ignored. Lists match in any order; events_delivered
// as the stream had it, or as the change makes it.
func TestTransmitter_SuppliedMembersReadOnly(t *testing.T) {
	_, srv, _ := newTransmitterServer(t)
	streams := srv.URL + ssf.PathStreams
	id := createStream(t, srv, `{"delivery":{"method":"urn:ietf:rfc:8936"}}`)
	sid := `"stream_id":"` + id + `",`
	poll := `"delivery":{"method":"urn:ietf:rfc:8936"},"events_requested":[],`
	both := `["` + ssf.CAEPSessionRevoked + `","` + ssf.RISCSessionsRevoked + `"]`
	bothReversed := `["` + ssf.RISCSessionsRevoked + `","` + ssf.CAEPSessionRevoked + `"]`
	caep := `["` + ssf.CAEPSessionRevoked + `"]`
	tests := []struct {
		name, method, body string
		want               int
	}{
		{"iss repeated", http.MethodPatch, `{` + sid + `"iss":"https://sessiond.example.com","description":"a"}`, http.StatusOK},
		{"another iss", http.MethodPatch, `{` + sid + `"iss":"https://evil.example","description":"b"}`, http.StatusBadRequest},
		{"iss in other letters", http.MethodPatch, `{` + sid + `"iss":"https://SESSIOND.example.com"}`, http.StatusBadRequest},
		{"iss null", http.MethodPatch, `{` + sid + `"iss":null}`, http.StatusBadRequest},
		{"another iss in a replacement", http.MethodPut, `{` + sid + poll + `"iss":"https://evil.example"}`, http.StatusBadRequest},
		{"events_supported repeated, in another order", http.MethodPatch, `{` + sid + `"events_supported":` + bothReversed + `}`, http.StatusOK},
		{"other events_supported", http.MethodPatch, `{` + sid + `"events_supported":` + caep + `}`, http.StatusBadRequest},
		{"events_supported empty", http.MethodPut, `{` + sid + poll + `"events_supported":[]}`, http.StatusBadRequest},
		{"events_delivered repeated", http.MethodPatch, `{` + sid + `"events_delivered":` + both + `}`, http.StatusOK},
		{"other events_delivered", http.MethodPatch, `{` + sid + `"events_delivered":` + caep + `}`, http.StatusBadRequest},
		{"events_delivered not a list", http.MethodPatch, `{` + sid + `"events_delivered":"` + ssf.CAEPSessionRevoked + `"}`, http.StatusBadRequest},
		{"events_delivered as the change makes it", http.MethodPatch, `{` + sid + `"events_requested":` + caep + `,"events_delivered":` + caep + `}`, http.StatusOK},
		{"events_delivered as it was, with the change", http.MethodPatch, `{` + sid + `"events_requested":` + both + `,"events_delivered":` + caep + `}`, http.StatusOK},
		{"the whole configuration sent back", http.MethodPut, `{` + sid + poll + `"iss":"https://sessiond.example.com","aud":"https://sessiond.example.com/v1/ssf/streams/` + id +
			`","events_supported":` + both + `,"events_delivered":` + both + `}`, http.StatusOK},
		{"poll endpoint_url repeated", http.MethodPatch, `{` + sid + `"delivery":{"method":"urn:ietf:rfc:8936","endpoint_url":"https://sessiond.example.com` + ssf.PathPoll + id + `"}}`, http.StatusOK},
		{"another poll endpoint_url", http.MethodPatch, `{` + sid + `"delivery":{"method":"urn:ietf:rfc:8936","endpoint_url":"https://receiver.example/ssf"}}`, http.StatusBadRequest},
		{"none of them", http.MethodPut, `{` + sid + poll + `"description":"c"}`, http.StatusOK},
	}
	for _, tc := range tests {
		if code := txCall(t, tc.method, streams, "key-a", tc.body, nil); code != tc.want {
			t.Errorf("%s: %s = %d; want %d", tc.name, tc.method, code, tc.want)
		}
	}
	var s struct {
		Description string `json:"description"`
	}
	if code := txCall(t, http.MethodGet, streams+"?stream_id="+id, "key-a", "", &s); code != http.StatusOK || s.Description != "c" {
		t.Errorf("stream = %d, description %q; want the last accepted change, c (a refused one changes nothing)", code, s.Description)
	}
}

// TestTransmitter_CaseVariantMembers: member names are case-sensitive
// (SSF 1.0 and RFC 8936 spell each one exactly). A name that differs from
// a known one only in letter case is refused (400), never taken for it:
// "MAXEVENTS" acted as maxEvents, "STREAM_ID" chose the stream to change.
// A name sessiond does not know at all is still ignored.
func TestTransmitter_CaseVariantMembers(t *testing.T) {
	_, srv, _ := newTransmitterServer(t)
	id := createStream(t, srv, `{"delivery":{"method":"urn:ietf:rfc:8936"}}`)
	streams := srv.URL + ssf.PathStreams
	tests := []struct {
		name, method, url, body string
		want                    int
	}{
		{"STREAM_ID on PATCH", http.MethodPatch, streams, `{"STREAM_ID":"` + id + `","description":"x"}`, http.StatusBadRequest},
		{"Description on PATCH", http.MethodPatch, streams, `{"stream_id":"` + id + `","Description":"x"}`, http.StatusBadRequest},
		{"delivery.METHOD on PATCH", http.MethodPatch, streams, `{"stream_id":"` + id + `","delivery":{"METHOD":"urn:ietf:rfc:8936"}}`, http.StatusBadRequest},
		{"long s folding to s in description", http.MethodPatch, streams, `{"stream_id":"` + id + `","de\u017fcription":"x"}`, http.StatusBadRequest},
		{"long s folding to s in events_requested", http.MethodPost, streams, `{"delivery":{"method":"urn:ietf:rfc:8936"},"event\u017f_requested":["x"]}`, http.StatusBadRequest},
		{"MAXEVENTS on poll", http.MethodPost, srv.URL + ssf.PathPoll + id, `{"MAXEVENTS":0,"returnImmediately":true}`, http.StatusBadRequest},
		{"ReturnImmediately on poll", http.MethodPost, srv.URL + ssf.PathPoll + id, `{"ReturnImmediately":true}`, http.StatusBadRequest},
		{"STATUS on status", http.MethodPost, srv.URL + ssf.PathStatus, `{"stream_id":"` + id + `","STATUS":"disabled","status":"enabled"}`, http.StatusBadRequest},
		{"STATE on verify", http.MethodPost, srv.URL + ssf.PathVerify, `{"stream_id":"` + id + `","STATE":"s"}`, http.StatusBadRequest},
		{"subject FORMAT", http.MethodPost, srv.URL + ssf.PathAddSubject, `{"stream_id":"` + id + `","subject":{"FORMAT":"opaque","format":"opaque","id":"alice"}}`, http.StatusBadRequest},
		{"complex user ID", http.MethodPost, srv.URL + ssf.PathAddSubject, `{"stream_id":"` + id + `","subject":{"format":"complex","user":{"format":"opaque","ID":"bob","id":"alice"}}}`, http.StatusBadRequest},
		{"complex session Id", http.MethodPost, srv.URL + ssf.PathAddSubject, `{"stream_id":"` + id + `","subject":{"format":"complex","session":{"format":"opaque","Id":"s1","id":"s2"}}}`, http.StatusBadRequest},
		{"unknown member ignored", http.MethodPatch, streams, `{"stream_id":"` + id + `","description":"kept","min_verification_interval":60}`, http.StatusOK},
		{"exact names", http.MethodPost, srv.URL + ssf.PathPoll + id, `{"maxEvents":0,"returnImmediately":true}`, http.StatusOK},
	}
	for _, tc := range tests {
		if code := txCall(t, tc.method, tc.url, "key-a", tc.body, nil); code != tc.want {
			t.Errorf("%s: %s = %d; want %d", tc.name, tc.method, code, tc.want)
		}
	}
	var s struct {
		Description string `json:"description"`
	}
	if code := txCall(t, http.MethodGet, streams+"?stream_id="+id, "key-a", "", &s); code != http.StatusOK || s.Description != "kept" {
		t.Errorf("stream = %d, description %q; want kept (no case variant changed it)", code, s.Description)
	}
	var st struct {
		Status string `json:"status"`
	}
	if code := txCall(t, http.MethodGet, srv.URL+ssf.PathStatus+"?stream_id="+id, "key-a", "", &st); code != http.StatusOK || st.Status != ssf.StatusEnabled {
		t.Errorf("status = %d, %q; want enabled", code, st.Status)
	}
}
