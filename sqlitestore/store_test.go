package sqlitestore_test

import (
	"path/filepath"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/sqlitestore"
)

func TestStore(t *testing.T) {
	sessiondtest.TestStore(t, func(t *testing.T) sessiond.Store {
		return open(t, filepath.Join(t.TempDir(), "sessions.db"))
	})
}

// open opens the store at path and closes it when the test ends.
func open(t testing.TB, path string) *sqlitestore.Store {
	t.Helper()
	st, err := sqlitestore.New(t.Context(), path, sqlitestore.Options{})
	if err != nil {
		t.Fatalf("New(%q) = %v; want nil", path, err)
	}
	t.Cleanup(func() {
		if err := st.Close(); err != nil {
			t.Errorf("Close() = %v; want nil", err)
		}
	})
	return st
}
