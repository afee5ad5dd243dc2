package memstore_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
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
		s := &sessiond.Session{
			ID: sessiond.NewSessionID(), Subject: fmt.Sprintf("user%d", i%1000), Strategy: sessiond.StrategyDatabase,
			CreatedAt: now, LastActiveAt: now, IdleExpiresAt: now.Add(30 * time.Minute), ExpiresAt: now.Add(8 * time.Hour),
			Client: sessiond.Client{IP: "203.0.113.7", UserAgent: "Mozilla/5.0"},
			Claims: []byte(`{"role":"admin"}`),
		}
		h := sessiond.HashToken(sessiond.Secret(s.ID))
		if err := st.Create(ctx, s, sessiond.Token{Hash: h, Kind: sessiond.KindAccess, SessionID: s.ID, IssuedAt: now, ExpiresAt: s.ExpiresAt}); err != nil {
			b.Fatal(err)
		}
		hashes = append(hashes, h)
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
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, _, err := st.Lookup(ctx, h); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
