package sqlitestore

import "database/sql"

// DB exposes the pool to tests and benchmarks in package sqlitestore_test.
func (s *Store) DB() *sql.DB { return s.db }
