package sessiondtest

import (
	"testing"

	"github.com/sessiond/sessiond"
)

// TestStore is the conformance suite every sessiond.Store must pass. Call it
// from the backend's own test:
//
//	func TestStore(t *testing.T) {
//		sessiondtest.TestStore(t, func(t *testing.T) sessiond.Store {
//			st := memstore.New()
//			t.Cleanup(func() { st.Close() })
//			return st
//		})
//	}
//
// newStore returns a fresh, empty store for one subtest and registers its
// own cleanup (Close, dropping a schema or key prefix). Subtests run in
// parallel, so stores from one factory must not share data. Every time the
// suite hands a store is UTC and truncated to the microsecond; the store
// must give it back unchanged (compared with time.Equal).
//
// TestStore checks the twelve methods of sessiond.Store, then runs the
// suite of each optional interface the store implements (TestLimiter,
// TestMetaStore, TestMetaDeleter, TestReplayGuard, TestAckedReplayGuard,
// TestWindowCounter, TestLiveCounter, TestSubjectClientLister,
// TestSubjectPager, TestRevocationPager, TestSubjectBatchRevoker, TestEventLog, TestOutbox, TestOutboxFencer, TestBulkRevoker,
// TestRevocationNotifier on one node, and, when
// WritesChangeEvents reports true, TestChangeEvents, TestChangeRecorder,
// TestSubjectChangeRecorder, TestTouchRecorder and TestMetaChangeRecorder),
// as testing/fstest checks an optional interface only when it is there.
// opts say what the store does differently where the contract allows it
// (ReplayByStoreClock); they reach the suites TestStore runs. A store with only
// the twelve methods passes.
//
// The rules it checks are those the doc comments of sessiond.Store and its
// methods state (store.go): among them exact subject matching, "live" as
// Session.Live says, what a call cut by its context returns, what Touch
// and SwapRefresh may write, and that every way of revoking reaches
// Revocations. A rule added there gets its case here, and a mutant in
// mutants_test.go that the case catches.
func TestStore(t *testing.T, newStore func(t *testing.T) sessiond.Store, opts ...Option) {
	t.Run("Create", func(t *testing.T) { testCreate(t, newStore) })
	t.Run("Lookup", func(t *testing.T) { testLookup(t, newStore) })
	t.Run("Touch", func(t *testing.T) { testTouch(t, newStore) })
	t.Run("SwapRefresh", func(t *testing.T) { testSwapRefresh(t, newStore) })
	t.Run("ActivityNeverBack", func(t *testing.T) { testActivityNeverBack(t, newStore) })
	t.Run("RevokeRacingActivity", func(t *testing.T) { testRevokeRacingActivity(t, newStore) })
	t.Run("Revoke", func(t *testing.T) { testRevoke(t, newStore) })
	t.Run("RevokeSubject", func(t *testing.T) { testRevokeSubject(t, newStore) })
	t.Run("List", func(t *testing.T) { testList(t, newStore) })
	t.Run("Revocations", func(t *testing.T) { testRevocations(t, newStore) })
	t.Run("DeleteExpired", func(t *testing.T) { testDeleteExpired(t, newStore) })
	t.Run("Copies", func(t *testing.T) { testCopies(t, newStore) })
	t.Run("Ping", func(t *testing.T) {
		f := setup(t, newStore)
		if err := f.st.Ping(f.ctx); err != nil {
			t.Errorf("Ping() = %v; want nil", err)
		}
	})
	t.Run("CanceledContext", func(t *testing.T) { testCanceledContext(t, newStore) })
	t.Run("Closed", func(t *testing.T) { testClosed(t, newStore) })
	t.Run("BadInput", func(t *testing.T) { testBadInput(t, newStore) })
	probe := newStore(t)
	runIfImplemented[sessiond.Limiter](t, "Limiter", probe, newStore, TestLimiter)
	runIfImplemented[sessiond.MetaStore](t, "Meta", probe, newStore, TestMetaStore)
	runIfImplemented[sessiond.MetaDeleter](t, "MetaDeleter", probe, newStore, TestMetaDeleter)
	runIfImplemented[sessiond.ReplayGuard](t, "ReplayGuard", probe, newStore,
		func(t *testing.T, newStore func(t *testing.T) sessiond.Store) { TestReplayGuard(t, newStore, opts...) })
	runIfImplemented[sessiond.AckedReplayGuard](t, "AckedReplayGuard", probe, newStore,
		func(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
			TestAckedReplayGuard(t, newStore, opts...)
		})
	runIfImplemented[sessiond.WindowCounter](t, "WindowCounter", probe, newStore, TestWindowCounter)
	runIfImplemented[sessiond.LiveCounter](t, "LiveCounter", probe, newStore, TestLiveCounter)
	runIfImplemented[sessiond.SubjectClientLister](t, "SubjectClientLister", probe, newStore, TestSubjectClientLister)
	runIfImplemented[sessiond.SubjectPager](t, "SubjectPager", probe, newStore, TestSubjectPager)
	runIfImplemented[sessiond.RevocationPager](t, "RevocationPager", probe, newStore, TestRevocationPager)
	runIfImplemented[sessiond.SubjectBatchRevoker](t, "SubjectBatchRevoker", probe, newStore, TestSubjectBatchRevoker)
	runIfImplemented[sessiond.EventLog](t, "EventLog", probe, newStore, TestEventLog)
	runIfImplemented[eventCountStore](t, "EventCounter", probe, newStore, TestEventCounter)
	runIfImplemented[sessiond.Outbox](t, "Outbox", probe, newStore, TestOutbox)
	runIfImplemented[fencedOutbox](t, "OutboxFencer", probe, newStore, TestOutboxFencer)
	if w, ok := probe.(sessiond.ChangeEventWriter); ok && w.WritesChangeEvents() {
		runIfImplemented[changeEventStore](t, "ChangeEvents", probe, newStore, TestChangeEvents)
		runIfImplemented[changeRecordStore](t, "ChangeRecorder", probe, newStore, TestChangeRecorder)
		runIfImplemented[subjectRecordStore](t, "SubjectChangeRecorder", probe, newStore, TestSubjectChangeRecorder)
		runIfImplemented[touchRecordStore](t, "TouchRecorder", probe, newStore, TestTouchRecorder)
		runIfImplemented[metaRecordStore](t, "MetaChangeRecorder", probe, newStore, TestMetaChangeRecorder)
	}
	runIfImplemented[sessiond.BulkRevoker](t, "BulkRevoker", probe, newStore, TestBulkRevoker)
	runIfImplemented[sessiond.RevocationNotifier](t, "RevocationNotifier", probe, newStore,
		func(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
			TestRevocationNotifier(t, newStore, nil)
		})
}

// runIfImplemented runs suite as subtest name when probe (a store from
// newStore) implements E, and logs that it does not otherwise.
func runIfImplemented[E any](t *testing.T, name string, probe sessiond.Store, newStore func(t *testing.T) sessiond.Store,
	suite func(t *testing.T, newStore func(t *testing.T) sessiond.Store)) {
	t.Helper()
	if !implements[E](probe) {
		t.Logf("%s: not implemented, not checked", name)
		return
	}
	t.Run(name, func(t *testing.T) { suite(t, newStore) })
}
