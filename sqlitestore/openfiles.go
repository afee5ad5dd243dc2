package sqlitestore

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// fileLimitHint says, for a file SQLite could not open ("unable to open
// database file (14)": a new connection, the -wal, a temporary file),
// whether the process is out of file descriptors, e.g. "the process is at
// its open-file limit (1024)". SQLite does not say why an open failed, and
// the disk's free space (diskHint) would point the operator at the wrong
// cause. It opens one file to find out, on the error path only. "" when
// a file can be opened, or the open fails for another reason.
func fileLimitHint() string {
	f, err := os.Open(os.DevNull)
	if err == nil {
		_ = f.Close()
		return ""
	}
	switch {
	case errors.Is(err, syscall.ENFILE):
		return "the system's table of open files is full"
	case !errors.Is(err, syscall.EMFILE):
		return ""
	case openFileLimit() > 0:
		return fmt.Sprintf("the process is at its open-file limit (%d): raise it (LimitNOFILE, ulimit -n)", openFileLimit())
	}
	return "the process is at its open-file limit: raise it (LimitNOFILE, ulimit -n)"
}
