package redisstore_test

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

func TestStore(t *testing.T) {
	redisURL(t)
	sessiondtest.TestStore(t, func(t *testing.T) sessiond.Store { return newStore(t, redisstore.Options{}) }, sessiondtest.ReplayByStoreClock())
}

func TestStore_WithClientCache(t *testing.T) {
	redisURL(t)
	sessiondtest.TestStore(t, func(t *testing.T) sessiond.Store {
		return newStore(t, redisstore.Options{ClientCache: time.Minute})
	}, sessiondtest.ReplayByStoreClock())
}

// TestRevocationNotifier runs the feed suite across two nodes (two stores
// on one key prefix).
func TestRevocationNotifier(t *testing.T) {
	redisURL(t)
	sessiondtest.TestRevocationNotifier(t, func(t *testing.T) sessiond.Store { return newStore(t, redisstore.Options{}) },
		func(t *testing.T, st sessiond.Store) sessiond.Store {
			return newStore(t, redisstore.Options{Prefix: redisstore.PrefixOf(st.(*redisstore.Store))})
		})
}
