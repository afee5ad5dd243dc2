package sessiond_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/opaquetoken"

	"github.com/sessiond/sessiond/internal/testenv"
)

// benchManager is newHarness for benchmarks: real clock, no events.
func benchManager(b *testing.B, st sessiond.Strategy, store sessiond.Store, mod func(*sessiond.Options)) *harness {
	b.Helper()
	t := &testing.T{}
	h := newHarness(t, st, func(o *sessiond.Options) {
		o.Clock = sessiond.SystemClock{}
		o.Events = nil
		if store != nil {
			o.Store = store
		}
		if mod != nil {
			mod(o)
		}
	})
	b.Cleanup(func() { h.m.Close() })
	return h
}

// tokens creates n sessions and returns their access tokens, so a benchmark
// presents many different tokens, each many times, as real clients do.
func tokens(b *testing.B, h *harness, n int) []sessiond.Secret {
	out := make([]sessiond.Secret, n)
	for i := range out {
		iss, err := h.m.Create(context.Background(), "bench-user", sessiond.CreateOptions{})
		if err != nil {
			b.Fatal(err)
		}
		out[i] = iss.AccessToken
	}
	return out
}

// warmTokens is tokens, each verified once so that the verify cache holds it.
func warmTokens(b *testing.B, h *harness, n int) []sessiond.Secret {
	toks := tokens(b, h, n)
	for _, t := range toks {
		h.m.Verify(context.Background(), t, sessiond.Client{})
	}
	return toks
}

func benchVerify(b *testing.B, h *harness, toks []sessiond.Secret) {
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, err := h.m.Verify(ctx, toks[i%len(toks)], sessiond.Client{}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkBareSignatureEdDSA is the baseline of the JWT verify benchmarks:
// golang-jwt's EdDSA check of the same token's signature with the same key,
// and nothing else.
func BenchmarkBareSignatureEdDSA(b *testing.B) {
	h := benchManager(b, sessiond.StrategyHybrid, nil, nil)
	tok := string(tokens(b, h, 1)[0])
	var set jose.JSONWebKeySet
	raw, _ := h.ring.JWKS()
	if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) == 0 {
		b.Fatal(err)
	}
	pub := set.Keys[0].Key.(ed25519.PublicKey)
	dot := strings.LastIndexByte(tok, '.')
	sig, err := jwt.NewParser().DecodeSegment(tok[dot+1:])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := jwt.SigningMethodEdDSA.Verify(tok[:dot], sig, pub); err != nil {
			b.Fatal(err)
		}
	}
}

// benchVerifyCold verifies 1000 tokens of strategy st with the verify
// cache off.
func benchVerifyCold(b *testing.B, st sessiond.Strategy) {
	h := benchManager(b, st, nil, func(o *sessiond.Options) { o.VerifyCacheSize = -1 })
	benchVerify(b, h, tokens(b, h, 1000))
}

// benchVerifyWarm verifies 1000 tokens of strategy st, each already in the
// verify cache.
func benchVerifyWarm(b *testing.B, st sessiond.Strategy) {
	h := benchManager(b, st, nil, nil)
	benchVerify(b, h, warmTokens(b, h, 1000))
}

func BenchmarkVerifyHybridCold(b *testing.B) { benchVerifyCold(b, sessiond.StrategyHybrid) }
func BenchmarkVerifyHybridWarm(b *testing.B) { benchVerifyWarm(b, sessiond.StrategyHybrid) }
func BenchmarkVerifyJWTCold(b *testing.B)    { benchVerifyCold(b, sessiond.StrategyJWT) }
func BenchmarkVerifyJWTWarm(b *testing.B)    { benchVerifyWarm(b, sessiond.StrategyJWT) }

func BenchmarkVerifyDatabaseMemory(b *testing.B) {
	h := benchManager(b, sessiond.StrategyDatabase, nil, nil)
	benchVerify(b, h, tokens(b, h, 1000))
}

func BenchmarkVerifyHybridWarmParallel(b *testing.B) {
	h := benchManager(b, sessiond.StrategyHybrid, nil, nil)
	toks := warmTokens(b, h, 1000)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	testenv.ParallelOps(b, func(i int) error {
		_, err := h.m.Verify(ctx, toks[i%len(toks)], sessiond.Client{})
		return err
	})
}

func benchCreate(b *testing.B, st sessiond.Strategy, store sessiond.Store) {
	h := benchManager(b, st, store, nil)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := h.m.Create(ctx, "bench-user", sessiond.CreateOptions{Client: sessiond.Client{IP: "203.0.113.1"}}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCreateDatabaseMemory(b *testing.B) { benchCreate(b, sessiond.StrategyDatabase, nil) }
func BenchmarkCreateHybridMemory(b *testing.B)   { benchCreate(b, sessiond.StrategyHybrid, nil) }
func BenchmarkCreateJWT(b *testing.B)            { benchCreate(b, sessiond.StrategyJWT, nil) }

func benchRefresh(b *testing.B, st sessiond.Strategy, store sessiond.Store, mod ...func(*sessiond.Options)) {
	var m func(*sessiond.Options)
	if len(mod) > 0 {
		m = mod[0]
	}
	h := benchManager(b, st, store, m)
	ctx := context.Background()
	iss, err := h.m.Create(ctx, "bench-user", sessiond.CreateOptions{Persistent: true})
	if err != nil {
		b.Fatal(err)
	}
	rt := iss.RefreshToken
	b.ReportAllocs()
	for b.Loop() {
		next, err := h.m.Refresh(ctx, rt, sessiond.Client{})
		if err != nil {
			b.Fatal(err)
		}
		rt = next.RefreshToken
	}
}

func BenchmarkRefreshHybridMemory(b *testing.B) { benchRefresh(b, sessiond.StrategyHybrid, nil) }
func BenchmarkRefreshJWT(b *testing.B)          { benchRefresh(b, sessiond.StrategyJWT, nil) }

// BenchmarkRefreshHybridMemoryNoGrantCache: the same without the grant
// cache, so the two show what the cache costs where the Lookup is a map read.
func BenchmarkRefreshHybridMemoryNoGrantCache(b *testing.B) {
	benchRefresh(b, sessiond.StrategyHybrid, nil, func(o *sessiond.Options) { o.RefreshCacheSize = -1 })
}

// BenchmarkMemoryPerSession reports the heap bytes one live session (with
// its access or refresh token hash) costs in the memory store, and one
// revoked-set entry costs in a hybrid node.
const cacheN = 5000

// measureN returns the heap growth of fill divided by n.
func measureN(n int, fill func()) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fill()
	runtime.GC()
	runtime.ReadMemStats(&after)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}

func BenchmarkMemoryPerSession(b *testing.B) {
	const n = 100000
	// One measurement whatever b.N is: the figure is bytes, not time.
	{
		store := memstore.New()
		now := time.Now().UTC().Truncate(time.Microsecond)
		perSession := measureN(n, func() {
			for range n {
				tok, hash, _ := opaquetoken.Codec{}.New(sessiond.KindAccess)
				_ = tok
				s := &sessiond.Session{ID: sessiond.NewSessionID(), Subject: "user-" + string(sessiond.NewSessionID()[:8]),
					Strategy: sessiond.StrategyDatabase, CreatedAt: now, LastActiveAt: now, IdleExpiresAt: now.Add(time.Hour),
					ExpiresAt: now.Add(8 * time.Hour), Client: sessiond.Client{IP: "203.0.113.77", UserAgent: strings.Repeat("M", 110)}}
				if err := store.Create(context.Background(), s, sessiond.Token{Hash: hash, Kind: sessiond.KindAccess, SessionID: s.ID, IssuedAt: now, ExpiresAt: s.ExpiresAt}); err != nil {
					b.Fatal(err)
				}
			}
		})
		runtime.KeepAlive(store)

		h := benchManager(b, sessiond.StrategyHybrid, nil, nil)
		perEntry := measureN(n, func() {
			for range n {
				h.m.NoteRevoked(sessiond.Revocation{SessionID: sessiond.NewSessionID(), RevokedAt: now, ExpiresAt: now.Add(time.Hour)})
			}
		})
		if got := h.m.Stats().RevokedSetEntries; got != n {
			b.Fatalf("revoked set holds %d entries; want %d", got, n)
		}
		// Verify cache: the cost of one remembered verification.
		hv := benchManager(b, sessiond.StrategyHybrid, nil, func(o *sessiond.Options) { o.VerifyCacheSize = 2 * cacheN })
		toks := tokens(b, hv, cacheN)
		perCached := measureN(cacheN, func() {
			for _, tok := range toks {
				if _, err := hv.m.Verify(context.Background(), tok, sessiond.Client{}); err != nil {
					b.Fatal(err)
				}
			}
		})
		if got := hv.m.Stats().VerifyCacheEntries; got != cacheN {
			b.Fatalf("verify cache holds %d entries; want %d", got, cacheN)
		}
		for b.Loop() {
		}
		// Reported after the loop, which resets the benchmark's metrics.
		b.ReportMetric(perSession, "B/session")
		b.ReportMetric(perEntry, "B/revoked-entry")
		b.ReportMetric(perCached, "B/cached-verify")
	}
}
