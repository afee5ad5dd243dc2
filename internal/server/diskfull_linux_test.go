package server_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/internal/testenv"
)

// smallFileSystem mounts a tmpfs of size (mount's size=) on a new
// directory and unmounts it when the test ends. It skips the test when not
// root, or when the mount is refused (a container without the
// capability): nothing else fills a disk for real.
func smallFileSystem(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small file system to fill needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size+",mode=0700"); err != nil {
		t.Skipf("mount a tmpfs to fill: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill writes a file in dir until the file system has no room left, and
// returns a function that removes it.
func fill(t *testing.T, dir string) (free func()) {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, size := range []int{1 << 20, 4 << 10, 1} {
		buf := make([]byte, size)
		for {
			if _, err := f.Write(buf); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("fill %s: %v", dir, err)
				}
				break
			}
		}
	}
	return func() {
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}

// touchFailureLine is the series of sessiond_store_errors_total that
// counts the touches the store could not write.
var touchFailureLine = regexp.MustCompile(`(?m)^sessiond_store_errors_total\{(?:error="unavailable",)?op="touch"\} ([0-9.e+]+)$`)

// touchFailures returns how many touches node n counts as failed.
func touchFailures(t *testing.T, n *node) float64 {
	t.Helper()
	res := apiRequest(t, "GET", "http://"+n.addr+"/metrics", "", "", nil)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	m := touchFailureLine.FindSubmatch(b)
	if m == nil {
		t.Fatalf("/metrics has no touch series of sessiond_store_errors_total:\n%s", b)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestRun_DiskFull (root only: it mounts a tmpfs and fills it): on a full
// disk, a login or logout is refused 503 store_unavailable or stored, never
// acknowledged unstored (the -wal file may still hold a few commits in
// room it has, and gets room back when a checkpoint restarts it, so each
// is tried until one is refused), while database-strategy verifies, whose
// touch then fails, go on answering from the sessions they read, as do
// session lists and the event log, and /readyz stays ready for them. Once room returns, writes succeed without
// a restart, and every acknowledged change is in the intact file with its
// event. A restart on the full disk fails, naming the disk's free space
// rather than only SQLite's "disk I/O error".
func TestRun_DiskFull(t *testing.T) {
	dir := smallFileSystem(t, "16m")
	ctx := context.Background()
	cfg := devConfig(t)
	cfg.Server.DataDir = dir
	cfg.Strategy = sessiond.StrategyDatabase
	cfg.Lifetime.TouchInterval = 0 // every verify writes
	n := start(t, server.Options{Config: cfg})
	c := apiClient(t, n)
	login := func(subject string) (*client.TokenResponse, error) {
		return c.CreateSession(ctx, client.CreateRequest{Subject: subject})
	}
	alice, err := login("alice")
	if err != nil {
		t.Fatal(err)
	}
	pool := make([]*client.TokenResponse, 200) // to log out on the full disk
	for i := range pool {
		if pool[i], err = login(fmt.Sprintf("pool-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	unavailable := func(err error) bool {
		var ce *client.Error
		return errors.As(err, &ce) && ce.Status == http.StatusServiceUnavailable && ce.Code == "store_unavailable"
	}

	free := fill(t, dir)
	var acked []sessiond.SessionID // logins answered 201 on the full disk
	for i := 0; ; i++ {
		iss, err := login(fmt.Sprintf("user-%d", i))
		if err != nil {
			if !unavailable(err) {
				t.Fatalf("login on a full disk = %v; want 201 or 503 store_unavailable", err)
			}
			break
		}
		if i == 10_000 {
			t.Fatal("10,000 logins stored on a full disk")
		}
		acked = append(acked, iss.Session.ID)
	}
	loggedOut := map[sessiond.SessionID]bool{} // logouts answered 204 on the full disk
	for i, iss := range pool {
		err := c.RevokeSession(ctx, iss.Session.ID)
		if err != nil {
			if !unavailable(err) {
				t.Fatalf("logout on a full disk = %v; want 204 or 503 store_unavailable", err)
			}
			break
		}
		if i == len(pool)-1 {
			t.Fatalf("all %d logouts stored on a full disk", len(pool))
		}
		loggedOut[iss.Session.ID] = true
	}
	// Each verify writes its touch, which fails once the -wal file is out
	// of room; the verify must not.
	for i := 0; ; i++ {
		if _, err := c.Verify(ctx, alice.AccessToken, nil); err != nil {
			t.Fatalf("database verify %d on a full disk = %v; want the session", i, err)
		}
		if i%50 == 49 && touchFailures(t, n) > 0 {
			break
		}
		if i == 20_000 {
			t.Fatal("no touch failed in 20,000 verifies on a full disk")
		}
	}
	if code := testenv.CallAPI(t, "GET", "http://"+n.addr+"/readyz", "", "", nil); code != http.StatusOK {
		t.Errorf("/readyz on a full disk = %d; want 200: verifies are served", code)
	}
	if got, err := c.ListSessions(ctx, "alice"); err != nil || len(got) != 1 {
		t.Errorf("session list on a full disk = %v, %v; want alice's session", got, err)
	}
	if got, _, err := c.ListEvents(ctx, client.EventQuery{SessionID: alice.Session.ID}); err != nil || len(got) == 0 {
		t.Errorf("event log on a full disk = %v, %v; want alice's login", got, err)
	}

	free()
	if _, err := login("carol"); err != nil {
		t.Errorf("login once room returned = %v; want it stored without a restart", err)
	}
	for _, iss := range pool {
		_, err := c.Verify(ctx, iss.AccessToken, nil)
		if loggedOut[iss.Session.ID] != errors.Is(err, sessiond.ErrRevoked) || !loggedOut[iss.Session.ID] && err != nil {
			t.Errorf("verify of session %s, logged out %v on the full disk = %v", iss.Session.ID, loggedOut[iss.Session.ID], err)
		}
	}
	if err := n.stop(); err != nil {
		t.Fatal(err)
	}

	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "sessiond.db")+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	var check string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&check); err != nil || check != "ok" {
		t.Errorf("PRAGMA integrity_check = %q, %v; want ok", check, err)
	}
	ids := append([]sessiond.SessionID{alice.Session.ID}, acked...)
	for _, iss := range pool {
		ids = append(ids, iss.Session.ID)
	}
	for _, id := range ids {
		var revoked bool
		var created, revokedEvents int
		err := db.QueryRowContext(ctx, `SELECT revoked_at IS NOT NULL,
			(SELECT count(*) FROM events WHERE session_id = s.id AND type = 'session.created'),
			(SELECT count(*) FROM events WHERE session_id = s.id AND type = 'session.revoked')
			FROM sessions s WHERE id = ?`, string(id)).Scan(&revoked, &created, &revokedEvents)
		if errors.Is(err, sql.ErrNoRows) {
			t.Errorf("acknowledged login %s is not stored", id)
			continue
		} else if err != nil {
			t.Fatal(err)
		}
		want := loggedOut[id]
		if revoked != want || created != 1 || revokedEvents != map[bool]int{true: 1}[want] {
			t.Errorf("session %s: revoked %v with %d created and %d revoked events; want revoked %v (its logout's answer), one created event and one revoked event per revocation",
				id, revoked, created, revokedEvents, want)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	// The read-only check above left an empty -wal and a -shm (the node's
	// own shutdown removed its): gone, as after a clean shutdown, the
	// start must make them on the full disk.
	for _, f := range []string{"sessiond.db-wal", "sessiond.db-shm"} {
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}

	fill(t, dir)
	err = server.Run(ctx, server.Options{Config: cfg, APIKey: testKey, Listening: func(string) { t.Error("serving on a full disk") }})
	if err == nil || !strings.Contains(err.Error(), "free on the file system of "+dir) {
		t.Errorf("Run on a full disk = %v; want an error naming the free space of %s", err, dir)
	}
	t.Logf("on the full disk before the first refusal: %d logins, %d logouts; the restart: %v", len(acked), len(loggedOut), err)
}
