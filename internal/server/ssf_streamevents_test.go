package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
)

// TestSSF_StreamEventsRecorded: a stream created by a receiver's ssf key
// and deleted by an admin key are in the server's event log, each naming
// the stream, its owner, the key that acted and the caller's address.
func TestSSF_StreamEventsRecorded(t *testing.T) {
	cfg := devConfig(t)
	cfg.SSF.Transmitter = config.SSFTransmitter{Enabled: true, Issuer: "http://sessiond.example.com"}
	n := start(t, server.Options{Config: cfg})
	base := "http://" + n.addr
	var created struct {
		Key struct {
			ID string `json:"id"`
		} `json:"key"`
		Secret string `json:"secret"`
	}
	if code := apiCall(t, http.MethodPost, base+"/v1/api-keys", `{"name":"receiver","scopes":["ssf"]}`, &created); code != http.StatusCreated {
		t.Fatalf("create ssf key = %d", code)
	}
	key := struct{ ID, Secret string }{created.Key.ID, created.Secret}
	res := apiRequest(t, http.MethodPost, base+"/v1/ssf/streams", key.Secret, "application/json",
		strings.NewReader(`{"delivery":{"method":"urn:ietf:rfc:8936"}}`))
	var stream struct {
		ID string `json:"stream_id"`
	}
	_ = json.NewDecoder(res.Body).Decode(&stream)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated || stream.ID == "" {
		t.Fatalf("create stream = %d", res.StatusCode)
	}
	if code := apiCall(t, http.MethodDelete, base+"/v1/ssf/streams?stream_id="+stream.ID, "", nil); code != http.StatusNoContent {
		t.Fatalf("admin deletes the stream = %d", code)
	}
	var keys struct {
		Keys []struct {
			ID string `json:"id"`
		} `json:"keys"`
	}
	if code := apiCall(t, http.MethodGet, base+"/v1/api-keys", "", &keys); code != http.StatusOK || len(keys.Keys) != 2 {
		t.Fatalf("list keys = %d, %d keys; want the admin key and the receiver's", code, len(keys.Keys))
	}
	adminID := keys.Keys[0].ID
	if adminID == key.ID {
		adminID = keys.Keys[1].ID
	}
	for typ, actor := range map[string]string{"ssf.stream_created": key.ID, "ssf.stream_deleted": adminID} {
		var out struct {
			Events []struct {
				Client  struct{ IP string } `json:"client"`
				Details map[string]any      `json:"details"`
			} `json:"events"`
		}
		if code := apiCall(t, http.MethodGet, base+"/v1/events?type="+typ, "", &out); code != http.StatusOK || len(out.Events) != 1 {
			t.Fatalf("%s: %d, %d events; want one", typ, code, len(out.Events))
		}
		e := out.Events[0]
		if e.Details["stream_id"] != stream.ID || e.Details["owner"] != key.ID || e.Details["api_key_id"] != actor ||
			actor == "" || e.Client.IP != "127.0.0.1" {
			t.Errorf("%s = client %q, details %v; want stream %s, owner %s, api_key_id %s, client 127.0.0.1",
				typ, e.Client.IP, e.Details, stream.ID, key.ID, actor)
		}
	}
}

// TestSSF_StreamManagementSpec: through the server's API, a create without
// delivery is a poll stream (SSF 1.0 §8.1.1.1); an update that gives a
// transmitter-supplied member another value, or a member name in other
// letters (STREAM_ID), is refused 400 and changes nothing; a change of the
// stream's push endpoint is an ssf.stream_updated event naming the hosts.
func TestSSF_StreamManagementSpec(t *testing.T) {
	cfg := devConfig(t)
	cfg.SSF.Transmitter = config.SSFTransmitter{Enabled: true, Issuer: "http://sessiond.example.com"}
	n := start(t, server.Options{Config: cfg})
	base := "http://" + n.addr
	var s struct {
		ID       string `json:"stream_id"`
		Delivery struct {
			Method      string `json:"method"`
			EndpointURL string `json:"endpoint_url"`
		} `json:"delivery"`
	}
	if code := apiCall(t, http.MethodPost, base+"/v1/ssf/streams", `{}`, &s); code != http.StatusCreated ||
		s.Delivery.Method != "urn:ietf:rfc:8936" || s.Delivery.EndpointURL != "http://sessiond.example.com/v1/ssf/poll/"+s.ID {
		t.Fatalf("create without delivery = %d, %+v; want 201, a poll stream", code, s)
	}
	sid := `"stream_id":"` + s.ID + `"`
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"another iss", `{` + sid + `,"iss":"http://evil.example","description":"x"}`, http.StatusBadRequest},
		{"other events_delivered", `{` + sid + `,"events_delivered":[],"description":"x"}`, http.StatusBadRequest},
		{"STREAM_ID", `{"STREAM_ID":"` + s.ID + `","description":"x"}`, http.StatusBadRequest},
		{"to push", `{` + sid + `,"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"https://receiver.example/ssf?token=x"}}`, http.StatusOK},
		{"redirected", `{` + sid + `,"iss":"http://sessiond.example.com","delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"https://other.example/ssf"}}`, http.StatusOK},
	} {
		if code := apiCall(t, http.MethodPatch, base+"/v1/ssf/streams", tc.body, nil); code != tc.want {
			t.Errorf("%s: PATCH = %d; want %d", tc.name, code, tc.want)
		}
	}
	var out struct {
		Events []struct {
			Details map[string]any `json:"details"`
		} `json:"events"`
	}
	if code := apiCall(t, http.MethodGet, base+"/v1/events?type=ssf.stream_updated", "", &out); code != http.StatusOK || len(out.Events) != 2 {
		t.Fatalf("ssf.stream_updated: %d, %d events; want two (the refused requests changed nothing)", code, len(out.Events))
	}
	hosts := map[string]bool{}
	for _, e := range out.Events {
		if e.Details["stream_id"] != s.ID || e.Details["description"] != nil {
			t.Errorf("event details %v; want stream %s", e.Details, s.ID)
		}
		h, _ := e.Details["endpoint_host"].(string)
		p, _ := e.Details["previous_endpoint_host"].(string)
		hosts[p+">"+h] = true
	}
	if !hosts[">receiver.example"] || !hosts["receiver.example>other.example"] {
		t.Errorf("events name the hosts %v; want >receiver.example and receiver.example>other.example", hosts)
	}
}
