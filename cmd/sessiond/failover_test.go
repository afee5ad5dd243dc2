package main

import (
	"context"
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
)

// newPostgresStandby makes a streaming standby of primary on its own port
// (pg_basebackup -R), started and replicating.
func newPostgresStandby(t *testing.T, primary *storeServer) *storeServer {
	t.Helper()
	s := &storeServer{t: t, kind: "postgres", port: freePort(t), pgbin: primary.pgbin}
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
	c := n.client()
	ctx := context.Background()

	// family is one client's session: the ID and refresh token of its
	// last acknowledged login or refresh. A family whose last call failed
	// is left alone: that refresh may or may not have committed.
	type family struct {
		id      sessiond.SessionID
		refresh sessiond.Secret
		settled bool
	}
	var (
		mu       sync.Mutex
		families []*family
		acked    atomic.Int64
		failed   atomic.Int64
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	for w := range 4 {
		wg.Go(func() {
			var f *family
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if f == nil || !f.settled || i%4 == 0 {
					login, err := c.CreateSession(ctx, client.CreateRequest{Subject: fmt.Sprintf("fail-%d", w)})
					if err != nil {
						failed.Add(1)
						time.Sleep(50 * time.Millisecond)
						continue
					}
					f = &family{id: login.Session.ID, refresh: login.RefreshToken, settled: true}
					mu.Lock()
					families = append(families, f)
					mu.Unlock()
					acked.Add(1)
					continue
				}
				mu.Lock()
				tok := f.refresh
				mu.Unlock()
				r, err := c.Refresh(ctx, tok, nil)
				mu.Lock()
				if err != nil {
					f.settled = false
					failed.Add(1)
				} else {
					f.id, f.refresh = r.Session.ID, r.RefreshToken
					acked.Add(1)
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(50 * time.Millisecond)
				}
			}
		})
	}
	t.Cleanup(func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	})

	eventually(t, 30*time.Second, "load running on the primary", func() bool { return acked.Load() >= 40 })
	before := acked.Load()
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
	eventually(t, 60*time.Second, "load acknowledged again after the failover", func() bool { return acked.Load() >= before+40 })
	close(stop)
	wg.Wait()
	t.Logf("acknowledged %d logins and refreshes (%d before the failover), %d failed", acked.Load(), before, failed.Load())

	// Every acknowledged login is on the new primary; every family whose
	// last refresh was acknowledged refreshes once more from its token.
	settled := 0
	for _, f := range families {
		if _, err := c.GetSession(ctx, f.id); err != nil {
			t.Errorf("acknowledged session %s after the failover: %v", f.id, err)
			continue
		}
		if !f.settled {
			continue
		}
		settled++
		if _, err := c.Refresh(ctx, f.refresh, nil); err != nil {
			t.Errorf("last acknowledged refresh token of %s after the failover: %v; an acknowledged refresh was lost", f.id, err)
		}
	}
	t.Logf("%d sessions checked, %d refreshed from their last acknowledged token", len(families), settled)
	n.stop()
}
