package dpop_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/dpop"
)

// An API handler checks the DPoP proof of a request that presents a
// key-bound access token (cnf.jkt taken from the verified token).
func ExampleVerifier_Verify() {
	v, err := dpop.New(dpop.Options{}) // replay cache in memory, no nonces
	if err != nil {
		panic(err)
	}
	handler := func(w http.ResponseWriter, r *http.Request, access sessiond.Secret, jkt string) {
		_, err := v.Verify(r.Context(), r.Header.Get("DPoP"), dpop.Request{
			Method: r.Method, URL: "https://api.example.com" + r.URL.Path,
			AccessToken: access, JKT: jkt,
		})
		switch {
		case errors.Is(err, dpop.ErrUseNonce):
			n, _ := v.Nonce(r.Context())
			w.Header().Set("DPoP-Nonce", n)
			w.Header().Set("WWW-Authenticate", `DPoP error="use_dpop_nonce"`)
			w.WriteHeader(http.StatusUnauthorized)
		case err != nil:
			w.Header().Set("WWW-Authenticate", `DPoP error="invalid_dpop_proof"`)
			w.WriteHeader(http.StatusUnauthorized)
		}
	}
	_ = handler
	_, err = v.Verify(context.Background(), "not-a-proof", dpop.Request{Method: "GET", URL: "https://api.example.com/"})
	fmt.Println(errors.Is(err, dpop.ErrInvalidProof))
	// Output: true
}
