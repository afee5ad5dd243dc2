package sessiond_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
)

// hangOnce is a store whose next watermark read after hang is set waits
// for its caller to give up, as a read lost in a black-holed network does.
type hangOnce struct {
	*memstore.Store
	hang atomic.Bool
}

func (h *hangOnce) GetMeta(ctx context.Context, name string) ([]byte, int64, error) {
	if h.hang.CompareAndSwap(true, false) {
		<-ctx.Done()
		return nil, 0, fmt.Errorf("lost read: %w", ctx.Err())
	}
	return h.Store.GetMeta(ctx, name)
}

// TestManager_WatermarkLoopOutlivesALostRead: a watermark read that never
// answers holds the loop only for its bound: a kill switch raised on
// another node afterwards still reaches this one by its poll. Unbounded,
// the loop waited for the lost read for good (in a real network, until
// TCP gave up, minutes after the store was back).
func TestManager_WatermarkLoopOutlivesALostRead(t *testing.T) {
	ctx := context.Background()
	st := &hangOnce{Store: memstore.New()}
	h := newHarness(t, sessiond.StrategyHybrid, func(o *sessiond.Options) { o.Store = st.Store })
	b := h.node(t, st, func(o *sessiond.Options) {
		o.WatermarkPoll = 10 * time.Millisecond
		sessiond.SetWatermarkCallTimeout(o, 100*time.Millisecond)
	})
	iss := h.create(t, "erin", sessiond.CreateOptions{})
	if _, err := b.Verify(ctx, iss.AccessToken, sessiond.Client{}); err != nil {
		t.Fatal(err)
	}
	st.hang.Store(true)
	for wait := time.Now().Add(10 * time.Second); st.hang.Load(); time.Sleep(time.Millisecond) {
		if time.Now().After(wait) {
			t.Fatal("the loop never read the watermarks")
		}
	}
	h.clock.Advance(time.Second)
	if _, err := h.m.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, sessiond.ReasonIncident, false); err != nil {
		t.Fatal(err)
	}
	eventuallyRevoked(t, b, iss.AccessToken, "a token older than another node's kill switch (the loop must not be stuck on the lost read)")
}
