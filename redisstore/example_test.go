package redisstore_test

import (
	"context"
	"log"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"
)

// A store for a cluster of sessiond nodes: lookups served from the
// client-side cache (stale for at most 30s if an invalidation is lost) and
// revocations made on other nodes fed to this one. A Manager on the store
// subscribes in New (sessiond.Options.NoRevocationFeed); this is how a
// program that only watches follows them.
func ExampleNew() {
	ctx := context.Background()
	st, err := redisstore.New(ctx, "redis://127.0.0.1:6379/0", redisstore.Options{
		Prefix:      "sd",
		ClientCache: 30 * time.Second,
	})
	if err != nil {
		log.Fatal(err) // errors.Is(err, sessiond.ErrStoreUnavailable) when Redis is down
	}
	defer st.Close()

	err = st.SubscribeRevocations(ctx,
		func(r sessiond.Revocation) { log.Printf("session %s revoked (%s)", r.SessionID, r.Reason) },
		func() { log.Print("revocation feed reconnected: reload recent revocations with st.Revocations") },
	)
	if err != nil {
		log.Fatal(err)
	}
}
