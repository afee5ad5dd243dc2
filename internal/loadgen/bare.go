package loadgen

import (
	"io"
	"net/http"
)

// The bare handler's answers: a verify answer as sessiond writes it (same
// fields, same size, byte for byte: TestBareVerify_AsSessiondWritesIt),
// and a token answer for logins and refreshes with the fields of
// sessiond's (its tokens shorter), so that every scenario runs against it.
// TestBare_SameFieldsAsSessiond fails when the API's answers gain a field
// these lack.
var (
	bareVerify = []byte(`{"active":true,"session":{"id":"uj4x4wbqvvdo3yauygr7hk34gq","subject":"alice","strategy":"hybrid","created_at":"2026-11-26T13:10:50.194575Z","last_active_at":"2026-11-26T13:10:50.194575Z","idle_expires_at":"2026-11-26T14:40:50.194575Z","expires_at":"2026-11-26T21:10:50.194575Z","persistent":false,"client":{"ip":"","user_agent":""},"claims":{},"device_bound":false}}` + "\n")
	bareTokens = []byte(`{"session":{"id":"uj4x4wbqvvdo3yauygr7hk34gq","subject":"alice","strategy":"hybrid","created_at":"2026-11-26T13:10:50.194575Z","last_active_at":"2026-11-26T13:10:50.194575Z","idle_expires_at":"2026-11-26T14:40:50.194575Z","expires_at":"2026-11-26T21:10:50.194575Z","persistent":false,"client":{"ip":"","user_agent":""},"claims":{},"device_bound":false},"access_token":"bare","access_token_expires_at":"2026-11-26T14:10:50.194575Z","expires_in":3600,"refresh_token":"bare","refresh_token_expires_at":"2026-12-26T13:10:50.194575Z","token_type":"Bearer"}` + "\n")
)

// BareHandler is the baseline the server's throughput is measured
// against: a plain net/http handler that reads the request body and
// writes a fixed JSON answer of the size of sessiond's, with no routing,
// authentication, store or log. POST /v1/sessions answers 201 with a
// token answer, POST /v1/sessions/refresh 200 with one, GET
// /sessiond/check an empty 200 (a valid forward-auth answer), anything else
// 200 with a verify answer.
func BareHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == pathCheck {
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusOK)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case pathCreate:
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write(bareTokens)
		case pathRefresh:
			_, _ = w.Write(bareTokens)
		default:
			_, _ = w.Write(bareVerify)
		}
	})
}
