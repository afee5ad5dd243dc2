package sqlitestore

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// TestDeleteExpiredTransactions: DeleteExpired deletes its limit in write
// transactions of at most gcTxRows sessions each, so the one writer is
// never held by garbage collection for long: logins and refreshes queue
// behind at most one small transaction (grouped with it at worst). One
// transaction of 1,000 sessions of a 2,500,000-session file held the
// writer about a second: logins waited up to 4 s while 504,000 expired
// sessions were deleted, and the server's throughput fell from about
// 4,000 requests a second to 54-227.
func TestDeleteExpiredTransactions(t *testing.T) {
	ctx := context.Background()
	s, err := New(ctx, filepath.Join(t.TempDir(), "gc.db"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var txs []int
	s.onDeleteExpired = func(n int) { txs = append(txs, n) }

	now := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	const expired = 2*gcTxRows + 10
	for i := range expired + 5 {
		end := now.Add(-time.Minute) // expired
		if i >= expired {
			end = now.Add(time.Hour)
		}
		sess := &sessiond.Session{ID: sessiond.NewSessionID(), Subject: fmt.Sprintf("user-%d", i%7), Strategy: sessiond.StrategyHybrid,
			CreatedAt: now.Add(-2 * time.Hour), LastActiveAt: now.Add(-2 * time.Hour), IdleExpiresAt: end, ExpiresAt: now.Add(8 * time.Hour)}
		if err := s.Create(ctx, sess, sessiond.Token{Hash: sessiond.HashToken(sessiond.Secret(sess.ID)), Kind: sessiond.KindRefresh,
			SessionID: sess.ID, IssuedAt: sess.CreatedAt, ExpiresAt: end}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.DeleteExpired(ctx, now, 1000)
	if err != nil || n != expired {
		t.Fatalf("DeleteExpired(limit 1000) = %d, %v; want %d", n, err, expired)
	}
	if want := []int{gcTxRows, gcTxRows, 10}; !slices.Equal(txs, want) {
		t.Errorf("sessions deleted per write transaction = %v; want %v", txs, want)
	}
	// The limit holds across the transactions.
	txs = nil
	if n, err := s.DeleteExpired(ctx, now.Add(2*time.Hour), 3); err != nil || n != 3 || !slices.Equal(txs, []int{3}) {
		t.Errorf("DeleteExpired(limit 3) = %d, %v, transactions %v; want 3, one of 3", n, err, txs)
	}
}
