package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/memstore"
)

// hangingGet is a store whose Get waits for its caller to give up.
type hangingGet struct {
	*memstore.Store
	waiting chan struct{}
}

func (h hangingGet) Get(ctx context.Context, id sessiond.SessionID) (*sessiond.Session, error) {
	close(h.waiting)
	<-ctx.Done()
	return nil, fmt.Errorf("hanging get: %w", ctx.Err())
}

// TestClientGone_NotAnError: a client that goes away while its request
// waits on the store leaves an INFO line with status 499 (what NGINX logs
// for it), not an ERROR 500 that pages an operator for a server that did
// nothing wrong.
func TestClientGone_NotAnError(t *testing.T) {
	t.Parallel()
	waiting := make(chan struct{})
	e := newEnvWith(t, sessiond.StrategyDatabase, func(o *sessiond.Options) {
		o.Store = hangingGet{Store: o.Store.(*memstore.Store), waiting: waiting}
	}, nil)
	tr := e.create("alice")
	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.srv.URL+"/v1/sessions/"+string(tr.Session.ID), nil)
	req.Header.Set("Authorization", "Bearer "+apiKey)
	done := make(chan error, 1)
	go func() {
		resp, err := e.srv.Client().Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-waiting
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the canceled request got an answer")
	}
	var line map[string]any
	for _, l := range e.logLines() { // closes the server: every line is written
		if l["msg"] == "request" && l["pattern"] == "GET /v1/sessions/{id}" {
			line = l
		}
	}
	if line == nil {
		t.Fatalf("no request line for the canceled request in %s", e.logs.String())
	}
	if line["level"] != "INFO" || line["status"] != float64(499) {
		t.Errorf("canceled request logged as level %v status %v; want INFO 499", line["level"], line["status"])
	}
}

// TestClientGone_AnswerWithoutError: a handler that answers 5xx without
// telling the middleware why (a Shared Signals receiver's 503 once the
// transmitter hung up) is no ERROR either when the client was gone first;
// one whose client stayed is.
func TestClientGone_AnswerWithoutError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		hangUp     bool
		wantLevel  string
		wantStatus float64
	}{
		{"client gone", true, "INFO", 499},
		{"client waiting", false, "ERROR", 503},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			waiting := make(chan struct{})
			e := newEnvWith(t, sessiond.StrategyDatabase, nil, func(o *httpapi.Options) {
				o.Receivers = map[string]http.Handler{"/ssf/push/idp": http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					close(waiting)
					if tc.hangUp {
						<-r.Context().Done()
					}
					http.Error(w, "temporarily unavailable", http.StatusServiceUnavailable)
				})}
			})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+"/ssf/push/idp", nil)
			done := make(chan error, 1)
			go func() {
				resp, err := e.srv.Client().Do(req)
				if err == nil {
					resp.Body.Close()
				}
				done <- err
			}()
			<-waiting
			if tc.hangUp {
				cancel()
			}
			if err := <-done; (err != nil) != tc.hangUp {
				t.Fatalf("request error = %v; want one only when the client hung up", err)
			}
			var line map[string]any
			for _, l := range e.logLines() { // closes the server: every line is written
				if l["msg"] == "request" && l["pattern"] == "/ssf/push/idp" {
					line = l
				}
			}
			if line == nil {
				t.Fatalf("no request line for the push in %s", e.logs.String())
			}
			if line["level"] != tc.wantLevel || line["status"] != tc.wantStatus {
				t.Errorf("push logged as level %v status %v; want %s %v", line["level"], line["status"], tc.wantLevel, tc.wantStatus)
			}
		})
	}
}
