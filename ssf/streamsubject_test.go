package ssf_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/ssf"
)

// TestTransmitter_StreamSubjects: a stream gets events about every subject
// until a subject is added; then only about those added, even once they
// are all removed again. Bad requests change nothing.
func TestTransmitter_StreamSubjects(t *testing.T) {
	ctx := context.Background()
	tx, srv, _ := newTransmitterServer(t)
	var s struct {
		ID string `json:"stream_id"`
	}
	if code := txCall(t, http.MethodPost, srv.URL+ssf.PathStreams, "key-a", `{"delivery":{"method":"urn:ietf:rfc:8936"}}`, &s); code != http.StatusCreated {
		t.Fatalf("create = %d", code)
	}
	// delivered reports which of these events the stream gets.
	revokedSession := func(subject, session string) sessiond.Event {
		return sessiond.Event{ID: "e-" + subject + session, Time: time.Now(), Type: sessiond.EventSessionRevoked,
			Subject: subject, SessionID: sessiond.SessionID(session)}
	}
	revokedAll := func(subject string) sessiond.Event {
		return sessiond.Event{ID: "b-" + subject, Time: time.Now(), Type: sessiond.EventBulkRevoked, Subject: subject}
	}
	gets := func(e sessiond.Event) bool {
		t.Helper()
		ds, err := tx.Deliveries(ctx, e)
		if err != nil {
			t.Fatal(err)
		}
		return len(ds) == 1
	}
	if !gets(revokedSession("alice", "s1")) || !gets(revokedAll("zed")) {
		t.Fatal("a stream without subjects added misses events")
	}

	add, remove := srv.URL+ssf.PathAddSubject, srv.URL+ssf.PathRemoveSubject
	body := func(subject string) string {
		return `{"stream_id":"` + s.ID + `","subject":` + subject + `,"verified":true}`
	}
	const (
		bob       = `{"format":"opaque","id":"bob"}`
		carolSub  = `{"format":"iss_sub","iss":"https://sessiond.example.com","sub":"carol"}`
		daveS9    = `{"format":"complex","user":{"format":"opaque","id":"dave"},"session":{"format":"opaque","id":"s9"}}`
		onlySess7 = `{"format":"complex","session":{"format":"opaque","id":"s7"}}`
	)
	for _, tc := range []struct {
		name, url, key, body string
		want                 int
	}{
		{"not JSON", add, "key-a", `{`, http.StatusBadRequest},
		{"verified not a bool", add, "key-a", `{"stream_id":"` + s.ID + `","subject":` + bob + `,"verified":"yes"}`, http.StatusBadRequest},
		{"no subject", add, "key-a", `{"stream_id":"` + s.ID + `"}`, http.StatusBadRequest},
		{"subject not an object", add, "key-a", body(`"bob"`), http.StatusBadRequest},
		{"email unsupported", add, "key-a", body(`{"format":"email","email":"bob@example.com"}`), http.StatusBadRequest},
		{"opaque without id", add, "key-a", body(`{"format":"opaque"}`), http.StatusBadRequest},
		{"iss_sub of another issuer", add, "key-a", body(`{"format":"iss_sub","iss":"https://other.example","sub":"bob"}`), http.StatusBadRequest},
		{"complex naming nothing", add, "key-a", body(`{"format":"complex"}`), http.StatusBadRequest},
		{"complex session not opaque", add, "key-a", body(`{"format":"complex","session":{"format":"email","email":"a@b"}}`), http.StatusBadRequest},
		{"id too long", add, "key-a", body(`{"format":"opaque","id":"` + strings.Repeat("x", 600) + `"}`), http.StatusBadRequest},
		{"bidirectional override", add, "key-a", body(`{"format":"opaque","id":"bob\u202e"}`), http.StatusBadRequest},
		{"unknown stream", add, "key-a", `{"stream_id":"nope","subject":` + bob + `}`, http.StatusNotFound},
		{"another key's stream", add, "key-b", body(bob), http.StatusNotFound},
		{"no ssf scope", add, "verify-only", body(bob), http.StatusForbidden},
		{"no key", add, "", body(bob), http.StatusUnauthorized},
		{"oversized", add, "key-a", body(`{"format":"opaque","id":"bob","pad":"` + strings.Repeat("x", 70<<10) + `"}`), http.StatusRequestEntityTooLarge},
		{"GET", add, "key-a", "", http.StatusMethodNotAllowed},
		{"remove before any add", remove, "key-a", body(bob), http.StatusNotFound},
	} {
		if code := txCall(t, http.MethodPost, tc.url, tc.key, tc.body, nil); tc.name == "GET" {
			if code := txCall(t, http.MethodGet, tc.url, tc.key, "", nil); code != tc.want {
				t.Errorf("%s: = %d; want %d", tc.name, code, tc.want)
			}
		} else if code != tc.want {
			t.Errorf("%s: add/remove = %d; want %d", tc.name, code, tc.want)
		}
	}
	if !gets(revokedAll("zed")) {
		t.Fatal("refused requests filtered the stream")
	}

	// Zoë in decomposed form: events carry the NFC form the API stores.
	const zoeNFD = `{"format":"opaque","id":"zoe\u0308"}`
	for _, sub := range []string{bob, carolSub, daveS9, onlySess7, bob, zoeNFD} {
		if code := txCall(t, http.MethodPost, add, "key-a", body(sub), nil); code != http.StatusOK {
			t.Fatalf("add %s = %d; want 200", sub, code)
		}
	}
	for _, tc := range []struct {
		name string
		e    sessiond.Event
		want bool
	}{
		{"added opaque, a session", revokedSession("bob", "s1"), true},
		{"added opaque, subject-wide", revokedAll("bob"), true},
		{"added iss_sub", revokedSession("carol", "s2"), true},
		{"complex: its session", revokedSession("dave", "s9"), true},
		{"complex: another session of the user", revokedSession("dave", "s8"), false},
		{"complex: the user subject-wide", revokedAll("dave"), true},
		{"session only: that session", revokedSession("erin", "s7"), true},
		{"session only: subject-wide", revokedAll("erin"), false},
		{"added in decomposed form, the stored form", revokedAll("zo\u00eb"), true},
		{"not added", revokedSession("alice", "s1"), false},
		{"not added, subject-wide", revokedAll("zed"), false},
	} {
		if got := gets(tc.e); got != tc.want {
			t.Errorf("%s: delivered %v; want %v", tc.name, got, tc.want)
		}
	}

	for _, sub := range []string{bob, carolSub, daveS9, onlySess7, `{"format":"opaque","id":"zo\u00eb"}`} {
		if code := txCall(t, http.MethodPost, remove, "key-a", body(sub), nil); code != http.StatusNoContent {
			t.Fatalf("remove %s = %d; want 204", sub, code)
		}
	}
	if code := txCall(t, http.MethodPost, remove, "key-a", body(bob), nil); code != http.StatusNotFound {
		t.Errorf("remove twice = %d; want 404", code)
	}
	if gets(revokedSession("bob", "s1")) || gets(revokedAll("zed")) {
		t.Error("a stream whose subjects were all removed gets events again; want none")
	}
}

// TestTransmitter_ConfigurationAdvertisesSubjects: the configuration
// document names both subject endpoints.
func TestTransmitter_ConfigurationAdvertisesSubjects(t *testing.T) {
	_, srv, _ := newTransmitterServer(t)
	var cfg map[string]any
	if code := txCall(t, http.MethodGet, srv.URL+ssf.PathConfiguration, "", "", &cfg); code != http.StatusOK {
		t.Fatalf("configuration = %d", code)
	}
	if cfg["add_subject_endpoint"] != "https://sessiond.example.com"+ssf.PathAddSubject ||
		cfg["remove_subject_endpoint"] != "https://sessiond.example.com"+ssf.PathRemoveSubject {
		t.Errorf("configuration = %v", cfg)
	}
}
