package sessiondtest

import (
	"testing"

	"github.com/sessiond/sessiond"
)

// metaRecordStore is what TestMetaChangeRecorder needs: a store that
// writes the records of a shared document's change with it, and lets both
// be read back.
type metaRecordStore interface {
	changeEventStore
	sessiond.MetaStore
	sessiond.MetaChangeRecorder
}

// TestMetaChangeRecorder checks a sessiond.MetaChangeRecorder: the events
// and webhook deliveries of a shared document's change (an API key made or
// revoked) are stored when, and only when, the document is; a lost
// compare-and-swap or records the store refuses change nothing at all.
func TestMetaChangeRecorder(t *testing.T, newStore func(t *testing.T) sessiond.Store) {
	runSuite(t, newStore, []subtest[metaRecordStore]{
		{"WritesDocumentAndRecords", recordMetaWrites},
		{"ConflictWritesNothing", recordMetaConflictWritesNothing},
		{"BadRecordsChangeNothing", recordMetaBadChangesNothing},
	})
}

// metaRecords returns records of a change of a shared document, found back
// by the session ID of their event (no session of that ID is stored).
func metaRecords() (sessiond.SessionID, sessiond.ChangeRecords) {
	s := NewSession("alice", t0)
	return s.ID, records(sessiond.EventAPIKeyCreated, s, t0)
}

// wantMetaDoc fails t unless document name holds value at version.
func wantMetaDoc(t *testing.T, f *fixture, st metaRecordStore, op, name, value string, version int64) {
	t.Helper()
	got, v, err := st.GetMeta(f.ctx, name)
	if err != nil || string(got) != value || v != version {
		t.Errorf("%s: GetMeta(%q) = %s, %d, %v; want %s, %d", op, name, got, v, err, value, version)
	}
}

func recordMetaWrites(t *testing.T, f *fixture, st metaRecordStore) {
	id, rec := metaRecords()
	v1, err := st.PutMetaRecorded(f.ctx, "keys", []byte(`{"a":1}`), 0, rec)
	if err != nil || v1 == 0 {
		t.Fatalf("PutMetaRecorded(new) = %d, %v; want a version, nil", v1, err)
	}
	wantMetaDoc(t, f, st, "PutMetaRecorded(new)", "keys", `{"a":1}`, v1)
	wantRecords(t, f, st, "PutMetaRecorded(new)", id, rec)
	id2, rec2 := metaRecords()
	v2, err := st.PutMetaRecorded(f.ctx, "keys", []byte(`{"a":2}`), v1, rec2)
	if err != nil || v2 == v1 {
		t.Fatalf("PutMetaRecorded(v1) = %d, %v; want a new version, nil", v2, err)
	}
	wantMetaDoc(t, f, st, "PutMetaRecorded(v1)", "keys", `{"a":2}`, v2)
	wantRecords(t, f, st, "PutMetaRecorded(v1)", id2, rec2)
	// Without records it is PutMeta.
	v3, err := st.PutMetaRecorded(f.ctx, "keys", []byte(`{"a":3}`), v2, sessiond.ChangeRecords{})
	if err != nil || v3 == v2 {
		t.Fatalf("PutMetaRecorded(no records) = %d, %v; want a new version, nil", v3, err)
	}
	wantMetaDoc(t, f, st, "PutMetaRecorded(no records)", "keys", `{"a":3}`, v3)
}

func recordMetaConflictWritesNothing(t *testing.T, f *fixture, st metaRecordStore) {
	v1, err := st.PutMeta(f.ctx, "keys", []byte(`{"a":1}`), 0)
	if err != nil {
		t.Fatalf("PutMeta = %v", err)
	}
	for _, tc := range []struct {
		name    string
		version int64
	}{
		{"ExistsVersion0", 0},
		{"StaleVersion", v1 + 7},
	} {
		id, rec := metaRecords()
		_, err := st.PutMetaRecorded(f.ctx, "keys", []byte(`{"a":2}`), tc.version, rec)
		wantErr(t, tc.name+": PutMetaRecorded", err, sessiond.ErrConflict)
		wantMetaDoc(t, f, st, tc.name, "keys", `{"a":1}`, v1)
		wantNoRecords(t, f, st, tc.name, id)
	}
	// A stale version of a document that is not there yet.
	id, rec := metaRecords()
	_, err = st.PutMetaRecorded(f.ctx, "absent", []byte(`{}`), 3, rec)
	wantErr(t, "Absent: PutMetaRecorded", err, sessiond.ErrConflict)
	_, _, err = st.GetMeta(f.ctx, "absent")
	wantErr(t, "Absent: GetMeta", err, sessiond.ErrNotFound)
	wantNoRecords(t, f, st, "Absent", id)
}

func recordMetaBadChangesNothing(t *testing.T, f *fixture, st metaRecordStore) {
	v1, err := st.PutMeta(f.ctx, "keys", []byte(`{"a":1}`), 0)
	if err != nil {
		t.Fatalf("PutMeta = %v", err)
	}
	for _, tc := range badRecords {
		for _, doc := range []struct {
			name    string
			version int64
		}{{"keys", v1}, {"new", 0}} {
			id, rec := metaRecords()
			tc.edit(&rec)
			_, err := st.PutMetaRecorded(f.ctx, doc.name, []byte(`{"a":2}`), doc.version, rec)
			wantErr(t, tc.name+": PutMetaRecorded("+doc.name+")", err, sessiond.ErrInvalidArgument)
			wantNoRecords(t, f, st, tc.name, id)
		}
		wantMetaDoc(t, f, st, tc.name, "keys", `{"a":1}`, v1)
		_, _, err := st.GetMeta(f.ctx, "new")
		wantErr(t, tc.name+": GetMeta(new)", err, sessiond.ErrNotFound)
	}
}
