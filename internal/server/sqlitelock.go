package server

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/sqlitestore"
)

// ErrStoreInUse: another process's `sessiond serve` holds the SQLite
// file. SQLite serves one process (it has no feed to tell another of a
// revocation): a second one on the same file would verify a session the
// first revoked until its access token expired. The first to start keeps
// it; a restart of the second once the first has stopped succeeds.
var ErrStoreInUse = errors.New("another sessiond serve uses this SQLite file; SQLite serves one process (use postgres or redis for several nodes)")

// sqliteLockPath is the lock file of the SQLite file at db: beside it, as
// SQLite's own -wal and -shm files are.
func sqliteLockPath(db string) string { return db + "-serve.lock" }

// sqliteDB is the file of the sqlite store of cfg, "" for another driver.
func sqliteDB(cfg config.Config) string {
	if cfg.Store.Driver != "sqlite" && cfg.Store.Driver != "" {
		return ""
	}
	if cfg.Store.DSN != "" {
		return cfg.Store.DSN
	}
	return filepath.Join(cfg.Server.DataDir, "sessiond.db")
}

// lockStore takes the lock of cfg's SQLite file for this process, until
// release, or ErrStoreInUse when another process holds it. Other drivers,
// and systems without record locks, take nothing; so does a file whose
// directory does not exist yet, or that is a symbolic link to no file yet
// (ok false: take it once the store has made it); nor does a path the
// SQLite store refuses (another store's DSN). A file reached through
// a symbolic link is locked as the file it names, so two paths to one file
// share a lock.
func lockStore(cfg config.Config) (release func(), ok bool, err error) {
	db := sqliteDB(cfg)
	if db == "" {
		return func() {}, true, nil
	}
	if sqlitestore.CheckPath(db) != nil {
		// Another store's DSN: the store refuses it next, and a lock
		// file beside it would be named after it, password included.
		return nil, false, nil
	}
	if _, err := os.Stat(filepath.Dir(db)); errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if real, err := filepath.EvalSymlinks(db); err == nil {
		db = real
	} else if fi, lerr := os.Lstat(db); lerr == nil && fi.Mode()&fs.ModeSymlink != 0 {
		// A link to a file not made yet: locked beside the link, the
		// lock would not be the one a serve on the file's own path takes
		// once the store has made it.
		return nil, false, nil
	}
	f, err := os.OpenFile(sqliteLockPath(db), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("lock the SQLite file: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		if errors.Is(err, errLocked) {
			return nil, false, fmt.Errorf("%s: %w", db, ErrStoreInUse)
		}
		return nil, false, fmt.Errorf("lock the SQLite file: %w", err)
	}
	// Closing releases the lock (with any other Run of this process on
	// the same file: only tests run several).
	return func() { f.Close() }, true, nil
}
