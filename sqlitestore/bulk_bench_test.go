package sqlitestore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
)

// BenchmarkRevokeMatchingAll1M is the incident kill switch on 1,000,000
// live sessions of 250,000 subjects: RevokeMatching{All} and its RETURNING
// of every subject. Building the database takes longer than the revocation;
// each iteration un-revokes every session again, off the clock. Run it with
//
//	go test -run '^$' -bench RevokeMatchingAll1M -benchtime 1x ./sqlitestore
func BenchmarkRevokeMatchingAll1M(b *testing.B) {
	if testing.Short() {
		b.Skip("builds a database of 1,000,000 sessions (about 30 s)")
	}
	const sessions, subjects = 1_000_000, 250_000
	ctx := context.Background()
	st := open(b, filepath.Join(b.TempDir(), "bench.db"))
	db := st.DB()

	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO sessions (id, subject, strategy, created_at, last_active_at,
			idle_expires_at, expires_at, persistent, client_ip, client_ua, claims, revoked_at, revoke_reason)
		VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, NULL, '')`)
	if err != nil {
		b.Fatal(err)
	}
	claims := []byte(`{"role":"admin","tenant":"acme"}`)
	for i := range sessions {
		created := t0.Add(time.Duration(i) * time.Millisecond)
		if _, err := ins.ExecContext(ctx, string(sessiond.NewSessionID()), fmt.Sprintf("user%06d", i%subjects),
			string(sessiond.StrategyHybrid), created.UnixMicro(), created.UnixMicro(),
			created.Add(24*time.Hour).UnixMicro(), created.Add(30*24*time.Hour).UnixMicro(),
			"203.0.113.7", "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0", claims); err != nil {
			b.Fatal(err)
		}
	}
	if err := ins.Close(); err != nil {
		b.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}

	at := t0.Add(time.Hour)
	b.ReportAllocs()
	for b.Loop() {
		n, subs, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, at, sessiond.ReasonIncident)
		if err != nil || n != sessions || len(subs) != subjects {
			b.Fatalf("RevokeMatching(all) = %d, %d subjects, %v; want %d, %d, nil", n, len(subs), err, sessions, subjects)
		}
		b.StopTimer()
		if _, err := db.ExecContext(ctx, `UPDATE sessions SET revoked_at = NULL, revoke_reason = ''`); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
