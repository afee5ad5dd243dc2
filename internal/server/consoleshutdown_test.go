package server_test

import (
	"bufio"
	"bytes"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
)

// lockedLog is a log destination safe for the server's concurrent writes.
type lockedLog struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedLog) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(b)
}

func (l *lockedLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRun_ConsoleShutdownEndsLiveTail: a graceful stop ends the console's
// open live tails (GET /console/events/tail), as it ends the API's own
// streams, on the API port and on the admin listener. Otherwise one
// events page left open holds every restart to server.shutdown_timeout,
// and the servers after it get an expired context.
func TestRun_ConsoleShutdownEndsLiveTail(t *testing.T) {
	for _, onAdmin := range []bool{false, true} {
		name := "api port"
		if onAdmin {
			name = "admin listener"
		}
		t.Run(name, func(t *testing.T) {
			cfg := devConfig(t)
			cfg.Server.ShutdownTimeout = config.Duration(2 * time.Second)
			admin := make(chan string, 1)
			if onAdmin {
				cfg.Server.AdminListen = "127.0.0.1:0"
			}
			var logs lockedLog
			n := start(t, server.Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
				AdminListening: func(a string) { admin <- a }})
			base := "http://" + n.addr
			if onAdmin {
				base = "http://" + <-admin
			}
			c, _ := testenv.CookieClient(nil)
			if code := postForm(t, c, base+"/console/signin", url.Values{"api_key": {string(testKey)}}, "same-origin"); code != http.StatusSeeOther {
				t.Fatalf("console sign-in: %d", code)
			}
			resp, err := c.Get(base + "/console/events/tail")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("live tail: %d", resp.StatusCode)
			}
			lines := bufio.NewScanner(resp.Body)
			lines.Scan() // retry: 3000
			go func() {
				for lines.Scan() {
				}
			}()
			_ = n.stop()
			if strings.Contains(logs.String(), "graceful shutdown cut short") {
				t.Errorf("an open console live tail cut the graceful shutdown short (server.shutdown_timeout %v spent waiting for it)", cfg.Server.ShutdownTimeout.Std())
			}
		})
	}
}
