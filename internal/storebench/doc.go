// Package storebench holds no code, only benchmarks: the Manager's create,
// verify and refresh on every store, each beside the raw driver operation
// it stands on (a pgx primary-key SELECT, a Redis GET, an in-memory map
// read), in the same process, so docs/PERFORMANCE.md can give ratios; and
// RevokeSubject and the reads of one subject with very many sessions, on
// SQLite too (revokesubject_test.go); and the revocation snapshot's heap
// with the store read whole or a page at a time (snapshot_test.go).
//
//	SESSIOND_TEST_POSTGRES_URL=… SESSIOND_TEST_REDIS_URL=… go test -run x -bench . ./internal/storebench
package storebench
