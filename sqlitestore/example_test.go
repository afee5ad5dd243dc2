package sqlitestore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sqlitestore"
)

func ExampleNew() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sessiond-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	// The file and its directory are created, and migrations applied.
	st, err := sqlitestore.New(ctx, filepath.Join(dir, "data", "sessions.db"), sqlitestore.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()

	now := time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)
	s := &sessiond.Session{
		ID: sessiond.NewSessionID(), Subject: "alice", Strategy: sessiond.StrategyDatabase,
		CreatedAt: now, LastActiveAt: now, IdleExpiresAt: now.Add(30 * time.Minute), ExpiresAt: now.Add(8 * time.Hour),
	}
	if err := st.Create(ctx, s); err != nil {
		fmt.Println(err)
		return
	}
	got, err := st.Get(ctx, s.ID)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(got.Subject, got.ExpiresAt)
	// Output: alice 2030-01-01 17:00:00 +0000 UTC
}

// A tool that must not change the schema under running servers opens the
// store with NoMigrate: a file that lacks migrations of this build (here,
// one no sessiond has made) is refused, and nothing is created.
func ExampleOptions_noMigrate() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sessiond-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "sessions.db")

	_, err = sqlitestore.New(ctx, path, sqlitestore.Options{NoMigrate: true})
	fmt.Println(errors.Is(err, sessiond.ErrSchemaOutdated))
	_, statErr := os.Stat(path)
	fmt.Println(os.IsNotExist(statErr))

	// Migrated once (sessiond migrate, or serve), it opens.
	st, err := sqlitestore.New(ctx, path, sqlitestore.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	st.Close()
	st, err = sqlitestore.New(ctx, path, sqlitestore.Options{NoMigrate: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer st.Close()
	fmt.Println(st.Ping(ctx))
	// Output:
	// true
	// true
	// <nil>
}
