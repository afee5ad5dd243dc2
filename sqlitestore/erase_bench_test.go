package sqlitestore

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// BenchmarkEraseGCPass: one collector pass over 1,000 expired sessions
// (with a browser's client) beside 20,000 live ones, then the checkpoint
// after it, which erases what the pass deleted (secure_delete, the -wal
// truncated): docs/PERFORMANCE.md, "SQLite: deleted rows erased".
func BenchmarkEraseGCPass(b *testing.B) {
	ctx := b.Context()
	s, err := newStore(ctx, filepath.Join(b.TempDir(), "gc.db"), Options{}, checkpointing{every: time.Hour, restartFrames: restartFrames})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	// 20,000 live sessions the collector leaves alone.
	mk := func(i int, end time.Time) {
		sess := &sessiond.Session{ID: sessiond.NewSessionID(), Subject: fmt.Sprintf("user-%d", i), Strategy: sessiond.StrategyHybrid,
			CreatedAt: now.Add(-2 * time.Hour), LastActiveAt: now.Add(-2 * time.Hour), IdleExpiresAt: end, ExpiresAt: end,
			Client: sessiond.Client{IP: "198.51.100.77", UserAgent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"}}
		if err := s.Create(ctx, sess, sessiond.Token{Hash: sessiond.HashToken(sessiond.Secret(sess.ID)), Kind: sessiond.KindRefresh,
			SessionID: sess.ID, IssuedAt: sess.CreatedAt, ExpiresAt: end}); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 20000 {
		mk(i, now.Add(24*time.Hour))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		for j := range 1000 {
			mk(100000+j, now.Add(-time.Hour))
		}
		if err := s.checkpointNow(ctx); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if n, err := s.DeleteExpired(ctx, now, 1000); err != nil || n != 1000 {
			b.Fatal(n, err)
		}
		if err := s.checkpointNow(ctx); err != nil {
			b.Fatal(err)
		}
	}
}
