package pgstore_test

import (
	"context"
	"log"

	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/setup"
)

// A store for one deployment: its own schema, migrated on start. A
// Manager on it subscribes to its revocation feed in New, so a session
// revoked on another node stops verifying here at once; its Close ends
// the subscription. (Not run: it needs a server.)
func ExampleNew() {
	ctx := context.Background()
	st, err := pgstore.New(ctx, "postgres://sessiond@db.internal:5432/app?sslmode=verify-full", pgstore.Options{
		Schema:   "sessiond",
		MaxConns: 32,
	})
	if err != nil {
		log.Fatal(err) // errors.Is(err, sessiond.ErrStoreUnavailable): the server is down; retry
	}
	defer st.Close()

	m, err := setup.New(ctx, st, setup.Options{}) // hybrid, signing keys shared through the store
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close() // before st.Close
}
