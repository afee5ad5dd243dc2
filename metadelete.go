package sessiond

import "context"

// MetaDeleter is an optional MetaStore extension: it deletes a shared
// document once nothing needs it, so that documents made per object (the
// poll queue of each Shared Signals stream, ssf.poll.<stream id>) do not
// stay in the store after their object is gone. Like PutMeta, the delete
// is a compare-and-swap on the document's version.
//
// Without it nothing is deleted: the Shared Signals transmitter leaves
// the empty queue document of every poll stream that queued a SET and was
// then deleted, one per stream, for good.
//
// Every store sessiond ships implements it. sessiondtest.TestMetaDeleter
// is its conformance suite, which TestStore runs when a store implements
// it.
type MetaDeleter interface {
	MetaStore
	// DeleteMeta deletes document name if its version is still version
	// (as GetMeta or PutMeta returned it). Otherwise it changes nothing and
	// fails with ErrNotFound when there is no such document, or with
	// ErrConflict when its version moved: a writer that came between the
	// caller's read and the delete keeps its write. A version that is not
	// positive is ErrInvalidArgument.
	//
	// A deleted document reads as missing, and PutMeta with version 0
	// makes it again with versions starting over, so a version read
	// before the delete may come back. Delete only a document that no one
	// writes again while a write prepared before the delete may still be
	// in flight (the transmitter deletes a queue only once its stream is
	// deleted: stream IDs are never reused).
	DeleteMeta(ctx context.Context, name string, version int64) error
}

// CheckMetaVersion checks the version given to MetaDeleter.DeleteMeta: a
// version a document has, so positive.
func CheckMetaVersion(version int64) error {
	if version <= 0 {
		return argError("version", "must be positive, got %d", version)
	}
	return nil
}
