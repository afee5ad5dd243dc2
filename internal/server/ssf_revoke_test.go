package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"log/slog"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/servertest"
	"github.com/sessiond/sessiond/internal/testenv"
)

// TestSSFTransmitter_RevokeAnswers: with the SSF transmitter on, a
// revocation makes its deliveries from the stream list while the store
// writes the change. On the memory store that read waited for the lock the
// write held, so the first DELETE /v1/sessions/{id} never answered and the
// server hung behind it (memstore's TestStore_RecordedCallbacksMayReadMeta
// has the cause).
func TestSSFTransmitter_RevokeAnswers(t *testing.T) {
	for _, driver := range []string{"memory", "sqlite"} {
		t.Run(driver, func(t *testing.T) { revokeWithTransmitter(t, driver) })
	}
}

func revokeWithTransmitter(t *testing.T, driver string) {
	cfg := servertest.Config(t)
	cfg.Store.Driver = driver
	cfg.SSF.Transmitter = config.SSFTransmitter{Enabled: true, Issuer: "https://sessiond.test"}
	// Not servertest.Run: its cleanup waits for the server to stop, which
	// a hung store never lets it do; on failure this server is left
	// running.
	ctxRun, stop := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctxRun, server.Options{Config: cfg, APIKey: testKey, InsecureDev: true,
			Logger: slog.New(slog.DiscardHandler), Listening: func(a string) { addr <- a }})
	}()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("server did not start: %v", err)
	}
	defer func() {
		if !t.Failed() {
			stop()
			<-done
		}
	}()

	res := apiRequest(t, http.MethodPost, base+"/v1/sessions", string(testKey), "application/json", strings.NewReader(`{"subject":"alice"}`))
	var tr struct {
		Session struct{ ID string } `json:"session"`
	}
	_ = json.NewDecoder(res.Body).Decode(&tr)
	res.Body.Close()
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("create = %d", res.StatusCode)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	req := testenv.NewRequest(t, http.MethodDelete, base+"/v1/sessions/"+tr.Session.ID, nil).WithContext(ctx)
	req.Header.Set("Authorization", "Bearer "+string(testKey))
	del, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("DELETE /v1/sessions/{id} did not answer within 5 s (%v): the revocation deadlocks the memory store", err)
	}
	io.Copy(io.Discard, del.Body)
	del.Body.Close()
	if del.StatusCode != http.StatusNoContent {
		t.Errorf("DELETE /v1/sessions/{id} = %d; want 204", del.StatusCode)
	}
}
