package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
)

// TestSQLite_BackupAndRestore follows docs/operations.md, "Backing up and
// restoring the SQLite file": a `VACUUM INTO` copy taken while the server
// serves logins is one consistent file, and the server restored from it
// (stopped, no -wal or -shm left, the copy put in place of sessiond.db)
// verifies and refreshes every session the copy holds. As the page warns,
// what happened after the copy is undone: a session created since is
// gone, and one revoked since is live again.
func TestSQLite_BackupAndRestore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	n := startNode(t, nodeConfig{})
	c := n.client()
	cl := sessiond.Client{IP: "203.0.113.5", UserAgent: "Mozilla/5.0"}
	login := func(subject string) *client.TokenResponse {
		t.Helper()
		tr, err := c.CreateSession(ctx, client.CreateRequest{Subject: subject, Client: cl})
		if err != nil {
			t.Fatalf("create %s: %v", subject, err)
		}
		return tr
	}
	var before []*client.TokenResponse
	for i := range 20 {
		before = append(before, login(fmt.Sprintf("before-%d", i)))
	}

	// Logins and refreshes keep coming while the copy is taken.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var loadErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			tr, err := c.CreateSession(ctx, client.CreateRequest{Subject: fmt.Sprintf("load-%d", i), Client: cl})
			if err == nil {
				_, err = c.Refresh(ctx, tr.RefreshToken, &cl)
			}
			if err != nil {
				loadErr = err
				return
			}
		}
	}()
	backup := filepath.Join(t.TempDir(), "sessiond.db")
	db, err := sql.Open("sqlite", filepath.Join(n.dataDir, "sessiond.db"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = db.Exec("VACUUM INTO '" + backup + "'")
	db.Close()
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("VACUUM INTO while serving: %v", err)
	}
	if loadErr != nil {
		t.Fatalf("a login or refresh failed while the copy was taken: %v", loadErr)
	}
	if got := quickCheck(t, backup); got != "ok" {
		t.Fatalf("the copy's integrity check = %q; want ok", got)
	}

	// After the copy: one session revoked, one created.
	if err := c.RevokeSession(ctx, before[0].Session.ID); err != nil {
		t.Fatal(err)
	}
	after := login("after")
	n.stop()

	// Restore, as the page says: no -wal or -shm left, the copy in place.
	db0 := filepath.Join(n.dataDir, "sessiond.db")
	for _, suffix := range []string{"-wal", "-shm"} {
		if err := os.Remove(db0 + suffix); err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(backup)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db0, b, 0o600); err != nil {
		t.Fatal(err)
	}
	n = startNode(t, nodeConfig{dataDir: n.dataDir})
	c = n.client()
	for i, tr := range before {
		if _, err := c.Verify(ctx, tr.AccessToken, nil); err != nil {
			t.Errorf("session %d of the copy: verify after the restore: %v", i, err)
		}
		if _, err := c.Refresh(ctx, tr.RefreshToken, &cl); err != nil {
			t.Errorf("session %d of the copy: refresh after the restore: %v", i, err)
		}
	}
	if _, err := c.Refresh(ctx, after.RefreshToken, &cl); err == nil {
		t.Error("a session created after the copy refreshed after the restore; want it gone")
	}
}

// quickCheck runs PRAGMA quick_check on the SQLite file at path.
func quickCheck(t *testing.T, path string) string {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var s string
	if err := db.QueryRow("PRAGMA quick_check").Scan(&s); err != nil {
		t.Fatal(err)
	}
	return s
}
