package pgstore_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/pgstore"
)

// clientLatencies are the latencies of the calls of one kind that
// concurrent clients made in one phase.
type clientLatencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *clientLatencies) add(d time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, d)
	l.mu.Unlock()
}

// quantile returns the q-quantile (0 < q <= 1) of the latencies, 0 if none.
func (l *clientLatencies) quantile(q float64) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.all) == 0 {
		return 0
	}
	slices.Sort(l.all)
	return l.all[min(len(l.all)-1, int(q*float64(len(l.all))))]
}

func (l *clientLatencies) String() string {
	return fmt.Sprintf("%d calls, p50 %v, p99 %v, max %v", len(l.all),
		l.quantile(0.5).Round(10*time.Microsecond), l.quantile(0.99).Round(10*time.Microsecond), l.quantile(1).Round(10*time.Microsecond))
}

// runClients runs loginClients goroutines that create sessions (a login)
// and verifyClients that look tokens up (a database-strategy verify),
// back to back, until stop is closed, and returns their latencies.
func runClients(b *testing.B, st *pgstore.Store, hashes []sessiond.TokenHash, now time.Time, stop <-chan struct{}) (login, verify *clientLatencies) {
	b.Helper()
	const loginClients, verifyClients = 2, 2
	ctx := context.Background()
	login, verify = new(clientLatencies), new(clientLatencies)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		fail error
	)
	failed := func(err error) {
		mu.Lock()
		fail = err
		mu.Unlock()
	}
	for range loginClients {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := &sessiond.Session{
					ID: sessiond.NewSessionID(), Subject: "late-user", Strategy: sessiond.StrategyDatabase,
					CreatedAt: now, LastActiveAt: now, IdleExpiresAt: now.Add(30 * time.Minute), ExpiresAt: now.Add(8 * time.Hour),
				}
				start := time.Now()
				err := st.Create(ctx, s, sessiond.Token{Hash: sessiond.HashToken(sessiond.Secret(s.ID)), Kind: sessiond.KindAccess,
					SessionID: s.ID, IssuedAt: now, ExpiresAt: s.ExpiresAt})
				if err != nil {
					failed(err)
					return
				}
				login.add(time.Since(start))
			}
		})
	}
	for c := range verifyClients {
		wg.Go(func() {
			for i := c; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				if _, _, err := st.Lookup(ctx, hashes[i%len(hashes)]); err != nil {
					failed(err)
					return
				}
				verify.add(time.Since(start))
			}
		})
	}
	<-stop
	wg.Wait()
	if fail != nil {
		b.Fatalf("client: %v", fail)
	}
	return login, verify
}

// BenchmarkRevokeMatchingAll1MClients measures what the incident kill
// switch costs other clients: the latency of logins (Create) and
// database-strategy verifies (Lookup), two clients each, first for five
// seconds alone, then while RevokeMatching{All} revokes 1,000,000
// sessions on the same store. It reports both, to be compared in one run
// (docs/PERFORMANCE.md); nothing here asserts a time.
//
//	SESSIOND_TEST_POSTGRES_URL=… go test ./pgstore -run x -bench RevokeMatchingAll1MClients -benchtime 1x
func BenchmarkRevokeMatchingAll1MClients(b *testing.B) {
	st, schema := newStore(b, pgstore.Options{MaxConns: 8})
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	// The verifiers' sessions, with their tokens; the kill switch revokes
	// them too, and Lookup still finds them (the Manager refuses them).
	hashes := make([]sessiond.TokenHash, 1000)
	for i := range hashes {
		s := &sessiond.Session{
			ID: sessiond.NewSessionID(), Subject: fmt.Sprintf("verifier%d", i), Strategy: sessiond.StrategyDatabase,
			CreatedAt: now, LastActiveAt: now, IdleExpiresAt: now.Add(30 * time.Minute), ExpiresAt: now.Add(8 * time.Hour),
		}
		hashes[i] = sessiond.HashToken(sessiond.Secret(s.ID))
		if err := st.Create(ctx, s, sessiond.Token{Hash: hashes[i], Kind: sessiond.KindAccess, SessionID: s.ID, IssuedAt: now, ExpiresAt: s.ExpiresAt}); err != nil {
			b.Fatal(err)
		}
	}
	loadSessions(b, schema, bulkSessions, now)

	stop := make(chan struct{})
	time.AfterFunc(5*time.Second, func() { close(stop) })
	idleLogin, idleVerify := runClients(b, st, hashes, now, stop)
	b.Logf("alone:           login %v; verify %v", idleLogin, idleVerify)

	for b.Loop() {
		stop := make(chan struct{})
		var (
			login, verify *clientLatencies
			done          = make(chan struct{})
		)
		go func() {
			defer close(done)
			login, verify = runClients(b, st, hashes, now, stop)
		}()
		n, subjects, err := st.RevokeMatching(ctx, sessiond.RevokeFilter{All: true}, now, sessiond.ReasonIncident)
		close(stop)
		<-done
		// Sessions created by the clients while it ran may be revoked too.
		if err != nil || n < bulkSessions || len(subjects) < bulkSessions/10 {
			b.Fatalf("RevokeMatching(all) = %d, %d subjects, %v; want at least %d, %d, nil", n, len(subjects), err, bulkSessions, bulkSessions/10)
		}
		b.Logf("during (%v): login %v; verify %v", b.Elapsed().Round(time.Millisecond), login, verify)
		b.ReportMetric(float64(login.quantile(0.99))/1e6, "login-p99-ms")
		b.ReportMetric(float64(verify.quantile(0.99))/1e6, "verify-p99-ms")
	}
	b.ReportMetric(float64(idleLogin.quantile(0.99))/1e6, "alone-login-p99-ms")
	b.ReportMetric(float64(idleVerify.quantile(0.99))/1e6, "alone-verify-p99-ms")
}

// BenchmarkRevocations1M measures Revocations, a node's revoked-set
// catch-up (at start and after its feed reconnects), over 1,000,000 live
// sessions of which 1,000 were revoked one by one in the last minutes.
//
//	SESSIOND_TEST_POSTGRES_URL=… go test ./pgstore -run x -bench Revocations1M
func BenchmarkRevocations1M(b *testing.B) {
	st, schema := newStore(b, pgstore.Options{})
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	loadSessions(b, schema, bulkSessions, now)
	const revoked = 1000
	for i := range revoked {
		s := newSession(fmt.Sprintf("logout%d", i), now)
		if err := st.Create(ctx, s); err != nil {
			b.Fatal(err)
		}
		if _, err := st.Revoke(ctx, s.ID, now.Add(time.Minute), sessiond.ReasonLogout); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		revs, err := st.Revocations(ctx, now.Add(-15*time.Minute))
		if err != nil || len(revs) != revoked {
			b.Fatalf("Revocations() = %d, %v; want %d, nil", len(revs), err, revoked)
		}
	}
}

// BenchmarkRevoke measures one Revoke (a logout) of a live session; the
// sessions are created outside the timer.
func BenchmarkRevoke(b *testing.B) {
	st, _ := newStore(b, pgstore.Options{})
	ctx := context.Background()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		s := newSession("alice", now)
		if err := st.Create(ctx, s); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if _, err := st.Revoke(ctx, s.ID, now.Add(time.Minute), sessiond.ReasonLogout); err != nil {
			b.Fatal(err)
		}
	}
}
