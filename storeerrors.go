package sessiond

import (
	"context"
	"errors"
	"fmt"
)

// storeFailures is Options.StoreErrorObserver: it is told of each store
// call the Manager makes that fails because the store is unavailable, or
// that the store refused with ErrConflict. A nil one is told nothing.
type storeFailures func(op string, err error)

// check tells f of err, the error of the store call op (the Store method
// in snake_case), when it matches ErrStoreUnavailable or ErrConflict, and
// returns err. A call the caller's deadline cut is the store not
// answering in time: a store that returns context.DeadlineExceeded alone
// (one that checks its context before it asks the server, or waits its
// turn in the process) has it returned as ErrStoreUnavailable too, and
// reported. A conflict that reaches check fails the Manager's call (a
// lost compare-and-swap the Manager retries never gets here): the store
// gave up on concurrent changes (a deadlock, a lost serialization, a set
// that kept changing) or found a duplicate, which the API answers as the
// store being unavailable and an operator must be able to see. Any other
// error (ErrNotFound, ErrRevoked…, a canceled context) is returned as it
// is: an answer from a store that works, or a caller that went away, not
// a failure of the store. It is inlined: a call that succeeds pays one
// comparison.
func (f storeFailures) check(op string, err error) error {
	if err != nil {
		return f.report(op, err)
	}
	return nil
}

func (f storeFailures) report(op string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, ErrStoreUnavailable) {
		err = fmt.Errorf("%w: %w", ErrStoreUnavailable, err)
	}
	if f != nil && (errors.Is(err, ErrStoreUnavailable) || errors.Is(err, ErrConflict)) {
		f(op, err)
	}
	return err
}

// settling returns f without conflicts, for a store call whose ErrConflict
// the caller settles by trying again and reports itself if it gives up: a
// keyed login whose generation another login with its key took (the store
// refusing a token hash twice is how that race is decided, not a fault).
func (f storeFailures) settling() storeFailures {
	if f == nil {
		return nil
	}
	return func(op string, err error) {
		if !errors.Is(err, ErrConflict) {
			f(op, err)
		}
	}
}

// createOp is the store method that stores a new session under limit:
// Limiter.CreateLimited for a limit, else Store.Create.
func createOp(limit int) string {
	if limit > 0 {
		return "create_limited"
	}
	return "create"
}
