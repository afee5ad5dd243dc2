package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"

	"github.com/sessiond/sessiond/internal/testenv"
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

// TestPostgres_BackupAndRestore follows docs/operations.md, "Backing up
// and restoring PostgreSQL or Redis": a `pg_dump` of the schema taken
// while two nodes serve, restored with `pg_restore --clean --if-exists
// --single-transaction` under the running nodes and a Go verifier that
// follows the revocation stream (restoredUnderNodes says what holds).
func TestPostgres_BackupAndRestore(t *testing.T) {
	t.Parallel()
	dsn := os.Getenv("SESSIOND_TEST_POSTGRES_URL")
	if dsn == "" {
		testenv.SkipOrFail(t, "SESSIOND_TEST_POSTGRES_URL unset: the PostgreSQL backup test is skipped")
	}
	progs := testenv.Programs(t, "the PostgreSQL backup test", " (apt-get install postgresql-client)", "pg_dump", "pg_restore")
	schema := testenv.PostgresSchema(t, dsn, "e2e")
	dump := filepath.Join(t.TempDir(), "sessiond.dump")
	restoredUnderNodes(t, []string{"SESSIOND_STORE_DRIVER=postgres", "SESSIOND_STORE_DSN=" + dsn, "SESSIOND_STORE_NAMESPACE=" + schema},
		func() { runProgram(t, progs["pg_dump"], dsn, "--schema="+schema, "--format=custom", "--file="+dump) },
		func() {
			runProgram(t, progs["pg_restore"], "--dbname="+dsn, "--clean", "--if-exists", "--single-transaction", dump)
		})
}

// TestRedis_BackupAndRestore is TestPostgres_BackupAndRestore on a Redis
// of its own: the RDB file fetched with `redis-cli --rdb` while the nodes
// serve, then Redis stopped, the file put in place of dump.rdb and Redis
// started again, under the running nodes.
func TestRedis_BackupAndRestore(t *testing.T) {
	t.Parallel()
	progs := testenv.Programs(t, "the Redis backup test", " (apt-get install redis-server)", "redis-server", "redis-cli")
	srv := newStoreServer(t, "redis")
	srv.extra = []string{"--appendonly", "no"} // the RDB file is what Redis loads at start
	srv.stop()
	srv.start()
	rdb := filepath.Join(t.TempDir(), "sessiond.rdb")
	restoredUnderNodes(t, []string{"SESSIOND_STORE_DRIVER=redis", "SESSIOND_STORE_DSN=" + srv.dsn()},
		func() { runProgram(t, progs["redis-cli"], "-u", srv.dsn(), "--rdb", rdb) },
		func() {
			srv.stop()
			b, err := os.ReadFile(rdb)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(srv.dir, "dump.rdb"), b, 0o600); err != nil {
				t.Fatal(err)
			}
			srv.start()
		})
}

// runProgram runs prog with args and fails t with its output if it fails.
func runProgram(t *testing.T, prog string, args ...string) {
	t.Helper()
	out, err := exec.Command(prog, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", prog, args, err, out)
	}
}

// restoredUnderNodes starts two hybrid nodes on the store env names and a
// Go verifier following node b's revocation stream, takes a backup, makes
// changes, and restores the backup under them. Afterwards, as
// docs/operations.md says: every session of the backup verifies and
// refreshes; the nodes write the API key set back (a key made since works,
// one revoked since stays revoked); a session revoked since stays refused,
// refresh included, on the nodes and by the verifier; one created since is
// gone from the store (its refresh is refused, DELETE answers 404); the
// verifier, whose cursor is ahead of the restored log, gets the
// revocations made after the restore; and `incident revoke
// --issued-before` the restore's end redoes the revocation the restore
// undid in the store and ends the access token of the session created
// after the backup everywhere.
func restoredUnderNodes(t *testing.T, env []string, backup, restore func()) {
	t.Helper()
	store := backend{"store", func(testing.TB) []string { return env }}
	na, nb := twoNodes(t, hybridEnv(store, t))
	ca, cb := na.client(), nb.client()
	gv := goVerifier(t, nb.url, nil)
	ctx := context.Background()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("node a:\n%s\nnode b:\n%s", na.log.String(), nb.log.String())
		}
	})
	var before []*client.TokenResponse
	for i := range 5 {
		tr, err := ca.CreateSession(ctx, client.CreateRequest{Subject: fmt.Sprintf("before-%d", i)})
		if err != nil {
			t.Fatal(err)
		}
		before = append(before, tr)
	}
	old, oldSecret, err := ca.CreateAPIKey(ctx, "old", "verify")
	if err != nil {
		t.Fatal(err)
	}
	backup()

	// After the backup: a logout, an API key made and one revoked, a login.
	if err := ca.RevokeSession(ctx, before[0].Session.ID); err != nil {
		t.Fatal(err)
	}
	for name, check := range map[string]func() bool{
		"node b": func() bool {
			_, err := cb.Verify(ctx, before[0].AccessToken, nil)
			return errors.Is(err, sessiond.ErrRevoked)
		},
		"the verifier": func() bool { return goCheck(gv, string(before[0].AccessToken)) == "revoked" },
	} {
		eventually(t, 10*time.Second, name+" refuses the session revoked after the backup", check)
	}
	_, made, err := ca.CreateAPIKey(ctx, "made-after", "verify")
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.RevokeAPIKey(ctx, old.ID); err != nil {
		t.Fatal(err)
	}
	after, err := cb.CreateSession(ctx, client.CreateRequest{Subject: "after"})
	if err != nil {
		t.Fatal(err)
	}

	restore() // under the running nodes and verifier
	restored := time.Now().UTC()

	// A route the verify scope opens: 200 for a key that works.
	keyWorks := func(n *node, key sessiond.Secret) bool {
		return testenv.CallAPI(t, "GET", n.url+"/v1/revocations/snapshot", string(key), "", nil) == 200
	}
	for _, n := range []*node{na, nb} {
		eventually(t, 15*time.Second, n.url+": the API key set is written back (a key made since works, one revoked since stays revoked)", func() bool {
			return keyWorks(n, made) && !keyWorks(n, oldSecret)
		})
	}
	// What the page has the operator look for: the write-backs, recorded.
	if out, stderr, code := na.cli("events", "--type", "store.reset_detected"); code != 0 || !strings.Contains(out, "store.reset_detected") {
		t.Errorf("sessiond events --type store.reset_detected: exit %d, no such event listed\n%s%s", code, out, stderr)
	}
	nodes := map[string]*client.Client{"a": ca, "b": cb}
	for i, tr := range before[1:] {
		for name, c := range nodes {
			if _, err := c.Verify(ctx, tr.AccessToken, nil); err != nil {
				t.Errorf("node %s: session %d of the backup: verify after the restore: %v", name, i+1, err)
			}
		}
		if got := goCheck(gv, string(tr.AccessToken)); got != "ok" {
			t.Errorf("the verifier: session %d of the backup: %s after the restore; want ok", i+1, got)
		}
		nt, err := ca.Refresh(ctx, tr.RefreshToken, nil)
		if err != nil {
			t.Errorf("node a: session %d of the backup: refresh after the restore: %v", i+1, err)
			continue
		}
		before[i+1] = nt
		if _, err := cb.Verify(ctx, nt.AccessToken, nil); err != nil {
			t.Errorf("node b: session %d refreshed on node a after the restore: verify: %v", i+1, err)
		}
	}
	for name, c := range nodes {
		if _, err := c.Verify(ctx, before[0].AccessToken, nil); !errors.Is(err, sessiond.ErrRevoked) {
			t.Errorf("node %s: verify of the session revoked after the backup = %v; want revoked", name, err)
		}
		if _, err := c.Refresh(ctx, before[0].RefreshToken, nil); !errors.Is(err, sessiond.ErrRevoked) {
			t.Errorf("node %s: refresh of the session revoked after the backup = %v; want revoked (its access tokens are refused everywhere)", name, err)
		}
		if _, err := c.Refresh(ctx, after.RefreshToken, nil); err == nil {
			t.Errorf("node %s: a session created after the backup refreshed after the restore; want it gone", name)
		}
	}
	if got := goCheck(gv, string(before[0].AccessToken)); got != "revoked" {
		t.Errorf("the verifier: the session revoked after the backup: %s; want revoked", got)
	}

	// The session made after the backup is gone from the store, but its
	// access token is signed and lives its lifetime: only a watermark ends it.
	if err := ca.RevokeSession(ctx, after.Session.ID); !errors.Is(err, sessiond.ErrNotFound) {
		t.Errorf("DELETE of a session created after the backup = %v; want not found", err)
	}
	// The verifier's cursor is ahead of the restored log: what is revoked
	// now still reaches it, and a new login verifies everywhere.
	if err := ca.RevokeSession(ctx, before[1].Session.ID); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the verifier refuses a session revoked after the restore", func() bool {
		return goCheck(gv, string(before[1].AccessToken)) == "revoked"
	})
	login, err := ca.CreateSession(ctx, client.CreateRequest{Subject: "restored"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cb.Verify(ctx, login.AccessToken, nil); err != nil {
		t.Errorf("node b: a login on node a after the restore: %v", err)
	}
	if got := goCheck(gv, string(login.AccessToken)); got != "ok" {
		t.Errorf("the verifier: a login after the restore: %s; want ok", got)
	}

	// The revocation made after the backup is undone in the store (the
	// running nodes refuse it only while they remember it). The page's
	// step 2, a watermark at the time the restore finished, redoes it and
	// ends the access token of the session created after the backup.
	if ss, err := ca.ListSessions(ctx, "before-0"); err != nil || len(ss) != 1 {
		t.Errorf("list before-0 after the restore = %d sessions, %v; want the one revoked after the backup, live again in the store", len(ss), err)
	}
	if _, stderr, code := na.cli("incident", "revoke", "--issued-before", restored.Format(time.RFC3339Nano), "--reason", "store restored"); code != 0 {
		t.Fatalf("incident revoke --issued-before (the restore): exit %d\n%s", code, stderr)
	}
	for _, subject := range []string{"before-0", "before-2"} {
		if ss, err := ca.ListSessions(ctx, subject); err != nil || len(ss) != 0 {
			t.Errorf("list %s after incident revoke --issued-before (the restore) = %d sessions, %v; want none", subject, len(ss), err)
		}
	}
	for name, c := range nodes {
		eventually(t, 10*time.Second, "node "+name+" refuses the access token of the session created after the backup", func() bool {
			_, err := c.Verify(ctx, after.AccessToken, nil)
			return errors.Is(err, sessiond.ErrRevoked)
		})
	}
	eventually(t, 10*time.Second, "the verifier refuses the access token of the session created after the backup", func() bool {
		return goCheck(gv, string(after.AccessToken)) == "revoked"
	})
}
