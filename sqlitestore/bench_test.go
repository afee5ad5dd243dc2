package sqlitestore_test

import (
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sqlitestore"

	"github.com/sessiond/sessiond/internal/testenv"
)

const benchSessions = 10_000

// benchStore returns a store holding benchSessions sessions, each with an
// access and a refresh token, and the first session's tokens.
func benchStore(b *testing.B) (st *sqlitestore.Store, s *sessiond.Session, access, refresh sessiond.Token) {
	b.Helper()
	ctx := context.Background()
	st = open(b, filepath.Join(b.TempDir(), "bench.db"))
	for i := range benchSessions {
		sess := &sessiond.Session{
			ID: sessiond.NewSessionID(), Subject: fmt.Sprintf("user%d", i%1000), Strategy: sessiond.StrategyDatabase,
			CreatedAt: t0, LastActiveAt: t0, IdleExpiresAt: t0.Add(30 * time.Minute), ExpiresAt: t0.Add(8 * time.Hour),
			Client: sessiond.Client{IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"},
			Claims: []byte(`{"role":"admin","tenant":"acme"}`),
		}
		a := token(sessiond.KindAccess, sess.ID, "access"+string(sess.ID))
		r := token(sessiond.KindRefresh, sess.ID, "refresh"+string(sess.ID))
		if err := st.Create(ctx, sess, a, r); err != nil {
			b.Fatal(err)
		}
		if i == benchSessions/2 {
			s, access, refresh = sess, a, r
		}
	}
	return st, s, access, refresh
}

// BenchmarkLookup is Store.Lookup of an existing token among 10,000
// sessions: the store's share of a database-strategy verify.
func BenchmarkLookup(b *testing.B) {
	st, _, access, _ := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := st.Lookup(ctx, access.Hash); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawSelect is the floor Lookup is measured against: a primary-key
// select of the same session columns on the same database through
// database/sql, unprepared, scanned into plain variables.
func BenchmarkRawSelect(b *testing.B) {
	st, s, _, _ := benchStore(b)
	db := st.DB()
	ctx := context.Background()
	id := string(s.ID)
	var (
		sid, subject, strategy, ip, ua, reason   string
		created, last, idle, expires, persistent int64
		revoked                                  sql.NullInt64
		claims                                   []byte
	)
	b.ReportAllocs()
	for b.Loop() {
		err := db.QueryRowContext(ctx, `SELECT id, subject, strategy, created_at, last_active_at, idle_expires_at,
			expires_at, persistent, client_ip, client_ua, claims, revoked_at, revoke_reason FROM sessions WHERE id = ?`, id).
			Scan(&sid, &subject, &strategy, &created, &last, &idle, &expires, &persistent, &ip, &ua, &claims, &revoked, &reason)
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupParallel is BenchmarkLookup from every P at once.
func BenchmarkLookupParallel(b *testing.B) {
	st, _, access, _ := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	testenv.ParallelOps(b, func(int) error {
		_, _, err := st.Lookup(ctx, access.Hash)
		return err
	})
}

// BenchmarkCreate stores one session with an access and a refresh token.
func BenchmarkCreate(b *testing.B) {
	st, _, _, _ := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		s := &sessiond.Session{
			ID: sessiond.NewSessionID(), Subject: "alice", Strategy: sessiond.StrategyDatabase,
			CreatedAt: t0, LastActiveAt: t0, IdleExpiresAt: t0.Add(30 * time.Minute), ExpiresAt: t0.Add(8 * time.Hour),
			Client: sessiond.Client{IP: "203.0.113.7", UserAgent: "Mozilla/5.0"}, Claims: []byte(`{"role":"admin"}`),
		}
		a, r := token(sessiond.KindAccess, s.ID, "a"+string(s.ID)), token(sessiond.KindRefresh, s.ID, "r"+string(s.ID))
		if err := st.Create(ctx, s, a, r); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSwapRefresh rotates one session's refresh token over and over,
// each swap retiring the token the previous one stored.
func BenchmarkSwapRefresh(b *testing.B) {
	st, s, _, refresh := benchStore(b)
	ctx := context.Background()
	old := refresh.Hash
	var n uint64
	now := t0
	b.ReportAllocs()
	for b.Loop() {
		n++
		now = now.Add(time.Microsecond)
		next := sessiond.Token{Hash: old, Kind: sessiond.KindRefresh, SessionID: s.ID, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
		binary.BigEndian.PutUint64(next.Hash[:8], n)
		next.Hash[8] ^= 0xff // never equal to the first token's hash
		err := st.SwapRefresh(ctx, sessiond.RefreshSwap{Old: old, Next: next, Now: now, GraceSince: now,
			LastActiveAt: now, IdleExpiresAt: now.Add(30 * time.Minute)})
		if err != nil {
			b.Fatal(err)
		}
		old = next.Hash
	}
}

// BenchmarkCreateSynchronous is Store.Create on a fresh store with each
// synchronous mode (Options.FullSync), one writer at a time and 32 at once
// (a group commit shares one fsync among the writes it carries): the
// price of store.synchronous full, which is the disk's fsync.
func BenchmarkCreateSynchronous(b *testing.B) {
	for _, full := range []bool{false, true} {
		for _, writers := range []int{1, 32} {
			b.Run(fmt.Sprintf("%s/writers=%d", map[bool]string{false: "normal", true: "full"}[full], writers), func(b *testing.B) {
				st, err := sqlitestore.New(context.Background(), filepath.Join(b.TempDir(), "bench.db"), sqlitestore.Options{FullSync: full})
				if err != nil {
					b.Fatal(err)
				}
				defer st.Close()
				create := func() {
					s := &sessiond.Session{
						ID: sessiond.NewSessionID(), Subject: "alice", Strategy: sessiond.StrategyDatabase,
						CreatedAt: t0, LastActiveAt: t0, IdleExpiresAt: t0.Add(30 * time.Minute), ExpiresAt: t0.Add(8 * time.Hour),
						Client: sessiond.Client{IP: "203.0.113.7", UserAgent: "Mozilla/5.0"}, Claims: []byte(`{"role":"admin"}`),
					}
					a, r := token(sessiond.KindAccess, s.ID, "a"+string(s.ID)), token(sessiond.KindRefresh, s.ID, "r"+string(s.ID))
					if err := st.Create(context.Background(), s, a, r); err != nil {
						b.Error(err)
					}
				}
				b.ReportAllocs()
				if writers == 1 {
					for b.Loop() {
						create()
					}
					return
				}
				b.SetParallelism((writers + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						create()
					}
				})
			})
		}
	}
}
