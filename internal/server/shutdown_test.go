package server_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/webhook"
)

// TestRun_ShutdownRecordsWebhookAttempt: a shutdown that begins while a
// webhook attempt is in flight still records the attempt's outcome,
// because the dispatcher is joined before the store closes. Before, the
// store closed under the attempt and the delivery stayed claimed with no
// outcome, to be delivered a second time after the lease.
func TestRun_ShutdownRecordsWebhookAttempt(t *testing.T) {
	cfg := devConfig(t)
	arrived := make(chan struct{}, 16)
	shuttingDown := make(chan struct{})
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		<-shuttingDown // held until the server is told to stop
		w.WriteHeader(http.StatusNoContent)
	}))
	release := sync.OnceFunc(func() { close(shuttingDown) })
	defer receiver.Close()
	defer release()
	key := make([]byte, 32)
	_, _ = rand.Read(key) // 32 zero bytes are no key: serve refuses them (SD-WEBHOOK-006)
	secretFile := testenv.WriteFile(t, t.TempDir(), "whsec", webhook.FormatSecret(key))
	cfg.Webhooks = []config.Webhook{{Name: "hold", URL: receiver.URL, SecretFile: secretFile, MaxAttempts: 3}}

	n := start(t, server.Options{Config: cfg})
	c := apiClient(t, n)
	if _, err := c.CreateSession(context.Background(), client.CreateRequest{Subject: "alice"}); err != nil {
		t.Fatal(err)
	}
	<-arrived // an attempt is now in flight
	go func() {
		// Shutdown begins, then the receiver may answer.
		n.cancel()
		release()
	}()
	if err := n.stop(); err != nil {
		t.Fatalf("Run = %v", err)
	}

	store := openSQLite(t, cfg)
	defer store.Close()
	var recorded int
	for _, state := range []sessiond.DeliveryState{sessiond.DeliveryPending, sessiond.DeliveryDelivered, sessiond.DeliveryDead} {
		ds, err := store.ListDeliveries(context.Background(), state, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range ds {
			switch {
			case d.State == sessiond.DeliveryDelivered:
				recorded++
			case d.State == sessiond.DeliveryPending && d.LastError != "":
				recorded++ // released as interrupted, or failed: either way recorded
			case d.State == sessiond.DeliveryPending && d.Attempts == 0:
				// Not attempted yet (another event queued behind it).
			default:
				t.Errorf("delivery %s: state %s, attempts %d, last error %q", d.ID, d.State, d.Attempts, d.LastError)
			}
		}
	}
	if recorded == 0 {
		t.Fatal("the attempt in flight at shutdown has no recorded outcome")
	}
}
