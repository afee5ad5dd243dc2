package setup_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/setup"
)

// New with nothing but a store: hybrid tokens signed by keys kept in the
// store, the b2c lifetimes, and anomaly detection on.
func ExampleNew() {
	ctx := context.Background()
	st := memstore.New()
	m, err := setup.New(ctx, st, setup.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	iss, err := m.Create(ctx, "user-42", sessiond.CreateOptions{
		Client: sessiond.Client{IP: "203.0.113.9", UserAgent: "Mozilla/5.0"},
	})
	if err != nil {
		log.Fatal(err)
	}

	// Another Manager on the same store (a restart, a second instance)
	// verifies the token: the signing keys live in the store.
	other, err := setup.New(ctx, st, setup.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer other.Close()
	s, err := other.Verify(ctx, iss.AccessToken, sessiond.Client{})
	fmt.Println(m.Strategy(), s.Subject, err)
	// Output: hybrid user-42 <nil>
}

// Everything New chooses can be overridden: here the strategy, the
// lifetimes, the tokens' issuer and audience, and anomaly detection.
func ExampleNew_options() {
	ctx := context.Background()
	b2b, _ := sessiond.Preset(sessiond.PresetB2B)
	m, err := setup.New(ctx, memstore.New(), setup.Options{
		Manager:     sessiond.Options{Strategy: sessiond.StrategyJWT, Lifetimes: b2b},
		Issuer:      "https://auth.example.com",
		Audience:    "example-app",
		NoAnomalies: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	fmt.Println(m.Strategy(), m.Lifetimes() == b2b)
	// Output: jwt true
}

// Open gives the Manager in a Node, with what an app serving other
// services needs of the key ring: the JWKS for the verifiers of its access
// tokens, and readiness as the server reports it. Both fail while another
// process has sealed the stored ring with a KEK this one is not given: it
// would miss every rotation and kill switch, and could publish a key the
// kill switch dropped.
func ExampleOpen() {
	ctx := context.Background()
	n, err := setup.Open(ctx, memstore.New(), setup.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer n.Close() // closes n.Manager, the one to give httpsession.Options.Manager

	mux := http.NewServeMux()
	mux.Handle("GET /.well-known/jwks.json", n.JWKSHandler())
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		// Ready waits for the store's Ping as long as ctx lets it: a store
		// that hangs must not hang the probe (the server gives it 5 s).
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		if err := n.Ready(ctx); err != nil {
			if errors.Is(err, signing.ErrRingUnreadable) {
				log.Printf("not ready: give this process the KEK the signing ring is sealed with: %v", err)
			}
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})

	for _, path := range []string{"/readyz", "/.well-known/jwks.json"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		var jwks struct{ Keys []json.RawMessage }
		_ = json.Unmarshal(rec.Body.Bytes(), &jwks)
		fmt.Println(path, rec.Code, rec.Header().Get("Cache-Control"), len(jwks.Keys))
	}
	// Output:
	// /readyz 200  0
	// /.well-known/jwks.json 200 public, max-age=300 1
}
