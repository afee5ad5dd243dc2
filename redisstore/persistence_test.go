//go:build unix

// The server and its child die as a process group: Unix only.

package redisstore_test

import (
	"context"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/redisstore"
)

// TestStore_Persistence: the store reads whether Redis snapshots or keeps
// an append-only file, from a private redis-server whose settings the test
// changes (the shared test server's are the machine's business).
func TestStore_Persistence(t *testing.T) {
	redisURL(t) // skip (or fail in CI) as the other Redis tests do
	testenv.Programs(t, "a private Redis", "", "redis-server")
	port := testenv.FreePort(t)
	srv := exec.Command("redis-server", "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", t.TempDir(),
		"--save", "", "--appendonly", "no")
	// A group of its own: turning the append-only file on forks a child
	// that writes into the test's directory; it must die with the server.
	srv.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Kill(-srv.Process.Pid, syscall.SIGKILL); _ = srv.Wait() })
	url := "redis://127.0.0.1:" + strconv.Itoa(port) + "/0"
	raw, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{"127.0.0.1:" + strconv.Itoa(port)}, DisableCache: true})
	for deadline := time.Now().Add(10 * time.Second); err != nil && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		raw, err = rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{"127.0.0.1:" + strconv.Itoa(port)}, DisableCache: true})
	}
	if err != nil {
		t.Fatalf("private redis-server: %v", err)
	}
	defer raw.Close()
	st, err := redisstore.New(context.Background(), url, redisstore.Options{Prefix: randomPrefix()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := t.Context()
	for _, c := range []struct {
		set      []string // CONFIG SET parameter value
		rdb, aof bool
	}{
		{nil, false, false},
		{[]string{"save", "3600 1"}, true, false},
		{[]string{"appendonly", "yes"}, true, true},
		{[]string{"save", ""}, false, true},
	} {
		if c.set != nil {
			if err := raw.Do(ctx, raw.B().ConfigSet().ParameterValue().ParameterValue(c.set[0], c.set[1]).Build()).Error(); err != nil {
				t.Fatalf("CONFIG SET %v: %v", c.set, err)
			}
		}
		ps, err := st.Persistence(ctx)
		if err != nil || len(ps) != 1 || ps[0].RDB != c.rdb || ps[0].AOF != c.aof || ps[0].Kept() != (c.rdb || c.aof) {
			t.Errorf("after CONFIG SET %v: Persistence() = %+v, %v; want one node with RDB %v, AOF %v", c.set, ps, err, c.rdb, c.aof)
		}
	}
	st.Close()
	if _, err := st.Persistence(ctx); err == nil {
		t.Error("Persistence() after Close = nil error; want an error")
	}
}
