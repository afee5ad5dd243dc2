package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"

	"github.com/sessiond/sessiond/internal/testenv"
)

// newPostgresStandby makes a streaming standby of primary on its own port
// (pg_basebackup -R), started and replicating.
func newPostgresStandby(t *testing.T, primary *storeServer) *storeServer {
	t.Helper()
	s := &storeServer{t: t, kind: "postgres", port: testenv.FreePort(t), pgbin: primary.pgbin}
	dir, err := os.MkdirTemp("", "sessiond-standby-")
	if err != nil {
		t.Fatal(err)
	}
	s.dir = dir
	t.Cleanup(func() { s.stop(); os.RemoveAll(dir) })
	if os.Getuid() == 0 {
		if out, err := exec.Command("chown", "postgres", dir).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v\n%s", err, out)
		}
	}
	out, err := s.asPostgres(filepath.Join(s.pgbin, "pg_basebackup"), "-h", "127.0.0.1", "-p", fmt.Sprint(primary.port),
		"-U", "postgres", "-D", filepath.Join(dir, "data"), "-R", "-X", "stream", "-c", "fast").CombinedOutput()
	if err != nil {
		t.Fatalf("pg_basebackup: %v\n%s", err, out)
	}
	s.extra = []string{"-c", "cluster_name=standby"}
	s.start()
	return s
}

// TestE2E_PostgresFailover (issue 18): a primary with a synchronous
// streaming standby on loopback, a node on a multi-host DSN with
// target_session_attrs=read-write, clients logging in and refreshing. The
// primary dies (immediate stop, as a crash) and the standby is promoted:
// the node serves again without a restart, and every login and refresh a
// client saw acknowledged is on the new primary.
func TestE2E_PostgresFailover(t *testing.T) {
	t.Parallel()
	if _, err := os.Stat("/usr/lib/postgresql"); err != nil && os.Getenv("SESSIOND_TEST_REQUIRE") != "1" {
		t.Skip("no PostgreSQL server binaries")
	}
	primary := newStoreServer(t, "postgres")
	// Restart with replication settings: every commit waits for the
	// standby to flush it (synchronous_commit=on, any standby named).
	primary.stop()
	primary.extra = []string{"-c", "synchronous_standby_names=*", "-c", "synchronous_commit=on", "-c", "wal_level=replica"}
	primary.start()
	standby := newPostgresStandby(t, primary)
	eventually(t, 30*time.Second, "standby streaming synchronously", func() bool {
		out, err := primary.asPostgres(filepath.Join(primary.pgbin, "psql"), "-h", "127.0.0.1", "-p", fmt.Sprint(primary.port),
			"-U", "postgres", "-Atc", "select sync_state from pg_stat_replication").Output()
		return err == nil && string(out) == "sync\n"
	})

	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d,127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=2&target_session_attrs=read-write",
		primary.port, standby.port)
	n := startNode(t, nodeConfig{env: []string{"SESSIOND_API_KEY=" + testAPIKey, "SESSIOND_STORE_DRIVER=postgres", "SESSIOND_STORE_DSN=" + dsn}})
	load := startLoginLoad(t, n.client(), 4)
	load.waitAcked(t, 40, "load running on the primary")
	// Crash the primary, then promote the standby.
	if out, err := primary.asPostgres(filepath.Join(primary.pgbin, "pg_ctl"), "-D", filepath.Join(primary.dir, "data"),
		"stop", "-m", "immediate").CombinedOutput(); err != nil {
		t.Fatalf("stop primary: %v\n%s", err, out)
	}
	primary.proc.Wait()
	primary.proc = nil
	if out, err := standby.asPostgres(filepath.Join(standby.pgbin, "pg_ctl"), "-D", filepath.Join(standby.dir, "data"),
		"promote", "-w").CombinedOutput(); err != nil {
		t.Fatalf("promote standby: %v\n%s", err, out)
	}
	load.waitAcked(t, 40, "load acknowledged again after the failover")
	load.stop()
	if lost := load.check(t, n.client()); lost != 0 {
		t.Errorf("%d acknowledged logins or refreshes lost with a synchronous standby; want none", lost)
	}
	n.stop()
}

// loginLoad is clients logging in and refreshing in a loop, remembering
// what the server acknowledged.
type loginLoad struct {
	mu       sync.Mutex
	families []*family
	acked    atomic.Int64
	failed   atomic.Int64
	// unserved counts the failed calls the server did not answer with a
	// client error (transport errors, 5xx): a store it cannot reach. A 4xx
	// is an answer, e.g. a refresh of a rotation the failover lost.
	unserved atomic.Int64
	done     chan struct{}
	wg       sync.WaitGroup
	stopOnce sync.Once
}

// family is one client's session: the ID and refresh token of its last
// acknowledged login or refresh. A family whose last call failed is left
// alone: that refresh may or may not have committed.
type family struct {
	id      sessiond.SessionID
	refresh sessiond.Secret
	settled bool
}

func (l *loginLoad) fail(err error) {
	l.failed.Add(1)
	var ce *client.Error
	if !errors.As(err, &ce) || ce.Status >= 500 {
		l.unserved.Add(1)
	}
}

func startLoginLoad(t *testing.T, c *client.Client, workers int) *loginLoad {
	l := &loginLoad{done: make(chan struct{})}
	ctx := context.Background()
	for w := range workers {
		l.wg.Go(func() {
			var f *family
			for i := 0; ; i++ {
				select {
				case <-l.done:
					return
				default:
				}
				if f == nil || !f.settled || i%4 == 0 {
					login, err := c.CreateSession(ctx, client.CreateRequest{Subject: fmt.Sprintf("load-%d", w)})
					if err != nil {
						l.fail(err)
						time.Sleep(50 * time.Millisecond)
						continue
					}
					f = &family{id: login.Session.ID, refresh: login.RefreshToken, settled: true}
					l.mu.Lock()
					l.families = append(l.families, f)
					l.mu.Unlock()
					l.acked.Add(1)
					continue
				}
				l.mu.Lock()
				tok := f.refresh
				l.mu.Unlock()
				r, err := c.Refresh(ctx, tok, nil)
				l.mu.Lock()
				if err != nil {
					f.settled = false
					l.fail(err)
				} else {
					f.id, f.refresh = r.Session.ID, r.RefreshToken
					l.acked.Add(1)
				}
				l.mu.Unlock()
				if err != nil {
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	t.Cleanup(l.stop)
	return l
}

// waitAcked waits for n more acknowledged calls.
func (l *loginLoad) waitAcked(t *testing.T, n int64, what string) {
	t.Helper()
	target := l.acked.Load() + n
	eventually(t, 60*time.Second, what, func() bool { return l.acked.Load() >= target })
}

func (l *loginLoad) stop() {
	l.stopOnce.Do(func() { close(l.done) })
	l.wg.Wait()
}

// check returns how many acknowledged logins and refreshes the store no
// longer holds: every acknowledged session must exist, and every family
// whose last refresh was acknowledged must refresh once more from that
// token (a lost refresh leaves its token unknown or already used).
func (l *loginLoad) check(t *testing.T, c *client.Client) (lost int) {
	ctx := context.Background()
	settled := 0
	for _, f := range l.families {
		if _, err := c.GetSession(ctx, f.id); err != nil {
			t.Logf("acknowledged session %s: %v", f.id, err)
			lost++
			continue
		}
		if !f.settled {
			continue
		}
		settled++
		if _, err := c.Refresh(ctx, f.refresh, nil); err != nil {
			t.Logf("last acknowledged refresh token of %s: %v", f.id, err)
			lost++
		}
	}
	t.Logf("acknowledged %d logins and refreshes, %d calls failed; checked %d sessions, %d from their last refresh token: %d lost",
		l.acked.Load(), l.failed.Load(), len(l.families), settled, lost)
	return lost
}
