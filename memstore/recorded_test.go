package memstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

// TestStore_RecordedCallbacksMayReadMeta: the callbacks of the Recorded
// writes run while the store is locked, and the server's make a change's
// deliveries from the SSF transmitter's stream list, a shared document.
// Reading it there must not wait for the lock its caller holds: with the
// transmitter on, the first revocation hung the whole server.
func TestStore_RecordedCallbacksMayReadMeta(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st := memstore.New()
	if _, err := st.PutMeta(ctx, "ssf_streams", []byte(`[]`), 0); err != nil {
		t.Fatal(err)
	}
	readMeta := func() error {
		_, _, err := st.GetMeta(ctx, "ssf_streams")
		return err
	}
	s := sessiondtest.NewSession("alice", time.Now())
	s.ExpiresAt, s.IdleExpiresAt = time.Now().Add(time.Hour), time.Now().Add(time.Hour)
	done := make(chan error, 1)
	go func() {
		var inCallback error
		_, err := st.CreateRecorded(ctx, s, 1, true, sessiond.ChangeRecords{}, func(sessiond.Revocation) sessiond.ChangeRecords {
			return sessiond.ChangeRecords{}
		}, sessiondtest.NewToken(sessiond.KindAccess, s.ID, time.Now()))
		if err == nil {
			_, _, err = st.RevokeRecorded(ctx, s.ID, time.Now(), sessiond.ReasonLogout, func(*sessiond.Session) sessiond.ChangeRecords {
				inCallback = readMeta()
				return sessiond.ChangeRecords{}
			})
		}
		done <- errors.Join(err, inCallback)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("revoke with a callback reading a shared document: %v", err)
		}
	case <-ctx.Done():
		t.Fatal("RevokeRecorded's callback waited for the store's own lock (deadlock)")
	}
}
