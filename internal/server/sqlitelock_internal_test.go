package server

import (
	"os"
	"testing"

	"github.com/sessiond/sessiond/internal/config"
)

// TestLockStore_AnotherStoresDSN: a DSN of another store given to the
// SQLite store (store.driver left at sqlite) takes no lock: the store
// refuses it next, and a lock file beside it would be named after it,
// password included ("host=db password=…-serve.lock" in the working
// directory).
func TestLockStore_AnotherStoresDSN(t *testing.T) {
	t.Chdir(t.TempDir())
	for _, dsn := range []string{
		"host=db user=app password=Hunter2secret dbname=app",
		"postgres://app:Hunter2secret@db/app",
		"redis://:Hunter2secret@cache:6379/0",
	} {
		var cfg config.Config
		cfg.Store.Driver, cfg.Store.DSN = "sqlite", dsn
		release, ok, err := lockStore(cfg)
		if err != nil || ok {
			t.Errorf("lockStore(%q) = %v, %v; want no lock taken and no error (the store refuses the DSN)", dsn, ok, err)
		}
		if ok {
			release()
		}
	}
	if entries, _ := os.ReadDir("."); len(entries) != 0 {
		t.Errorf("lockStore left %d entries in the working directory (%v); want none", len(entries), entries[0].Name())
	}
	// A file path is locked as before.
	var cfg config.Config
	cfg.Store.Driver, cfg.Store.DSN = "sqlite", "sessions.db"
	release, ok, err := lockStore(cfg)
	if err != nil || !ok {
		t.Fatalf("lockStore(sessions.db) = %v, %v; want the lock", ok, err)
	}
	release()
}
