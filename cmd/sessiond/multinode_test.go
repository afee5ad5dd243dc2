package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"

	"github.com/sessiond/sessiond/internal/testenv"
)

// sharedBackends are the stores several nodes can share.
func sharedBackends(t testing.TB) []backend {
	var out []backend
	for _, b := range backends(t) {
		if b.name != "sqlite" {
			out = append(out, b)
		}
	}
	return out
}

// twoNodes starts two server processes with env: two nodes of one
// deployment when env names a shared store.
func twoNodes(t testing.TB, env []string) (a, b *node) {
	t.Helper()
	a = startNode(t, nodeConfig{env: env})
	b = startNode(t, nodeConfig{env: env})
	return a, b
}

// TestE2E_MultiNode runs two server processes on one shared store:
// a revocation through node A is rejected by node B, and the same refresh
// token presented to both at once leaves exactly one token family.
func TestE2E_MultiNode(t *testing.T) {
	t.Parallel()
	for _, b := range sharedBackends(t) {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			na, nb := twoNodes(t, append(b.env(t), "SESSIOND_API_KEY="+testAPIKey))
			ca, cb := na.client(), nb.client()
			ctx := context.Background()

			login, err := ca.CreateSession(ctx, client.CreateRequest{Subject: "ivan"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cb.Verify(ctx, login.AccessToken, nil); err != nil {
				t.Fatalf("node B rejects node A's token: %v", err)
			}
			if err := ca.RevokeSession(ctx, login.Session.ID); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			eventually(t, 5*time.Second, "node B rejects the session revoked on node A", func() bool {
				_, err := cb.Verify(ctx, login.AccessToken, nil)
				return errors.Is(err, sessiond.ErrRevoked)
			})
			t.Logf("revocation reached node B after %v", time.Since(start))

			// The same refresh token on both nodes at once.
			for round := range 5 {
				l, err := ca.CreateSession(ctx, client.CreateRequest{Subject: fmt.Sprintf("judy-%d", round)})
				if err != nil {
					t.Fatal(err)
				}
				var wg sync.WaitGroup
				results := make([]*client.TokenResponse, 2)
				errs := make([]error, 2)
				gate := make(chan struct{})
				for i, c := range []*client.Client{ca, cb} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-gate
						results[i], errs[i] = c.Refresh(ctx, l.RefreshToken, nil)
					}()
				}
				close(gate)
				wg.Wait()
				families := map[sessiond.SessionID]bool{}
				for i := range 2 {
					if errs[i] == nil {
						families[results[i].Session.ID] = true
					} else if !errors.Is(errs[i], sessiond.ErrRefreshReused) && !errors.Is(errs[i], sessiond.ErrRevoked) {
						t.Errorf("refresh on node %d: %v", i, errs[i])
					}
				}
				live, err := ca.ListSessions(ctx, fmt.Sprintf("judy-%d", round))
				if err != nil {
					t.Fatal(err)
				}
				if len(families) > 1 || len(live) != 1 || (len(families) == 1 && !families[live[0].ID]) {
					t.Fatalf("round %d: %d families minted, %d live sessions; want exactly one family", round, len(families), len(live))
				}
			}
			na.stop()
			nb.stop()
		})
	}
}

// storeServer is a private PostgreSQL or Redis server process this test
// can stop and start again, on its own port and data directory.
type storeServer struct {
	t     testing.TB
	kind  string
	port  int
	dir   string
	proc  *exec.Cmd
	pgbin string
	extra []string // more server flags (PostgreSQL -c settings)
}

func (s *storeServer) dsn() string {
	if s.kind == "redis" {
		return fmt.Sprintf("redis://127.0.0.1:%d/0", s.port)
	}
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2", s.port)
}

func newStoreServer(t testing.TB, kind string) *storeServer {
	s := &storeServer{t: t, kind: kind, port: testenv.FreePort(t)}
	dir, err := os.MkdirTemp("", "sessiond-store-")
	if err != nil {
		t.Fatal(err)
	}
	s.dir = dir
	t.Cleanup(func() { s.stop(); os.RemoveAll(dir) })
	if kind == "postgres" {
		bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
		if len(bins) == 0 {
			t.Skip("no PostgreSQL server binaries")
		}
		s.pgbin = filepath.Dir(bins[0])
		if err := exec.Command("chown", "postgres", dir).Run(); err != nil {
			t.Skipf("cannot hand a data directory to the postgres user: %v", err)
		}
		out, err := s.asPostgres(filepath.Join(s.pgbin, "initdb"), "-D", filepath.Join(dir, "data"), "-A", "trust", "-U", "postgres").CombinedOutput()
		if err != nil {
			t.Skipf("initdb: %v\n%s", err, out)
		}
	}
	s.start()
	return s
}

func (s *storeServer) asPostgres(name string, args ...string) *exec.Cmd {
	if os.Getuid() == 0 {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", name}, args...)...)
	}
	return exec.Command(name, args...)
}

func (s *storeServer) start() {
	s.t.Helper()
	switch s.kind {
	case "redis":
		s.proc = exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
			"--dir", s.dir, "--appendonly", "yes", "--save", "")
	case "postgres":
		s.proc = s.asPostgres(filepath.Join(s.pgbin, "postgres"), "-D", filepath.Join(s.dir, "data"),
			"-p", strconv.Itoa(s.port), "-k", s.dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off")
	}
	s.proc.Args = append(s.proc.Args, s.extra...)
	if err := s.proc.Start(); err != nil {
		s.t.Fatal(err)
	}
	eventually(s.t, 20*time.Second, s.kind+" accepting connections", func() bool {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", s.port), 100*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	// Another process may have taken the port meanwhile (a restart frees
	// it for a moment): this server then failed to start, and the test
	// would go on against a server that is not its own.
	switch s.kind {
	case "redis":
		// Redis answers while it loads its append-only file (most
		// commands then fail with LOADING): wait until it has loaded.
		var pid int
		var loading bool
		var err error
		eventually(s.t, 20*time.Second, "redis-server loading its data", func() bool {
			pid, loading, err = redisInfo(s.port)
			return err != nil || pid != s.proc.Process.Pid || !loading
		})
		if err != nil || pid != s.proc.Process.Pid {
			s.t.Fatalf("port %d: the Redis answering is process %d (%v), not the redis-server started (%d): the port was taken", s.port, pid, err, s.proc.Process.Pid)
		}
	case "postgres":
		// By its data directory: the process started may be runuser's,
		// not the server's. PostgreSQL listens a moment before it
		// accepts logins.
		var dir string
		var err error
		eventually(s.t, 20*time.Second, "postgres accepting logins", func() bool {
			dir, err = postgresDataDir(s.dsn())
			return err == nil
		})
		if !sameDir(dir, filepath.Join(s.dir, "data")) {
			s.t.Fatalf("port %d: the PostgreSQL answering serves %s, not the data directory of the one started (%s): the port was taken", s.port, dir, filepath.Join(s.dir, "data"))
		}
	}
}

// postgresDataDir returns the data directory of the PostgreSQL at dsn.
func postgresDataDir(dsn string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	var dir string
	err = conn.QueryRow(ctx, "SELECT current_setting('data_directory')").Scan(&dir)
	return dir, err
}

// redisInfo returns the process ID of the Redis answering on port and
// whether it is loading its data (INFO's process_id and loading).
func redisInfo(port int) (pid int, loading bool, err error) {
	c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
	if err != nil {
		return 0, false, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	// INFO's default sections hold both (INFO server persistence needs
	// Redis 7).
	if _, err := c.Write([]byte("*1\r\n$4\r\nINFO\r\n")); err != nil {
		return 0, false, err
	}
	r := bufio.NewReader(c)
	head, err := r.ReadString('\n')
	if err != nil {
		return 0, false, err
	}
	n, err := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(head, "$")))
	if err != nil || !strings.HasPrefix(head, "$") {
		return 0, false, fmt.Errorf("INFO answered %q", strings.TrimSpace(head))
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, false, err
	}
	var hasPID, hasLoading bool
	for _, line := range strings.Split(string(body), "\r\n") {
		if v, ok := strings.CutPrefix(line, "process_id:"); ok {
			if pid, err = strconv.Atoi(v); err != nil {
				return 0, false, err
			}
			hasPID = true
		}
		if v, ok := strings.CutPrefix(line, "loading:"); ok {
			loading, hasLoading = v != "0", true
		}
	}
	if !hasPID || !hasLoading {
		return 0, false, errors.New("INFO names no process_id or no loading")
	}
	return pid, loading, nil
}

func (s *storeServer) stop() {
	if s.proc == nil || s.proc.Process == nil {
		return
	}
	if s.kind == "postgres" {
		// Through pg_ctl: a signal to runuser would not reach the server.
		_ = s.asPostgres(filepath.Join(s.pgbin, "pg_ctl"), "-D", filepath.Join(s.dir, "data"), "stop", "-m", "fast").Run()
	} else {
		_ = s.proc.Process.Signal(os.Interrupt)
	}
	done := make(chan struct{})
	go func() { s.proc.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		s.proc.Process.Kill()
		<-done
	}
	s.proc = nil
}

// TestE2E_StoreOutage stops the real store server under running nodes:
// database-strategy verification fails closed with 503 store_unavailable,
// /readyz fails, and both recover by themselves when the store returns.
// The hybrid node keeps verifying signatures against its revoked set (the
// documented policy) but cannot refresh.
func TestE2E_StoreOutage(t *testing.T) {
	t.Parallel()
	kinds := []string{}
	for _, b := range sharedBackends(t) {
		kinds = append(kinds, b.name)
	}
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			srv := newStoreServer(t, kind)
			env := []string{"SESSIOND_API_KEY=" + testAPIKey, "SESSIOND_STORE_DRIVER=" + kind, "SESSIOND_STORE_DSN=" + srv.dsn()}
			db := startNode(t, nodeConfig{env: append(env, "SESSIOND_STRATEGY=database")})
			hy := startNode(t, nodeConfig{env: append(env, "SESSIOND_STRATEGY=hybrid")})
			cdb, chy := db.client(), hy.client()
			ctx := context.Background()
			dbLogin, err := cdb.CreateSession(ctx, client.CreateRequest{Subject: "kate"})
			if err != nil {
				t.Fatal(err)
			}
			hyLogin, err := chy.CreateSession(ctx, client.CreateRequest{Subject: "kate"})
			if err != nil {
				t.Fatal(err)
			}

			srv.stop()
			var lastErr error
			eventually(t, 10*time.Second, "database verify fails closed", func() bool {
				_, lastErr = cdb.Verify(ctx, dbLogin.AccessToken, nil)
				if !errors.Is(lastErr, sessiond.ErrStoreUnavailable) {
					t.Logf("verify during outage: %v", lastErr)
				}
				return errors.Is(lastErr, sessiond.ErrStoreUnavailable)
			})
			if err := cdb.Ready(ctx); !errors.Is(err, sessiond.ErrStoreUnavailable) {
				t.Errorf("readyz during the outage = %v; want store_unavailable", err)
			}
			// Hybrid verify keeps answering for the whole outage, well past
			// the API-key cache period (1 s): the node authenticates with
			// the last key set it read (issue 18, gap 1). A token never
			// seen stays refused.
			for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
				if _, err := chy.Verify(ctx, hyLogin.AccessToken, nil); err != nil {
					t.Fatalf("hybrid verify during the outage = %v; want the documented stateless answer", err)
				}
			}
			if _, err := chy.Verify(ctx, hyLogin.AccessToken+"x", nil); !errors.Is(err, sessiond.ErrInvalidToken) {
				t.Errorf("hybrid verify of a tampered token during the outage = %v; want token_invalid", err)
			}
			unknownKey, err := client.New(hy.url, sessiond.Secret(strings.Repeat("z", 40)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := unknownKey.Verify(ctx, hyLogin.AccessToken, nil); !errors.Is(err, client.ErrUnauthorized) {
				t.Errorf("verify with an unknown API key during the outage = %v; want 401", err)
			}
			if _, err := chy.Refresh(ctx, hyLogin.RefreshToken, nil); !errors.Is(err, sessiond.ErrStoreUnavailable) {
				t.Errorf("hybrid refresh during the outage = %v; want store_unavailable", err)
			}
			if _, err := chy.CreateSession(ctx, client.CreateRequest{Subject: "kate"}); !errors.Is(err, sessiond.ErrStoreUnavailable) {
				t.Errorf("create during the outage = %v; want store_unavailable", err)
			}
			if err := chy.RevokeSession(ctx, hyLogin.Session.ID); !errors.Is(err, sessiond.ErrStoreUnavailable) {
				t.Errorf("revoke during the outage = %v; want store_unavailable", err)
			}
			if _, err := chy.ListSessions(ctx, "kate"); !errors.Is(err, sessiond.ErrStoreUnavailable) {
				t.Errorf("list during the outage = %v; want store_unavailable", err)
			}
			if err := chy.Health(ctx); err != nil {
				t.Errorf("healthz during the outage = %v; want ok (the process is alive)", err)
			}
			if _, err := chy.JWKS(ctx); err != nil {
				t.Errorf("JWKS during the outage = %v; want the node's published keys", err)
			}

			srv.start()
			eventually(t, 30*time.Second, "database node recovers", func() bool {
				_, err := cdb.Verify(ctx, dbLogin.AccessToken, nil)
				return err == nil
			})
			eventually(t, 30*time.Second, "readyz recovers", func() bool { return cdb.Ready(ctx) == nil })
			eventually(t, 30*time.Second, "hybrid refresh recovers", func() bool {
				_, err := chy.Refresh(ctx, hyLogin.RefreshToken, nil)
				return err == nil
			})
			db.stop()
			hy.stop()
		})
	}
}

// percentile of sorted durations.
func percentile(d []time.Duration, p float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[int(float64(len(d)-1)*p)]
}
