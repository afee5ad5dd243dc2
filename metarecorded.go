package sessiond

import "context"

// MetaChangeRecorder is implemented by a ChangeEventWriter that also writes
// the records of a shared document's change (the API key set's: a key
// created, its scopes changed, a key revoked) in the change's own
// transaction (while WritesChangeEvents reports true). The API key set
// uses it (for the server's API and console, and the CLI); without it those events are recorded after the change, and
// a store that fails in between (a full disk) keeps the change without
// its event.
type MetaChangeRecorder interface {
	ChangeEventWriter
	// PutMetaRecorded stores value as MetaStore.PutMeta does and, in the
	// same transaction, rec. ErrConflict if the document's version is no
	// longer version, ErrInvalidArgument if the store refuses a record:
	// in each case nothing is written, records included.
	PutMetaRecorded(ctx context.Context, name string, value []byte, version int64, rec ChangeRecords) (int64, error)
}
