package sqlitestore

import (
	"log/slog"
	"os"
	"runtime"
)

// tightenModes takes group and other access away from the database file at
// abs and from its -wal and -shm, where they exist: they hold token hashes,
// and signing private keys when no KEK seals them. A file restored from a
// backup under umask 022, or made by touch, would otherwise stay readable
// by every local user, and SQLite gives the -wal and -shm it creates the
// database file's mode. Each change is logged as a warning. A file it
// cannot change (owned by another user) is logged too, and the store
// opens as before: refusing would stop a deployment that ran.
func tightenModes(abs string, log *slog.Logger) {
	if runtime.GOOS == "windows" {
		return // no mode bits: access is the ACL's
	}
	for _, p := range []string{abs, abs + "-wal", abs + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			continue // not there; anything else, SQLite reports when it opens the file
		}
		perm := fi.Mode().Perm()
		if perm&0o077 == 0 {
			continue
		}
		owner := perm &^ 0o077
		if err := os.Chmod(p, owner); err != nil {
			log.Warn("sqlitestore: store file is readable by other users and its mode could not be changed; it holds token hashes and may hold signing keys",
				"path", p, "mode", perm.String(), "err", err)
			continue
		}
		log.Warn("sqlitestore: store file was readable by other users; restricted it to its owner",
			"path", p, "was", perm.String(), "now", owner.String())
	}
}
