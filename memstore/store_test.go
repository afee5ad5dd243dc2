package memstore_test

import (
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

func TestStore(t *testing.T) {
	sessiondtest.TestStore(t, func(t *testing.T) sessiond.Store {
		st := memstore.New()
		t.Cleanup(func() { st.Close() })
		return st
	})
}
