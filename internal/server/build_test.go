package server

import (
	"errors"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/sessiond/sessiond"

	"github.com/sessiond/sessiond/internal/config"
)

// TestSQLiteOptions: store.synchronous reaches the SQLite store (which
// sqlitestore's TestNew_Synchronous reads back from every connection),
// and the open mode does too.
func TestSQLiteOptions(t *testing.T) {
	for _, c := range []struct {
		sync     string
		mode     OpenMode
		fullSync bool
	}{
		{"", OpenMode{}, false},
		{config.SynchronousNormal, OpenMode{}, false},
		{config.SynchronousFull, OpenMode{}, true},
		{config.SynchronousFull, OpenMode{MustExist: true, NoMigrate: true}, true},
	} {
		cfg := config.Default()
		cfg.Store.Synchronous = c.sync
		o := sqliteOptions(cfg, slog.New(slog.DiscardHandler), c.mode)
		if o.FullSync != c.fullSync || o.MustExist != c.mode.MustExist || o.NoMigrate != c.mode.NoMigrate || o.Logger == nil {
			t.Errorf("store.synchronous %q, %+v: sqliteOptions() = %+v; want FullSync %v and the mode", c.sync, c.mode, o, c.fullSync)
		}
	}
}

// TestOpenStore_SQLiteSynchronous: a store.synchronous the store does not
// offer is refused, as the validator's SD-STORE-013 does, rather than run
// as normal: the operator asked for a durability this is not.
func TestOpenStore_SQLiteSynchronous(t *testing.T) {
	cfg := config.Default()
	cfg.Store.DSN = filepath.Join(t.TempDir(), "sessiond.db")
	cfg.Store.Synchronous = "off"
	if st, err := OpenStore(t.Context(), cfg, slog.New(slog.DiscardHandler), OpenMode{}); !errors.Is(err, sessiond.ErrInvalidArgument) {
		if st != nil {
			st.Close()
		}
		t.Errorf("OpenStore(store.synchronous off) = %v; want ErrInvalidArgument", err)
	}
}
