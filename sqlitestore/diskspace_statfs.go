//go:build linux || darwin || freebsd

package sqlitestore

import (
	"os"
	"syscall"
)

// readOnlyFlag is ST_RDONLY (Linux) and MNT_RDONLY (BSDs): the same bit.
const readOnlyFlag = 1

// fileSystem returns the bytes this process may still write on the file
// system holding dir (root may use the blocks kept for it), and whether
// it is mounted read-only.
func fileSystem(dir string) (free uint64, readOnly, ok bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false, false
	}
	blocks := int64(st.Bavail)
	if os.Geteuid() == 0 {
		blocks = int64(st.Bfree)
	}
	return uint64(max(blocks, 0)) * uint64(st.Bsize), uint64(st.Flags)&readOnlyFlag != 0, true
}
