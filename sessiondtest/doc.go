// Package sessiondtest holds test kits for sessiond, imported only by
// _test.go files (like net/http/httptest): one conformance suite per store
// interface (TestStore, which runs the suite of each optional interface a
// store implements, and TestLimiter, TestMetaStore, TestMetaDeleter, TestEventLog,
// TestOutbox, TestBulkRevoker, TestLiveCounter, TestReplayGuard,
// TestWindowCounter, TestRevocationNotifier with the MetaNotifier cases),
// RequireEnv for tests that need a server, a fake Clock and a recording
// EventSink.
package sessiondtest
