package console_test

import (
	"context"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/console"
)

// downMeta is a key-set store that can stop answering.
type downMeta struct {
	sessiond.MetaStore
	down atomic.Bool
}

func (d *downMeta) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	if d.down.Load() {
		return nil, 0, fmt.Errorf("key set: %w", sessiond.ErrStoreUnavailable)
	}
	return d.MetaStore.GetMeta(ctx, name)
}

// TestConsole_KeySetOutageKeepsOperators: while the store holding the API
// key set does not answer, a signed-in operator stays signed in (the key
// is checked against the last set read, as the API's requests are), where
// every console request used to end the session and send them to a
// sign-in that cannot succeed until the store is back.
func TestConsole_KeySetOutageKeepsOperators(t *testing.T) {
	var meta *downMeta
	f := newFixtureWith(t, func(f *fixture, o *console.Options) {
		meta = &downMeta{MetaStore: f.store}
		o.Keys = apikey.New(meta, f.clock, time.Second)
	})
	c := f.signedIn()
	meta.down.Store(true)
	f.clock.Advance(2 * time.Second) // past the set's refresh period: the next request asks the store
	resp, body := f.do(c, "GET", "/console/events", nil, "")
	if resp.StatusCode != http.StatusOK {
		t.Errorf("events page while the key set's store is down = %d (Location %q); want 200, the operator still signed in\n%s",
			resp.StatusCode, resp.Header.Get("Location"), body)
	}
}
