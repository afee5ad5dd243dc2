package pgstore_test

import (
	"context"
	"log"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
)

// A store for one deployment: its own schema, migrated on start, and a
// revocation feed that keeps this node's revoked set in step with the
// others. (Not run: it needs a server.)
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

	m, err := sessiond.New(ctx, sessiond.Options{Strategy: sessiond.StrategyHybrid, Store: st /* Signed, Opaque… */})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	err = st.SubscribeRevocations(ctx, m.NoteRevoked, func() {
		rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := m.Resync(rctx); err != nil {
			log.Print(err)
		}
	})
	if err != nil {
		log.Fatal(err)
	}
}
