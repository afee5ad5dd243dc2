package verifier_test

// A stream whose heartbeats still arrive but carry cursors that fall
// further and further behind (a proxy buffering, a congested link, a node
// whose stream loop falls behind its log) is dropped like a silent one;
// one whose cursors keep a constant offset (clock skew between machines)
// is not.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/httpapi"
	"github.com/sessiond/sessiond/verifier"
	"github.com/sessiond/sessiond/verifier/stream"
)

// Heartbeats arrive every 10 s of the verifier's clock, each with a cursor
// only 5 s on from the one before: 5 s further behind the server's log
// each time. The verifier takes them while they are at most IdleTimeout
// (30 s) further behind than the connection's first, drops the connection
// at the first that is more, without counting it as a sign that the
// state is current, and reconnects from the last heartbeat it took. Its
// state turns stale MaxStaleness after that one.
func TestFollow_DropsAStreamFallingBehind(t *testing.T) {
	t.Parallel()
	s := newServer(t, nil)
	beats := make(chan string)
	lastIDs := make(chan string, 8)
	var conns atomic.Int64
	s.setHook(func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path != stream.StreamPath {
			return false
		}
		n := conns.Add(1)
		lastIDs <- r.Header.Get("Last-Event-ID")
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for {
			select {
			case <-r.Context().Done():
				return true
			case id := <-beats:
				if n > 1 {
					panic("a heartbeat sent to a later connection") // the test sends none
				}
				fmt.Fprintf(w, ": heartbeat\nid: %s\n\n", id)
				w.(http.Flusher).Flush()
			}
		}
	})
	_, tok := s.token("nell")
	v, _ := s.newVerifier(nil) // IdleTimeout and MaxStaleness: 30 s
	<-lastIDs
	// LastSync moves to the clock's time with each heartbeat taken; the
	// snapshot's was at the start, so the first heartbeat comes a second on.
	taken := func(what string) {
		t.Helper()
		eventually(t, what, func() bool { return v.Status().LastSync.Equal(s.clock.Now()) })
	}
	s.clock.Advance(time.Second)
	base := s.clock.Now()
	last := stream.CursorAt(base)
	beats <- last
	taken("the connection's first heartbeat")
	for i := 1; i <= 6; i++ { // the sixth: 30 s further behind, not more than IdleTimeout
		s.clock.Advance(10 * time.Second)
		last = stream.CursorAt(base.Add(time.Duration(i) * 5 * time.Second))
		beats <- last
		taken(fmt.Sprintf("heartbeat %d, %d s further behind than the first", i, 5*i))
	}
	s.clock.Advance(10 * time.Second)
	beats <- stream.CursorAt(base.Add(35 * time.Second)) // 35 s further behind
	eventually(t, "the heartbeat 35 s further behind taken, or the connection dropped", func() bool {
		return conns.Load() >= 2 || v.Status().LastSync.Equal(s.clock.Now())
	})
	if conns.Load() < 2 {
		t.Fatalf("a heartbeat 35 s further behind the server's log than the connection's first (IdleTimeout 30 s) "+
			"was taken as proof that the state is current (LastSync %s); want the connection dropped", v.Status().LastSync)
	}
	if got := <-lastIDs; got != last {
		t.Errorf("the reconnection's Last-Event-ID = %q; want the last heartbeat taken, %q", got, last)
	}
	if got, want := v.Status().LastSync, s.clock.Now().Add(-10*time.Second); !got.Equal(want) {
		t.Errorf("LastSync after the drop = %s; want %s, the last heartbeat taken", got, want)
	}
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("10 s after the last heartbeat taken: Verify = %v; want it accepted (within MaxStaleness)", err)
	}
	s.clock.Advance(verifier.DefaultMaxStaleness - 10*time.Second + time.Second)
	if _, err := v.Verify(context.Background(), tok); !errors.Is(err, verifier.ErrStale) {
		t.Errorf("MaxStaleness after the last heartbeat taken, the stream falling behind: Verify = %v; want ErrStale", err)
	}
}

// The server's clock an hour ahead of the verifier's, or an hour behind:
// the heartbeats' cursors are that far off the verifier's clock, but do
// not fall behind. The verifier follows the stream for several
// IdleTimeouts on one connection, current all along.
func TestFollow_ClockSkewKeepsTheStream(t *testing.T) {
	t.Parallel()
	for _, skew := range []time.Duration{time.Hour, -time.Hour} {
		t.Run(fmt.Sprintf("server %+v", skew), func(t *testing.T) {
			t.Parallel()
			s := newServer(t, func(rs *httpapi.RevocationStream) {
				now := rs.Now
				rs.Now = func() time.Time { return now().Add(skew) }
				rs.Heartbeat = 5 * time.Millisecond // real time: heartbeats flow while the fake clock moves
			})
			var conns atomic.Int64
			s.setHook(func(w http.ResponseWriter, r *http.Request) bool {
				if r.URL.Path == stream.StreamPath {
					conns.Add(1)
				}
				return false
			})
			_, tok := s.token("olga")
			v, _ := s.newVerifier(nil) // IdleTimeout and MaxStaleness: 30 s
			for i := range 12 {        // 2 minutes
				s.clock.Advance(10 * time.Second)
				eventually(t, fmt.Sprintf("a heartbeat after %d s", 10*(i+1)), func() bool {
					return v.Status().LastSync.Equal(s.clock.Now())
				})
			}
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Errorf("after 2 minutes on a server %v off: Verify = %v; want it accepted", skew, err)
			}
			if n := conns.Load(); n != 1 {
				t.Errorf("stream connections over 2 minutes on a server %v off = %d; want 1 (the offset is skew, not lag)", skew, n)
			}
		})
	}
}
