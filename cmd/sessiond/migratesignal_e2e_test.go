package main

import (
	"context"
	byteorder "encoding/binary"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/delayproxy"
	"github.com/sessiond/sessiond/internal/testenv"
)

// buildHeldUp returns the PostgreSQL test URL and a schema at version 11
// whose migration 0012 (an index built CONCURRENTLY) is pending, with a
// transaction open that appended an event, as a serving node's slow
// request: a build of the index waits for it until the test ends. It
// also returns the blocker's pid.
func buildHeldUp(t *testing.T) (*url.URL, string, int) {
	t.Helper()
	u := os.Getenv("SESSIOND_TEST_POSTGRES_URL")
	if u == "" {
		testenv.Unset(t, "SESSIOND_TEST_POSTGRES_URL", "a start cancelled during a migration is not tested")
		t.SkipNow()
	}
	pu, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	schema := testenv.PostgresSchema(t, u, "migsig")
	env := []string{"SESSIOND_STORE_DRIVER=postgres", "SESSIOND_STORE_DSN=" + u, "SESSIOND_STORE_NAMESPACE=" + schema}
	if _, stderr, code := runCLI(t, env, "migrate", "--create"); code != 0 {
		t.Fatalf("migrate --create = %d\n%s", code, stderr)
	}
	ctx := t.Context()
	id := pgx.Identifier{schema}.Sanitize()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	if _, err := conn.Exec(ctx, "DROP INDEX "+id+".events_no_subject; DELETE FROM "+id+".schema_migrations WHERE version = 12"); err != nil {
		t.Fatal(err)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tx.Rollback(context.Background()) })
	if _, err := tx.Exec(ctx, "INSERT INTO "+id+".events (id, time, type) VALUES ('blocker', now(), 'session.created')"); err != nil {
		t.Fatal(err)
	}
	var pid int
	if err := tx.QueryRow(ctx, "SELECT pg_backend_pid()").Scan(&pid); err != nil {
		t.Fatal(err)
	}
	return pu, schema, pid
}

// withAppName returns u with an application_name of this test's own, and
// that name, by which the test finds its own build in pg_stat_activity.
func withAppName(u *url.URL) (*url.URL, string) {
	app := testenv.UniqueName("sessiond-migsig-")
	c := *u
	q := c.Query()
	q.Set("application_name", app)
	c.RawQuery = q.Encode()
	return &c, app
}

// waitForOwnBuild returns the pid of the connection named app whose
// statement waits for the transaction of blocker: the process's build.
func waitForOwnBuild(t *testing.T, dsn string, blocker int, app string, exited <-chan error) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second) // a hang guard
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	for {
		var pid int
		err := conn.QueryRow(ctx, `SELECT pid FROM pg_stat_activity
			WHERE application_name = $2 AND $1 = ANY (pg_blocking_pids(pid)) LIMIT 1`, blocker, app).Scan(&pid)
		if err == nil {
			return pid
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			t.Fatalf("waiting for the build to wait for pid %d: %v", blocker, err)
		}
		select {
		case err := <-exited:
			t.Fatalf("sessiond exited (%v) before its build waited for the open transaction", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// startBinary starts the binary with env and args; its stderr goes to
// the returned buffer, its exit to the channel.
func startBinary(t *testing.T, env []string, args ...string) (*exec.Cmd, *testenv.SyncBuffer, <-chan error) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Env = append(cleanEnv(), env...)
	var stderr testenv.SyncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return cmd, &stderr, done
}

// exitCodeWithin waits for the process's exit (a hang guard, not a
// threshold) and returns its code.
func exitCodeWithin(t *testing.T, done <-chan error, stderr *testenv.SyncBuffer, what string) int {
	t.Helper()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			t.Fatal(err)
		}
		return 0
	case <-time.After(60 * time.Second):
		t.Fatalf("%s: still running 60 s later\n%s", what, stderr.String())
		return -1
	}
}

// TestMigrate_SignalCancelsIndexBuild: `sessiond migrate` stopped by
// SIGINT while migration 0012 builds its index CONCURRENTLY (held up by a
// serving transaction) ends the build in PostgreSQL too. Before, pgx's
// cancel request went out in the background and the process exited
// first: the build went on waiting, holding the session lock the next
// start waits for, for as long as the serving transaction stayed open.
func TestMigrate_SignalCancelsIndexBuild(t *testing.T) {
	t.Parallel()
	pu, schema, blocker := buildHeldUp(t)
	dsn, app := withAppName(pu)
	env := []string{"SESSIOND_STORE_DRIVER=postgres", "SESSIOND_STORE_DSN=" + dsn.String(), "SESSIOND_STORE_NAMESPACE=" + schema}
	cmd, stderr, done := startBinary(t, env, "migrate")
	build := waitForOwnBuild(t, pu.String(), blocker, app, done)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := exitCodeWithin(t, done, stderr, "migrate after SIGINT"); code != exitFailure {
		t.Fatalf("migrate interrupted during the build exited %d; want %d\n%s", code, exitFailure, stderr.String())
	}
	// The serving transaction stays open: only a cancelled build ends.
	conn, err := pgx.Connect(t.Context(), pu.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	guard, cancel := context.WithTimeout(t.Context(), 30*time.Second) // a hang guard
	defer cancel()
	for {
		var running bool
		if err := conn.QueryRow(t.Context(), "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)", build).Scan(&running); err != nil {
			t.Fatal(err)
		}
		if !running {
			break
		}
		select {
		case <-guard.Done():
			t.Fatalf("the build's backend (pid %d) still runs 30 s after migrate exited on SIGINT\n%s", build, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestServe_FurtherSignalDuringStoreOpenStopsAtOnce: a further SIGINT
// while serve is still opening its store after the first (here the
// cancelled 0012 build's cancel request waits on a PostgreSQL that no
// longer answers, behind a frozen proxy) stops the process at once, exit
// 1, as a further signal does during the graceful stop and in every
// other command. Before, serve had taken the further signals before it
// opened the store, and they only queued for a teardown not yet begun.
func TestServe_FurtherSignalDuringStoreOpenStopsAtOnce(t *testing.T) {
	t.Parallel()
	pu, schema, blocker := buildHeldUp(t)
	// The cancel request of the build (PostgreSQL's CancelRequest: length
	// 16, code 80877102) shows that the first signal ended the start's
	// context: the second is sent only then, as two sent at once may
	// reach the process as one.
	cancelSent := make(chan struct{})
	var once sync.Once
	trace := func(_ string, b []byte) {
		if len(b) == 16 && byteorder.BigEndian.Uint32(b[4:8]) == 80877102 {
			once.Do(func() { close(cancelSent) })
		}
	}
	proxy, err := delayproxy.Start("127.0.0.1:0", pu.Host, delayproxy.Options{Trace: trace})
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	proxied := *pu
	proxied.Host = proxy.Addr()
	dsn, app := withAppName(&proxied)
	env := []string{"SESSIOND_STORE_DRIVER=postgres", "SESSIOND_STORE_DSN=" + dsn.String(), "SESSIOND_STORE_NAMESPACE=" + schema,
		"SESSIOND_SERVER_SHUTDOWN_DELAY=0s"}
	cmd, stderr, done := startBinary(t, env, "serve", "--listen", "127.0.0.1:0", "--data", t.TempDir())
	waitForOwnBuild(t, pu.String(), blocker, app, done)
	proxy.Freeze()
	defer proxy.Thaw() // the cancel request it held reaches PostgreSQL
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-cancelSent:
	case err := <-done:
		t.Fatalf("serve exited (%v) at the first SIGINT before it cancelled its build\n%s", err, stderr.String())
	case <-time.After(60 * time.Second): // a hang guard
		t.Fatalf("serve sent no cancel of its build within 60 s of SIGINT\n%s", stderr.String())
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	code := exitCodeWithin(t, done, stderr, "serve after two SIGINTs during the store's open")
	if code != exitFailure || !strings.Contains(stderr.String(), errStoppedNow.Error()) {
		t.Fatalf("serve given a further SIGINT while opening its store: exit %d; want %d with %q\n%s",
			code, exitFailure, errStoppedNow.Error(), stderr.String())
	}
}
