// Package sessiondtest holds test kits for sessiond, imported only by
// _test.go files (like net/http/httptest): one conformance suite per store
// interface (TestStore, which runs the suite of each optional interface a
// store implements, and TestLimiter, TestMetaStore, TestMetaDeleter, TestEventLog,
// TestOutbox, TestBulkRevoker, TestLiveCounter, TestSubjectClientLister,
// TestSubjectPager, TestRevocationPager, TestSubjectBatchRevoker, TestReplayGuard,
// TestAckedReplayGuard, TestWindowCounter, TestRevocationNotifier with the MetaNotifier cases,
// and TestChangeEvents, TestChangeRecorder, TestSubjectChangeRecorder,
// TestTouchRecorder for stores that write a change's events with it),
// TestOutage for a store behind a network (with its Proxy), RequireEnv for
// tests that need a server, a fake Clock (with Offset, the clock of a node
// ahead or behind it), a recording EventSink, and
// MetaStores that lose or roll back their documents (LosingMeta,
// RollbackMeta).
package sessiondtest
