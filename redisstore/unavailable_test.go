package redisstore_test

import (
	"errors"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sessiondtest"
)

// redisUpstream is the host:port of the test Redis.
func redisUpstream(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(redisURL(t))
	if err != nil {
		t.Fatalf("parse SESSIOND_TEST_REDIS_URL: %v", err)
	}
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "6379")
	}
	return u.Host
}

// openVia opens a store on the test Redis through addr (a proxy), on a
// fresh prefix unless opts names one, closed and wiped when the test ends.
func openVia(t *testing.T, addr string, opts redisstore.Options) *redisstore.Store {
	t.Helper()
	u, err := url.Parse(redisURL(t))
	if err != nil {
		t.Fatalf("parse SESSIOND_TEST_REDIS_URL: %v", err)
	}
	u.Host = addr
	if opts.Prefix == "" {
		opts.Prefix = randomPrefix()
	}
	st, err := redisstore.New(t.Context(), u.String(), opts)
	if err != nil {
		t.Fatalf("New(through proxy) = %v", err)
	}
	t.Cleanup(func() { st.Close(); wipe(t, redisURL(t), opts.Prefix) })
	return st
}

func TestOutage(t *testing.T) {
	singleRedis(t)
	sessiondtest.TestOutage(t, redisUpstream(t), func(t *testing.T, addr string) sessiond.Store {
		return openVia(t, addr, redisstore.Options{ClientCache: time.Minute})
	})
}

// TestFeedWake: the feed, whose backoff reaches feedMaxDelay (2 s),
// resubscribes and resyncs as soon as the store's client sees Redis
// answer again.
func TestFeedWake(t *testing.T) {
	singleRedis(t)
	sessiondtest.TestFeedWake(t, redisUpstream(t), 2*time.Second, func(t *testing.T, addr string, log *slog.Logger) (sessiond.Store, sessiond.Store) {
		prefix := randomPrefix()
		behind := openVia(t, addr, redisstore.Options{Prefix: prefix, Logger: log})
		direct := newStore(t, redisstore.Options{Prefix: prefix})
		return behind, direct
	})
}

// TestStore_Unavailable checks that an unreachable Redis is
// ErrStoreUnavailable (never ErrNotFound or success), that calls fail
// rather than hang, and that the store recovers by itself.
func TestStore_Unavailable(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	t.Run("New", func(t *testing.T) {
		t.Parallel()
		_, err := redisstore.New(ctx, "redis://127.0.0.1:1/0", redisstore.Options{})
		if !errors.Is(err, sessiond.ErrStoreUnavailable) {
			t.Errorf("New(127.0.0.1:1) = %v; want ErrStoreUnavailable", err)
		}
	})
	t.Run("BadOptions", func(t *testing.T) {
		t.Parallel()
		for _, c := range []struct {
			url  string
			opts redisstore.Options
		}{
			{"http://127.0.0.1:6379", redisstore.Options{}},
			{"redis://user:s3cret@127.0.0.1:6379/x", redisstore.Options{}},
			{"redis://127.0.0.1:6379/0", redisstore.Options{Prefix: "a{b}"}},
			{"redis://127.0.0.1:6379/0", redisstore.Options{ClientCache: -time.Second}},
		} {
			_, err := redisstore.New(ctx, c.url, c.opts)
			if !errors.Is(err, sessiond.ErrInvalidArgument) {
				t.Errorf("New(%q, %+v) = %v; want ErrInvalidArgument", c.url, c.opts, err)
			}
			if err != nil && strings.Contains(err.Error(), "s3cret") {
				t.Errorf("New() error %q contains the password", err)
			}
		}
	})
	t.Run("CachedLookupDuringOutage", func(t *testing.T) {
		singleRedis(t)
		t.Parallel()
		p := sessiondtest.NewProxy(t, redisUpstream(t))
		prefix := randomPrefix()
		st := openVia(t, p.Addr(), redisstore.Options{Prefix: prefix, ClientCache: time.Minute})
		t0 := now()
		// A token another node created, looked up through the proxied store
		// so its session sits in the client-side cache.
		direct := newStore(t, redisstore.Options{Prefix: prefix})
		s := newSession("bob", t0)
		tok := newToken(sessiond.KindAccess, s.ID, t0)
		if err := direct.Create(ctx, s, tok); err != nil {
			t.Fatalf("Create() = %v", err)
		}
		if _, _, err := st.Lookup(ctx, tok.Hash); err != nil {
			t.Fatalf("Lookup() = %v", err)
		}
		if hit, err := redisstore.LookupCached(ctx, st, tok.Hash); err != nil || !hit {
			t.Fatalf("LookupCached() = %t, %v; want true", hit, err)
		}

		p.Down()
		// Losing the connection flushes the client-side cache: with Redis
		// gone, a cached session is not served (fail closed) once rueidis
		// has seen the connection close.
		if !eventually(2*time.Second, func() bool {
			_, _, err := st.Lookup(ctx, tok.Hash)
			return errors.Is(err, sessiond.ErrStoreUnavailable)
		}) {
			t.Error("cached Lookup() still answers 2s after Redis went away; want ErrStoreUnavailable")
		}
		p.Up(t)
		if !eventually(10*time.Second, func() bool { return st.Ping(ctx) == nil }) {
			t.Fatal("Ping() still failing 10s after Redis came back")
		}
		if _, got, err := st.Lookup(ctx, tok.Hash); err != nil || got.ID != s.ID {
			t.Errorf("Lookup() after recovery = %v, %v; want the session", got, err)
		}
	})
}
