package setup_test

import (
	"context"
	"fmt"
	"log"

	"github.com/sessiond/sessiond"
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
