package verifier_test

// Following the revocation stream when it misbehaves: silent nodes,
// keep-alive comments from proxies, snapshots and pruning at the edges of
// a revocation's life, and refetches a client aborts.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/verifier"
	"github.com/sessiond/sessiond/verifier/stream"
)

func revokeLogout(t *testing.T, s *server, sid sessiond.SessionID) {
	t.Helper()
	if err := s.m.Revoke(context.Background(), sid, sessiond.ReasonLogout); err != nil {
		t.Fatal(err)
	}
}

// Staleness measures sessiond's heartbeat, which always carries a cursor:
// a keep-alive comment an intermediary injects says nothing of the state,
// or with the upstream stuck the verifier would never go stale and accept
// tokens under RejectWhenStale while revocations go undelivered.
func TestFollow_CommentWithoutIDIsNotAHeartbeat(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	send := make(chan string, 4)
	s.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != stream.StreamPath {
			return false
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, ": heartbeat\nid: %s\n\n", stream.CursorAt(s.clock.Now()))
		w.(http.Flusher).Flush()
		for {
			select {
			case <-r.Context().Done():
				return true
			case msg := <-send:
				fmt.Fprint(w, msg)
				w.(http.Flusher).Flush()
			}
		}
	})
	_, tok := s.token("una")
	v, _ := s.newVerifier(nil)
	eventually(t, "connected", func() bool { return v.Status().Connected })
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("control: Verify = %v", err)
	}
	s.clock.Advance(time.Minute) // past MaxStaleness (30 s), no heartbeat
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, verifier.ErrStale) {
		t.Fatalf("control: Verify after a silent minute = %v; want ErrStale", err)
	}
	// A keep-alive comment without an id, then an event that shows it was read.
	until := s.clock.Now().Add(time.Hour).Format(time.RFC3339Nano)
	send <- ": keep-alive\n\n"
	send <- "event: revoked\nid: " + stream.CursorAt(s.clock.Now()) + "\ndata: {\"session_id\":\"sentinel\",\"subject\":\"x\",\"until\":\"" + until + "\"}\n\n"
	eventually(t, "sentinel applied", func() bool { return v.Status().Revoked == 1 })
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, verifier.ErrStale) {
		t.Errorf("Verify after an id-less comment = %v; want ErrStale (a comment is not the server's heartbeat)", err)
	}
}

// The snapshot holds every revocation whose tokens may still be alive: as
// far back as its until reaches, sessiond.RevokeWriteMargin included (a
// refresh that committed while the revocation was being written), as a
// verifier following the stream keeps it.
func TestSnapshot_KeepsRevocationsWithinWriteMargin(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	old, _ := s.newVerifier(func(o *verifier.Options) { o.MaxStaleness = 24 * time.Hour })
	sid, _ := s.token("vera")
	revokeLogout(t, s, sid)
	eventually(t, "revocation on the stream", func() bool { return old.Status().Revoked == 1 })

	s.clock.Advance(life.Access + 30*time.Second) // inside until = revoked_at + 1m + access + 1s
	fresh, _ := s.newVerifier(nil)
	if got, want := fresh.Status().Revoked, old.Status().Revoked; got != want {
		t.Errorf("a verifier started from the snapshot holds %d revocations, one that followed the stream %d: "+
			"the snapshot dropped a revocation whose until (%s) is still ahead", got, want,
			sessiond.RevocationHorizon(s.clock.Now().Add(-life.Access-30*time.Second), time.Time{}, life.Access, 0).Format(time.RFC3339))
	}
}

// A revoked session's until is computed with sessiond's leeway, but this
// verifier accepts tokens up to its own Options.Leeway past their expiry:
// the entry is kept that much longer, or the token verifies again in
// between.
func TestFollow_RevocationKeptThroughVerifierLeeway(t *testing.T) {
	t.Parallel()
	lt := sessiond.Lifetimes{Access: 10 * time.Minute, Refresh: 24 * time.Hour, Idle: 30 * time.Minute, Absolute: 10 * time.Minute}
	s := newServerWith(t, lt, func(rs *httpapi.RevocationStream) { rs.Leeway = 5 * time.Second })
	t0 := s.clock.Now()
	sid, tok := s.token("wyn") // exp = sess_exp = t0 + 10m
	revokeLogout(t, s, sid)

	s.clock.Set(t0.Add(10*time.Minute - 10*time.Second))
	v, _ := s.newVerifier(func(o *verifier.Options) { o.Leeway = time.Minute; o.MaxStaleness = 24 * time.Hour })
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, sessiond.ErrRevoked) {
		t.Fatalf("control: Verify = %v; want ErrRevoked", err)
	}
	eventually(t, "connected", func() bool { return v.Status().Connected })

	// 65 s later (prune runs at most once a minute), still inside exp + Leeway.
	s.clock.Set(t0.Add(10*time.Minute + 55*time.Second))
	sid2, _ := s.token("xan")
	revokeLogout(t, s, sid2)
	s.clock.Advance(time.Second)
	sid3, tok3 := s.token("yul")
	revokeLogout(t, s, sid3)
	// yul's event comes after xan's, whose block ran the prune.
	eventually(t, "later revocations applied", func() bool {
		_, err := v.Verify(context.Background(), tok3)
		return errors.Is(err, sessiond.ErrRevoked)
	})
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, sessiond.ErrRevoked) {
		t.Errorf("revoked session's token at exp+56s (Leeway 60s): Verify = %v; want ErrRevoked", err)
	}
}

// A node that accepts the connection and never answers (sessiond sends the
// headers with its first heartbeat, after a store read that may hang) is
// given up after IdleTimeout like a silent stream, and the verifier
// reconnects, to a healthy node if there is one.
func TestFollow_StreamWithoutHeadersIsDropped(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	var conns atomic.Int64
	s.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != stream.StreamPath {
			return false
		}
		if conns.Add(1) > 1 {
			return false // later connections: the real stream
		}
		<-r.Context().Done() // the first: no headers, ever
		return true
	})
	v, _ := s.newVerifier(func(o *verifier.Options) { o.IdleTimeout = 300 * time.Millisecond })
	eventually(t, "the verifier gives up on a stream that sends no headers and reconnects", func() bool {
		return conns.Load() >= 2 && v.Status().Connected
	})
}

// A token with an unknown kid refetches the JWKS at most once per
// MinRefetchInterval. The fetch must outlive the request that caused it:
// an attacker who sends a made-up kid and hangs up at once, once per
// interval, would otherwise abort every refetch and keep a rotated key
// from ever being learnt.
func TestVerify_CanceledRequestDoesNotAbortTheRefetch(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	v, _ := s.newVerifier(nil) // MinRefetchInterval: the default second
	if err := s.ring.Rotate(s.clock.Now()); err != nil {
		t.Fatal(err)
	}
	_, fresh := s.token("zed")                                            // signed by a kid the verifier has not seen
	time.Sleep(verifier.DefaultMinRefetchInterval + 200*time.Millisecond) // New's fetch is past the limit

	got, sawCancel, release := make(chan struct{}), make(chan struct{}), make(chan struct{})
	var armed atomic.Bool
	armed.Store(true)
	s.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != "/.well-known/jwks.json" || !armed.CompareAndSwap(true, false) {
			return false
		}
		close(got)
		select {
		case <-r.Context().Done(): // the fetch was aborted
			close(sawCancel)
			return true
		case <-release:
			return false // the fetch outlived its caller: answer it
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-got
		cancel() // the attacker's client hangs up
		select {
		case <-sawCancel:
		case <-time.After(2 * time.Second):
		}
		close(release)
	}()
	v.Verify(ctx, fresh) // the attacker's request: whatever it answers

	if _, err := v.Verify(context.Background(), fresh); err != nil {
		t.Errorf("a token of the new signer after an aborted refetch: Verify = %v; want it verified "+
			"(the aborted fetch spent the refetch budget)", err)
	}
}
