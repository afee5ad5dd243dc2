package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/sqlitestore"
)

const testKey sessiond.Secret = "sdak_test_0123456789abcdefghijklmnopqrstuvwxyz"

// devConfig is a development configuration on an SQLite store in a
// temporary directory, listening on a free loopback port.
func devConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Environment = config.EnvDevelopment
	cfg.Server.Listen = "127.0.0.1:0"
	cfg.Server.DataDir = t.TempDir()
	cfg.Store.Driver = "sqlite"
	cfg.Server.ShutdownDelay = 0 // no load balancer to wait for: stop at once
	return cfg
}

// node is one server.Run in this process.
type node struct {
	addr   string
	cancel context.CancelFunc
	done   chan error
}

// start runs the server until stop (or the end of the test).
func start(t *testing.T, o server.Options) *node {
	t.Helper()
	if o.APIKey == "" {
		o.APIKey = testKey
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{cancel: cancel, done: make(chan error, 1)}
	addr := make(chan string, 1)
	o.Listening = func(a string) { addr <- a }
	go func() { n.done <- server.Run(ctx, o) }()
	t.Cleanup(func() { n.stop() })
	select {
	case n.addr = <-addr:
		return n
	case err := <-n.done:
		n.done <- err
		t.Fatalf("server did not start: %v", err)
	}
	return nil
}

// stop cancels the server and returns Run's result (once; later calls
// return nil).
func (n *node) stop() error {
	n.cancel()
	err, ok := <-n.done
	if ok {
		close(n.done)
	}
	return err
}

// apiClient is a client of node n with the admin test key.
func apiClient(t *testing.T, n *node) *client.Client {
	t.Helper()
	c, err := client.New("http://"+n.addr, testKey)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// apiRequest sends method url with key as the bearer token and body of
// type contentType (no header for an empty one); it fails tb when no
// answer comes. The caller closes the answer's body.
func apiRequest(tb testing.TB, method, url, key, contentType string, body io.Reader) *http.Response {
	tb.Helper()
	req := testenv.NewRequest(tb, method, url, body)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, url, err)
	}
	return res
}

// openSQLite opens the SQLite store in cfg's data directory, as a node
// there uses it; the caller closes it.
func openSQLite(t *testing.T, cfg config.Config) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.New(context.Background(), filepath.Join(cfg.Server.DataDir, "sessiond.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// storedDoc returns the meta document doc of the SQLite store in cfg's
// data directory.
func storedDoc(t *testing.T, cfg config.Config, doc string) []byte {
	t.Helper()
	s := openSQLite(t, cfg)
	defer s.Close()
	raw, _, err := s.GetMeta(context.Background(), doc)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
