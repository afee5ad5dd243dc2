package memstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"

	"github.com/sessiond/sessiond/internal/testenv"
)

// BenchmarkLookup measures Store.Lookup of an existing token among 10,000
// sessions: the store's share of a database-strategy verify.
func BenchmarkLookup(b *testing.B) {
	ctx := context.Background()
	st := memstore.New()
	defer st.Close()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	var hashes []sessiond.TokenHash
	for i := range 10_000 {
		s, tok := testenv.BenchSession(i, now)
		if err := st.Create(ctx, s, tok); err != nil {
			b.Fatal(err)
		}
		hashes = append(hashes, tok.Hash)
	}
	h := hashes[len(hashes)/2]
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := st.Lookup(ctx, h); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLookupParallel is BenchmarkLookup from every P at once, to show
// the read lock does not serialise verifies.
func BenchmarkLookupParallel(b *testing.B) {
	ctx := context.Background()
	st := memstore.New()
	defer st.Close()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := &sessiond.Session{ID: sessiond.NewSessionID(), Subject: "alice", ExpiresAt: now.Add(time.Hour), Claims: []byte(`{"role":"admin"}`)}
	h := sessiond.HashToken("token")
	if err := st.Create(ctx, s, sessiond.Token{Hash: h, Kind: sessiond.KindAccess, SessionID: s.ID}); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	testenv.ParallelOps(b, func(int) error {
		_, _, err := st.Lookup(ctx, h)
		return err
	})
}

// BenchmarkRevokeMatchingAll1M times the kill switch over 1,000,000 live
// sessions of 250,000 subjects (the load is outside the timer).
func BenchmarkRevokeMatchingAll1M(b *testing.B) {
	if testing.Short() {
		b.Skip("loads 1M sessions")
	}
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	for b.Loop() {
		b.StopTimer()
		st := memstore.New()
		for i := range 1_000_000 {
			s := &sessiond.Session{ID: sessiond.NewSessionID(), Subject: fmt.Sprintf("user-%d", i%250_000),
				Strategy: sessiond.StrategyHybrid, CreatedAt: now, LastActiveAt: now,
				IdleExpiresAt: now.Add(time.Hour), ExpiresAt: now.Add(8 * time.Hour)}
			if err := st.Create(ctx, s); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		n, subjects, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, now.Add(time.Second), sessiond.ReasonIncident)
		if err != nil || n != 1_000_000 || len(subjects) != 250_000 {
			b.Fatalf("RevokeMatching = %d, %d subjects, %v", n, len(subjects), err)
		}
	}
}
