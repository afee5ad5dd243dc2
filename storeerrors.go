package sessiond

import "errors"

// storeFailures is Options.StoreErrorObserver: it is told of each store
// call the Manager makes that fails because the store is unavailable. A
// nil one is told nothing.
type storeFailures func(op string, err error)

// check tells f of err, the error of the store call op (the Store method
// in snake_case), when it matches ErrStoreUnavailable, and returns err as
// it is. Any other error (ErrNotFound, ErrRevoked, ErrConflict…) is an
// answer from a store that works, not a failure of it. It is inlined: a
// call that succeeds pays one comparison.
func (f storeFailures) check(op string, err error) error {
	if err != nil && f != nil {
		f.report(op, err)
	}
	return err
}

func (f storeFailures) report(op string, err error) {
	if errors.Is(err, ErrStoreUnavailable) {
		f(op, err)
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
