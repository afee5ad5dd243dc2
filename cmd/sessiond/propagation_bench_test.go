package main

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/client"
)

// BenchmarkRevocationPropagation measures, with two real server processes
// on one shared store, the time from a revocation answered by node A to the
// first verify on node B that rejects the session (B is polled back to back
// over HTTP, so each figure includes up to one verify round trip). It
// reports the distribution over 200 revocations; ns/op is meaningless.
//
//	SESSIOND_TEST_POSTGRES_URL=… SESSIOND_TEST_REDIS_URL=… go test ./cmd/sessiond -run x -bench RevocationPropagation -benchtime 1x
func BenchmarkRevocationPropagation(b *testing.B) {
	for _, be := range sharedBackends(b) {
		b.Run(be.name, func(b *testing.B) {
			na, nb := twoNodes(b, append(be.env(b), "SESSIOND_API_KEY="+testAPIKey))
			ca, cb := na.client(), nb.client()
			ctx := context.Background()
			const rounds = 200
			var lat []time.Duration
			for range b.N {
				lat = lat[:0]
				for i := range rounds {
					login, err := ca.CreateSession(ctx, client.CreateRequest{Subject: fmt.Sprintf("p-%d", i)})
					if err != nil {
						b.Fatal(err)
					}
					if _, err := cb.Verify(ctx, login.AccessToken, nil); err != nil {
						b.Fatal(err)
					}
					if err := ca.RevokeSession(ctx, login.Session.ID); err != nil {
						b.Fatal(err)
					}
					start := time.Now()
					for {
						_, err := cb.Verify(ctx, login.AccessToken, nil)
						if errors.Is(err, sessiond.ErrRevoked) {
							break
						}
						if time.Since(start) > 5*time.Second {
							b.Fatalf("not propagated in 5s: %v", err)
						}
					}
					lat = append(lat, time.Since(start))
				}
			}
			b.ReportMetric(float64(percentile(lat, 0.50).Microseconds()), "p50-µs")
			b.ReportMetric(float64(percentile(lat, 0.99).Microseconds()), "p99-µs")
			b.ReportMetric(float64(percentile(lat, 1).Microseconds()), "max-µs")
		})
	}
}
