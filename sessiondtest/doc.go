// Package sessiondtest holds test kits for sessiond, imported only by
// _test.go files (like net/http/httptest): one conformance suite per store
// interface (TestStore, which runs the suite of each optional interface a
// store implements, and TestLimiter, TestMetaStore, TestMetaDeleter, TestEventLog,
// TestOutbox, TestOutboxFencer, TestBulkRevoker, TestLiveCounter, TestSubjectClientLister,
// TestSubjectPager, TestRevocationPager, TestSubjectBatchRevoker, TestReplayGuard,
// TestAckedReplayGuard, TestWindowCounter, TestRevocationNotifier with the MetaNotifier cases,
// and TestChangeEvents, TestChangeRecorder, TestSubjectChangeRecorder,
// TestTouchRecorder, TestMetaChangeRecorder for stores that write a
// change's events with it),
// TestOutage for a store behind a network (with its Proxy), RequireEnv for
// tests that need a server, a fake Clock (with Offset, the clock of a node
// ahead or behind it), a recording EventSink, and
// MetaStores that lose or roll back their documents (LosingMeta,
// RollbackMeta).
//
// The suites check what the doc comments of sessiond.Store and its
// extensions promise (store.go and the extensions' files): among
// them that a refresh token never forks (a swap is a compare-and-swap,
// and a swap within grace retires its siblings), that every way a store
// revokes (Revoke, RevokeSubject, evictions, the recorders, the batches,
// the kill switch) reaches Revocations and the feed, that subjects and
// one-time keys are matched byte for byte, that expiries are exclusive,
// that times keep their microseconds, that copies are returned and kept,
// and that a call cut by its context fails with that context's error.
//
// The suites are themselves tested against mutants (mutants_test.go):
// memory stores that each break one documented rule the way an
// implementer might (a rotation checked then written in two steps, a
// revocation missing from the log, an activity write that undoes a
// revocation made between its read and its write, a page boundary that skips a tie, a
// case-insensitive collation, an error reported as "not found", times in
// milliseconds…). TestStore must fail on every one of them, with the
// check meant to catch it; a rule no mutant breaks yet is a place to add
// one.
package sessiondtest
