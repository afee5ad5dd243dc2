package pgstore_test

import (
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

func TestStore(t *testing.T) {
	testDSN(t) // skip once, not in every subtest
	sessiondtest.TestStore(t, func(t *testing.T) sessiond.Store {
		st, _ := newStore(t, pgstore.Options{})
		return st
	})
}
