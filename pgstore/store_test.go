package pgstore_test

import (
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

func conformingStore(t *testing.T) sessiond.Store {
	st, _ := newStore(t, pgstore.Options{})
	return st
}

func TestStore(t *testing.T) {
	testDSN(t) // skip once, not in every subtest
	sessiondtest.TestStore(t, conformingStore)
}

// TestRevocationNotifier runs the feed suite across two nodes (two stores
// on one schema).
func TestRevocationNotifier(t *testing.T) {
	testDSN(t)
	sessiondtest.TestRevocationNotifier(t, conformingStore, func(t *testing.T, st sessiond.Store) sessiond.Store {
		node, _ := newStore(t, pgstore.Options{Schema: pgstore.SchemaOf(st.(*pgstore.Store))})
		return node
	})
}
