package sqlitestore

import (
	"context"
	"database/sql"
	"time"
)

// DB exposes the pool to tests and benchmarks in package sqlitestore_test.
func (s *Store) DB() *sql.DB { return s.db }

// WriterPragma reads PRAGMA name on the connection every write runs on,
// holding the write slot meanwhile.
func (s *Store) WriterPragma(ctx context.Context, name string) (string, error) {
	s.wsem <- struct{}{}
	defer func() { <-s.wsem }()
	var v string
	err := s.wconn.QueryRowContext(ctx, "PRAGMA "+name).Scan(&v)
	return v, err
}

// checkpointNow runs, on a connection of its own, the checkpoint the
// store's goroutine runs after a commit.
func (s *Store) checkpointNow(ctx context.Context) error {
	c, err := s.checkpointConn(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	_, err = s.checkpoint(ctx, c, s.ckptCfg.restartFrames)
	return err
}

// CounterWindows is the counter suite's test hook: the rows of the
// counters table, ended windows not yet swept included (at does not
// matter: only a sweep removes them).
func (s *Store) CounterWindows(ctx context.Context, _ time.Time) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM counters").Scan(&n)
	return n, err
}
