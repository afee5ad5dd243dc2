package sessiond

import (
	"context"
	"fmt"
	"time"
)

// SubjectBatchRevoker is an optional Store extension: a subject's sessions
// revoked a batch at a time, each batch one atomic step with its records,
// for a store where one transaction over all of a subject's sessions would
// hold it for long (Redis runs one script at a time: one over 100,000
// sessions held every client of every node for seconds). When the store
// has it, Manager.RevokeSubject walks the subject with it, the records of
// each batch written with the batch when the store writes change events
// (SubjectChangeRecorder's job otherwise), and reads no clients first
// (SubjectClientLister's): each batch names its sessions' clients. The
// Manager's memory then follows the batch, not the subject.
//
// redisstore implements it; memstore, sqlitestore and pgstore, whose one
// transaction holds up no other client for long, do not.
// sessiondtest.TestSubjectBatchRevoker is its conformance suite, which
// TestStore runs when a store implements it.
type SubjectBatchRevoker interface {
	// RevokeSubjectBatch revokes, in one atomic step, up to limit of
	// subject's sessions live at `at` (not revoked, before both expiries),
	// except `except` (may be empty), the first in the store's order after
	// cursor ("" = from the start; otherwise what a call for the same
	// subject, except and at returned), and returns them, the clients they
	// were issued to (same order), and the cursor after them ("" when the
	// walk is done). A store may revoke fewer than limit, even none, and
	// still return a cursor: it bounds its own steps (redisstore revokes
	// at most 128 and reads at most four times as many sessions a step). A
	// walk from "" until the cursor is "" revokes every session live for
	// the whole walk, each once, however many walks run at once; one
	// created or revoked meanwhile may or may not be included, and logins
	// made meanwhile do not keep the walk from ending.
	//
	// When revoked is not nil and the call revokes at least one session,
	// it stores revoked(revs, clients, more) in the same atomic step, more
	// telling whether live sessions remain after this batch (false: the
	// cursor returned is ""). A store that learns which sessions it
	// revokes only as it revokes them calls revoked again when the set
	// changed before the write (as RevokeSubjectRecorded does) and stores
	// what the last call returned; it does not call it when it revokes
	// none.
	//
	// ErrInvalidArgument, and nothing changes, for a limit below 1 or a
	// cursor that is not of the store's form or not for this subject. A
	// cursor is trusted beyond that (the store need not tell one it
	// returned from one made to look like it: a made-up position skips
	// sessions; redisstore's are signed and it refuses one it did not
	// return), so it must come from the previous call of the same walk,
	// as the Manager's loop passes it, never from a client. On an error
	// nothing of this batch is stored, records included, and it returns no
	// revocations; except when the batch was committed with its records
	// and a later step of it failed (redisstore on a Cluster: recording
	// the revocations for the other nodes, in another slot, which it then
	// does with a later call): then it returns the batch's revocations,
	// clients and cursor with the error, and the caller counts them as
	// revoked and stops the walk.
	RevokeSubjectBatch(ctx context.Context, subject string, except SessionID, at time.Time, reason RevokeReason,
		cursor string, limit int, revoked func(revs []Revocation, clients []Client, more bool) ChangeRecords) (
		revs []Revocation, clients []Client, next string, err error)
}

// subjectBatch is how many sessions RevokeSubject asks a SubjectBatchRevoker
// to revoke a step: redisstore's bound, about 1–3 ms of Redis a script.
const subjectBatch = 128

// revokeSubjectBatches is RevokeSubject through a SubjectBatchRevoker: a
// walk of batches, each committed with its events (written with it when
// the Manager can hand the store its records), the bulk event with the
// last. It holds one batch at a time. A walk that fails part way returns
// what it revoked with the error, after recording the bulk event with
// that count and the error: the batches before it are revoked and stay so.
func (m *Manager) revokeSubjectBatches(ctx context.Context, br SubjectBatchRevoker, subject string, except SessionID,
	now time.Time, reason RevokeReason) (int, error) {
	_, recorded := m.recorder()
	var (
		n        int
		cursor   string
		bulkDone bool // the bulk event went with a batch
	)
	for {
		var (
			evs      []carried // of the last call of revoked: one per revocation, then the bulk event when withBulk
			withBulk bool
			revoked  func([]Revocation, []Client, bool) ChangeRecords
		)
		if recorded {
			revoked = func(revs []Revocation, clients []Client, more bool) ChangeRecords {
				withBulk = !more && !bulkDone
				es := make([]Event, 0, len(revs)+1)
				for i, r := range revs {
					es = append(es, subjectRevokedEvent(r, reason, clientAt(clients, i)))
				}
				if withBulk {
					es = append(es, bulkRevokedEvent(subject, except, reason, n+len(revs)))
				}
				var out ChangeRecords
				evs, out = m.prepareAll(ctx, es)
				return out
			}
		}
		revs, clients, next, err := br.RevokeSubjectBatch(ctx, subject, except, now, reason, cursor, subjectBatch, revoked)
		if err != nil && len(revs) == 0 {
			return n, m.batchesFailed(ctx, subject, except, reason, n, bulkDone, err)
		}
		// With an error too: the batch is revoked and its records stored
		// (a later step of it failed), and a second call does not report
		// it again.
		if len(revs) > 0 {
			if recorded && (evs == nil || len(evs) != len(revs)+btoi(withBulk)) {
				// The store broke its contract (revoked not called with
				// what it returns): record the events after the change
				// rather than lose them.
				m.log.ErrorContext(ctx, "revoke subject: store did not record the revocations it returned", "subject", subject)
				recorded, withBulk = false, false
				evs = nil
			}
			for i, r := range revs {
				m.NoteRevoked(r)
				if evs == nil {
					m.emit(ctx, subjectRevokedEvent(r, reason, clientAt(clients, i)))
					continue
				}
				evs[i].written = evs[i].ok
				m.committed(ctx, &evs[i])
			}
			n += len(revs)
			if withBulk {
				bulk := &evs[len(revs)]
				bulk.written = bulk.ok
				m.committed(ctx, bulk)
				bulkDone = true
			}
		}
		if err != nil {
			return n, m.batchesFailed(ctx, subject, except, reason, n, bulkDone, err)
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if n > 0 && !bulkDone {
		// The last batch revoked none (the sessions it found ended
		// meanwhile), or the events go after the change.
		m.emit(ctx, bulkRevokedEvent(subject, except, reason, n))
	}
	return n, nil
}

// batchesFailed is the error of a walk that failed after revoking n
// sessions: the batches before stay revoked, and a second call does not
// report them again, so the bulk event records them now, with the error,
// unless it went with a batch.
func (m *Manager) batchesFailed(ctx context.Context, subject string, except SessionID, reason RevokeReason, n int, bulkDone bool, err error) error {
	err = fmt.Errorf("sessiond: revoke subject: %w", m.storeErr.check("revoke_subject", err))
	if n > 0 && !bulkDone {
		e := bulkRevokedEvent(subject, except, reason, n)
		e.Details["error"] = err.Error()
		m.emit(ctx, e)
	}
	return err
}

// clientAt is clients[i], or the zero Client when a store returned fewer.
func clientAt(clients []Client, i int) Client {
	if i < len(clients) {
		return clients[i]
	}
	return Client{}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
