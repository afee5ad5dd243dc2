package pgstore_test

import (
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
)

func TestStore_DeliveryText(t *testing.T) {
	t.Parallel()
	st, _ := newStore(t, pgstore.Options{})
	ctx := t.Context()
	d := sessiond.Delivery{ID: "msg_1", Endpoint: "siem", EventID: "evt_1", Payload: []byte("{}\x00"),
		NextAttemptAt: t0, CreatedAt: t0, UpdatedAt: t0}
	bad := d
	bad.ID, bad.Endpoint = "msg_2", "si\x00em"
	if err := st.EnqueueDeliveries(ctx, d, bad); !errors.Is(err, sessiond.ErrInvalidArgument) {
		t.Errorf("EnqueueDeliveries(endpoint with NUL) = %v; want ErrInvalidArgument", err)
	}
	if err := st.EnqueueDeliveries(ctx, d); err != nil {
		t.Fatalf("EnqueueDeliveries() = %v; want nil", err)
	}
	// A receiver's error text may be anything: it is kept, readable.
	if err := st.FinishDelivery(ctx, d.ID, sessiond.DeliveryPending, 1, t0.Add(time.Minute), "HTTP 500: \xff\x00", t0); err != nil {
		t.Fatalf("FinishDelivery(last error with invalid UTF-8) = %v; want nil", err)
	}
	got, err := st.ClaimDeliveries(ctx, t0.Add(time.Minute), 10, time.Minute)
	if err != nil || len(got) != 1 || got[0].LastError != "HTTP 500: \uFFFD\uFFFD" || string(got[0].Payload) != "{}\x00" {
		t.Errorf("ClaimDeliveries = %+v, %v; want msg_1 with LastError %q and its payload", got, err, "HTTP 500: \uFFFD\uFFFD")
	}
	if err := st.FinishDelivery(ctx, "msg_\xff", sessiond.DeliveryDead, 1, t0, "", t0); !errors.Is(err, sessiond.ErrNotFound) {
		t.Errorf("FinishDelivery(invalid ID) = %v; want ErrNotFound", err)
	}
}
