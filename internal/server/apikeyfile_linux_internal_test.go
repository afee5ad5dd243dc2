//go:build linux

package server

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sessiond/sessiond/memstore"
)

// TestWritePendingKey_DiskFull (root only: it mounts a tmpfs and fills it):
// a key file write the disk refuses leaves the file that was there whole,
// never truncated or half written, and leaves no pending file behind. The
// new data takes more room than the old (the old file's room, freed by a
// truncation, would otherwise take it).
func TestWritePendingKey_DiskFull(t *testing.T) {
	dir := fullDir(t)
	const old = "sdak_old\n"
	path := filepath.Join(dir, APIKeyFile)
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	fill(t, dir)

	pending, err := writePendingKey(path, bytes.Repeat([]byte("k"), 1<<20))
	if !errors.Is(err, syscall.ENOSPC) || pending != "" {
		t.Errorf("writePendingKey on a full disk = %q, %v; want ENOSPC", pending, err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != old {
		t.Errorf("key file after the refused write holds %d bytes %.20q (%v); want it unchanged, %q", len(b), b, err, old)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("files after the refused write: %v; want only %s and filler", names, APIKeyFile)
	}
}

// TestSeedAPIKey_DiskFull (root only, as above): a first start whose key
// file the disk refuses stores no key and says what to mend, the data
// directory (no room), not the pending file it removed.
func TestSeedAPIKey_DiskFull(t *testing.T) {
	dir := fullDir(t)
	fill(t, dir)
	meta := memstore.New()
	node := newFirstStartNode(t, meta)
	node.cfg.Server.DataDir = dir
	node.seed(t.Context())
	if !errors.Is(node.err, syscall.ENOSPC) || !strings.Contains(node.err.Error(), "data directory "+dir+":") ||
		strings.Contains(node.err.Error(), ".new-") {
		t.Errorf("seedAPIKey on a full disk = %v; want ENOSPC naming the data directory %s, not a removed pending file", node.err, dir)
	}
	if live := liveKeys(t, meta); len(live) != 0 {
		t.Errorf("live keys after a key file the disk refused = %d; want none", len(live))
	}
}

// fullDir returns a directory on a new 64 KiB file system (root only: the
// test is skipped otherwise), unmounted when the test ends.
func fullDir(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small file system to fill needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k,mode=0700"); err != nil {
		t.Skipf("mount a tmpfs to fill: %v", err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// fill fills dir's file system with a file named filler.
func fill(t *testing.T, dir string) {
	t.Helper()
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for buf := make([]byte, 4<<10); err == nil; {
		_, err = filler.Write(buf)
	}
	if cerr := filler.Close(); !errors.Is(err, syscall.ENOSPC) || cerr != nil {
		t.Fatalf("fill %s: %v, %v", dir, err, cerr)
	}
}
