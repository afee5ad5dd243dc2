package sqlitestore

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestStore_DiskHint (root only: it mounts tmpfs file systems): the hint an
// error of the disk carries names the database's directory and says how
// much room is left on it, or that it is mounted read-only.
func TestStore_DiskHint(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting file systems to describe needs root")
	}
	for _, tc := range []struct {
		name  string
		flags uintptr
		want  string
	}{
		{"writable", 0, "1024 KiB free on the file system of "},
		{"read-only", syscall.MS_RDONLY, "the file system of "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := syscall.Mount("tmpfs", dir, "tmpfs", tc.flags, "size=1m"); err != nil {
				t.Skipf("mount a tmpfs: %v", err)
			}
			t.Cleanup(func() { _ = syscall.Unmount(dir, 0) })
			s := &Store{path: filepath.Join(dir, "sessiond.db")}
			got := s.diskHint()
			want := tc.want + dir
			if tc.flags&syscall.MS_RDONLY != 0 {
				want += " is read-only"
			}
			if got != want {
				t.Errorf("diskHint() = %q; want %q", got, want)
			}
		})
	}
}
