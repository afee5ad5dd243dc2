package httpapi_test

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/apitype"
	"github.com/sessiond/sessiond/client"
)

// TestCreateSession_IdempotencyKey: a login sent again with its
// Idempotency-Key, under limits.policy reject and max_sessions 1, gets a
// new session in place of the one its lost answer carried; the key with
// another body is refused with 422, a malformed or oversized one with
// 400; another API key's login with the same key is a login of its own.
func TestCreateSession_IdempotencyKey(t *testing.T) {
	e := newEnvWith(t, sessiond.StrategyHybrid, func(o *sessiond.Options) {
		o.MaxSessions, o.LimitPolicy = 1, sessiond.LimitReject
	}, nil)
	ctx := t.Context()
	key := client.NewIdempotencyKey()
	req := client.CreateRequest{Subject: "alice", Client: sessiond.Client{IP: "192.0.2.1"}, IdempotencyKey: key}
	lost, err := e.c.CreateSession(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	retried, err := e.c.CreateSession(ctx, req)
	if err != nil {
		t.Fatalf("login sent again with its key = %v; want 201", err)
	}
	if retried.Session.ID == lost.Session.ID {
		t.Fatal("the retry answered the first session; want a new one")
	}
	ss, err := e.c.ListSessions(ctx, "alice")
	if err != nil || len(ss) != 1 || ss[0].ID != retried.Session.ID {
		t.Fatalf("alice's sessions = %v, %v; want only the retry's", ss, err)
	}
	if _, err := e.c.Refresh(ctx, lost.RefreshToken, nil); !errors.Is(err, sessiond.ErrRevoked) {
		t.Errorf("refresh of the replaced session = %v; want session_revoked", err)
	}

	// Without the key, the limit refuses as before.
	_, err = e.c.CreateSession(ctx, client.CreateRequest{Subject: "alice", Client: sessiond.Client{IP: "192.0.2.1"}})
	wantCode(t, "login without a key", err, http.StatusConflict, apitype.CodeLimitReached, sessiond.ErrLimitReached)

	for _, tc := range []struct {
		name string
		req  client.CreateRequest
	}{
		{"another subject", client.CreateRequest{Subject: "bob", Client: req.Client, IdempotencyKey: key}},
		{"another body", client.CreateRequest{Subject: "alice", Client: req.Client, Persistent: true, IdempotencyKey: key}},
	} {
		_, err := e.c.CreateSession(ctx, tc.req)
		wantCode(t, tc.name, err, http.StatusUnprocessableEntity, apitype.CodeIdempotencyKeyReused, sessiond.ErrIdempotencyKeyReused)
	}

	// Another API key's login with the same key is its own login: here the
	// limit refuses it, the retry's session stays.
	other := e.client(scopedKey("sessions:write"))
	_, err = other.CreateSession(ctx, req)
	wantCode(t, "the key from another API key", err, http.StatusConflict, apitype.CodeLimitReached, sessiond.ErrLimitReached)

	for i, tc := range []struct {
		name, value string
		status      int
	}{
		{"structured string", `"k-1 \"quoted\""`, http.StatusCreated},
		{"bare token", "k-2", http.StatusCreated},
		{"empty", `""`, http.StatusBadRequest},
		{"unterminated", `"k-3`, http.StatusBadRequest},
		{"bad escape", `"k\n"`, http.StatusBadRequest},
		{"oversized", strings.Repeat("k", 256), http.StatusBadRequest},
		{"at the limit", strings.Repeat("k", 255), http.StatusCreated},
	} {
		body := fmt.Sprintf(`{"subject":"carol%d"}`, i)
		r := e.do(http.MethodPost, "/v1/sessions", "application/json", []byte(body), map[string]string{"Idempotency-Key": tc.value})
		if tc.status == http.StatusCreated {
			wantAnswer(t, tc.name, r, tc.status, "application/json")
		} else {
			wantProblem(t, tc.name, r, tc.status, apitype.CodeInvalidRequest, "Idempotency-Key")
		}
	}
	// Two Idempotency-Key fields: which one the client meant is unknown.
	req2, err := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+"/v1/sessions", strings.NewReader(`{"subject":"dave"}`))
	if err != nil {
		t.Fatal(err)
	}
	req2.Header.Set("Content-Type", "application/json")
	req2.Header.Set("Authorization", "Bearer "+apiKey)
	req2.Header.Add("Idempotency-Key", `"k-4"`)
	req2.Header.Add("Idempotency-Key", `"k-5"`)
	resp, err := e.hc.Do(req2)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	wantProblem(t, "two Idempotency-Key fields", &response{status: resp.StatusCode, header: resp.Header, body: b}, http.StatusBadRequest, apitype.CodeInvalidRequest, "Idempotency-Key")
}
