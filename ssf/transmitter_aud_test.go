package ssf_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/ssf"
)

// TestTransmitter_AudOfAnotherReceiver: a key may not give its stream the
// aud of a stream it does not own, neither the default one the
// transmitter assigned (Issuer/v1/ssf/streams/<id>) nor one another key
// set: it would receive genuine SETs addressed to that receiver and could
// push them to it. Its own default, and an aud its own other stream holds,
// stay allowed. The check folds case: aud values are compared exactly
// (RFC 7519 §2, StringOrURI) by a receiver that follows the RFC, but one
// that compares URIs as RFC 3986 §6.2.2.1 does (scheme and host without
// regard to case) would take a variant as its own. No update changes an
// aud (SSF 1.0 §8.1.1: it cannot be updated; TestTransmitter_AudReadOnly).
func TestTransmitter_AudOfAnotherReceiver(t *testing.T) {
	_, srv, _ := newTransmitterServer(t)
	streams := srv.URL + ssf.PathStreams
	poll := `"delivery":{"method":"urn:ietf:rfc:8936"}`
	victim := createStream(t, srv, `{`+poll+`}`)
	victimAud := "https://sessiond.example.com" + ssf.PathStreams + "/" + victim
	custom := createStream(t, srv, `{"aud":"https://siem.example.com",`+poll+`}`)
	var mine struct {
		ID string `json:"stream_id"`
	}
	if code := txCall(t, http.MethodPost, streams, "key-b", `{`+poll+`}`, &mine); code != http.StatusCreated {
		t.Fatalf("create = %d", code)
	}
	mineAud := "https://sessiond.example.com" + ssf.PathStreams + "/" + mine.ID
	tests := []struct {
		name, method, key, body string
		want                    int
	}{
		{"create with another stream's default aud", http.MethodPost, "key-b", `{"aud":"` + victimAud + `",` + poll + `}`, http.StatusBadRequest},
		{"create with it in a list", http.MethodPost, "key-b", `{"aud":["https://b.example","` + victimAud + `"],` + poll + `}`, http.StatusBadRequest},
		{"create with another key's aud", http.MethodPost, "key-b", `{"aud":"https://siem.example.com",` + poll + `}`, http.StatusBadRequest},
		{"update to another stream's default aud", http.MethodPatch, "key-b", `{"stream_id":"` + mine.ID + `","aud":"` + victimAud + `"}`, http.StatusBadRequest},
		{"replace with another key's aud", http.MethodPut, "key-b", `{"stream_id":"` + mine.ID + `","aud":"https://siem.example.com",` + poll + `,"events_requested":[]}`, http.StatusBadRequest},
		{"update to its own default aud", http.MethodPatch, "key-b", `{"stream_id":"` + mine.ID + `","aud":"` + mineAud + `"}`, http.StatusOK},
		{"update to an aud of its own", http.MethodPatch, "key-b", `{"stream_id":"` + mine.ID + `","aud":"https://b.example"}`, http.StatusBadRequest},
		{"create with another stream's default aud in capitals", http.MethodPost, "key-b", `{"aud":"` + strings.ToUpper(victimAud) + `",` + poll + `}`, http.StatusBadRequest},
		{"create with it, scheme and host in capitals", http.MethodPost, "key-b", `{"aud":"HTTPS://SESSIOND.EXAMPLE.COM` + ssf.PathStreams + "/" + victim + `",` + poll + `}`, http.StatusBadRequest},
		{"create with another key's aud in capitals", http.MethodPost, "key-b", `{"aud":"https://SIEM.example.com",` + poll + `}`, http.StatusBadRequest},
		{"create with an aud nobody holds, in capitals", http.MethodPost, "key-b", `{"aud":"HTTPS://B.EXAMPLE",` + poll + `}`, http.StatusCreated},
		{"the owner's stream with its aud in capitals", http.MethodPost, "key-a", `{"aud":"HTTPS://SIEM.EXAMPLE.COM",` + poll + `}`, http.StatusCreated},
		{"the owner's second stream with its aud", http.MethodPost, "key-a", `{"aud":"https://siem.example.com",` + poll + `}`, http.StatusCreated},
		{"the owner updates the stream keeping its aud", http.MethodPatch, "key-a", `{"stream_id":"` + custom + `","aud":"https://siem.example.com","description":"d"}`, http.StatusOK},
	}
	for _, tc := range tests {
		if code := txCall(t, tc.method, streams, tc.key, tc.body, nil); code != tc.want {
			t.Errorf("%s: %s = %d; want %d", tc.name, tc.method, code, tc.want)
		}
	}
}
