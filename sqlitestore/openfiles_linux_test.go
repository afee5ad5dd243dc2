package sqlitestore

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sessiond/sessiond"
)

// TestFail_OutOfFileDescriptors: a connection SQLite cannot open because
// the process is at its open-file limit is ErrStoreUnavailable and says
// so, rather than pointing at the disk's free space. The limit is lowered
// in a child test process, so this one keeps its descriptors.
func TestFail_OutOfFileDescriptors(t *testing.T) {
	if os.Getenv("SQLITESTORE_FD_CHILD") != "1" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFail_OutOfFileDescriptors$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), "SQLITESTORE_FD_CHILD=1")
		if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "--- PASS") {
			t.Fatalf("child test: %v\n%s", err, out)
		}
		return
	}
	ctx := t.Context()
	s, err := New(ctx, filepath.Join(t.TempDir(), "s.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	// No descriptor left: the ReadDir's own one is closed again.
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &syscall.Rlimit{Cur: uint64(len(fds) - 1), Max: old.Max}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) }()
	// Take every pooled connection, so the pool must open a new one.
	var openErr error
	for range maxConns + 1 {
		c, err := s.DB().Conn(ctx)
		if err != nil {
			openErr = err
			break
		}
		defer c.Close()
	}
	if openErr == nil {
		t.Fatal("every connection opened under the lowered limit")
	}
	got := s.fail("read", openErr)
	if !errors.Is(got, sessiond.ErrStoreUnavailable) || !strings.Contains(got.Error(), "open-file limit") {
		t.Errorf("fail(%v) = %v; want ErrStoreUnavailable naming the open-file limit", openErr, got)
	}
}
