package server_test

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/server"
)

// TestRun_OneProcessPerSQLiteFile: a second serve on the SQLite file a
// running one holds is refused with ErrStoreInUse: SQLite has no feed to
// tell it of the first one's revocations, so it would verify a revoked
// session for the rest of its access lifetime. Once the first has
// stopped, the file is free again.
func TestRun_OneProcessPerSQLiteFile(t *testing.T) {
	cfg := devConfig(t)
	first := start(t, server.Options{Config: cfg})
	// Bounded: without the lock the second would serve until its context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := server.Run(ctx, server.Options{Config: cfg, APIKey: testKey, Logger: slog.New(slog.DiscardHandler)})
	if !errors.Is(err, server.ErrStoreInUse) {
		t.Fatalf("a second Run on the same SQLite file = %v; want ErrStoreInUse", err)
	}
	if err := first.stop(); err != nil {
		t.Fatal(err)
	}
	start(t, server.Options{Config: cfg}) // fails the test if it does not start
}
