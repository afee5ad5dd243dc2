package verifier

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/verifier/stream"
)

// bare is a Verifier with no server behind it, for feeding streams.
func bare() *Verifier {
	v := &Verifier{opts: &Options{MinRefetchInterval: time.Hour}, log: slog.New(slog.DiscardHandler),
		clock: sessiondtest.NewClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)),
		keys:  newKeySet(), state: newState(), cache: newCache(8)}
	v.keys.fetched = time.Now() // no refetch: there is no server
	return v
}

func TestConsume(t *testing.T) {
	t.Parallel()
	c1 := stream.CursorAt(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	good := "event: revoked\nid: " + c1 + "\ndata: {\"session_id\":\"s1\",\"subject\":\"a\",\"until\":\"2030-01-01T01:00:00Z\"}\n\n" +
		"event: watermark\nid: " + c1 + ".2\ndata: {\"subject\":\"b\",\"issued_before\":\"2030-01-01T00:00:00Z\"}\n\n" +
		": heartbeat\nid: " + c1 + ".3\n\n"
	v := bare()
	if err := v.consume(context.Background(), bytes.NewReader([]byte(good)), func() {}); err != nil {
		t.Fatalf("consume(good) = %v", err)
	}
	if !v.state.revoked("s1", "x", time.Time{}) || !v.state.revoked("other", "b", time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Error("good events were not applied")
	}
	if v.cursor != c1+".3" {
		t.Errorf("cursor = %q; want the heartbeat's", v.cursor)
	}
	// A bad event: the cursor stays on the last good one.
	bad := "event: revoked\nid: " + c1 + ".4\ndata: {\"session_id\":1}\n\n"
	if err := v.consume(context.Background(), bytes.NewReader([]byte(bad)), func() {}); !errors.Is(err, errProtocol) {
		t.Errorf("consume(bad) = %v; want errProtocol", err)
	}
	if v.cursor != c1+".3" {
		t.Errorf("cursor after a bad event = %q; want it unchanged", v.cursor)
	}
}

// FuzzConsume: whatever the stream holds, consume never panics and ends
// with nil, a reset, a protocol error or a stream falling behind; the
// cursor only ever holds a valid cursor.
func FuzzConsume(f *testing.F) {
	c := stream.CursorAt(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	f.Add([]byte("event: revoked\nid: " + c + "\ndata: {\"session_id\":\"s1\",\"until\":\"2030-01-01T01:00:00Z\"}\n\n"))
	f.Add([]byte("event: watermark\nid: " + c + "\ndata: {\"all\":true,\"issued_before\":\"2030-01-01T00:00:00Z\"}\n\n"))
	f.Add([]byte("event: key_retired\nid: " + c + "\ndata: {\"kid\":\"k\"}\n\n"))
	f.Add([]byte("event: reset\nid: " + c + "\ndata: {}\n\n"))
	f.Add([]byte(": heartbeat\nid: " + c + "\n\n"))
	f.Add([]byte("<html><body>502 Bad Gateway</body></html>"))
	f.Fuzz(func(t *testing.T, in []byte) {
		v := bare()
		err := v.consume(context.Background(), bytes.NewReader(in), func() {})
		if err != nil && !errors.Is(err, errProtocol) && !errors.Is(err, errReset) && !errors.Is(err, errBehind) {
			t.Fatalf("consume = %v", err)
		}
		if v.cursor != "" {
			if _, _, err := stream.ParseCursor(v.cursor); err != nil {
				t.Fatalf("cursor %q: %v", v.cursor, err)
			}
		}
	})
}

func TestState(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := newState()
	s.addRevoked(stream.Revoked{SessionID: "s1", Until: t0.Add(time.Hour)})
	s.addRevoked(stream.Revoked{SessionID: "s1", Until: t0.Add(time.Minute)}) // never shortens
	s.raise(stream.Watermark{Subject: "bob", IssuedBefore: t0})
	s.raise(stream.Watermark{Subject: "bob", IssuedBefore: t0.Add(-time.Hour)}) // never lowers
	for _, c := range []struct {
		sid, sub string
		auth     time.Time
		want     bool
	}{
		{"s1", "x", t0, true},
		{"s2", "bob", t0, true}, // at the watermark: not after it
		{"s2", "bob", t0.Add(-time.Second), true},
		{"s2", "bob", t0.Add(time.Second), false},
		{"s2", "carol", t0, false},
	} {
		if got := s.revoked(c.sid, c.sub, c.auth); got != c.want {
			t.Errorf("revoked(%s, %s, %v) = %v; want %v", c.sid, c.sub, c.auth, got, c.want)
		}
	}
	s.raise(stream.Watermark{All: true, IssuedBefore: t0})
	if !s.revoked("s9", "anyone", t0) || s.revoked("s9", "anyone", t0.Add(time.Second)) {
		t.Error("global watermark")
	}
	s.prune(t0.Add(30 * time.Minute))
	if !s.revoked("s1", "x", t0.Add(time.Hour)) {
		t.Error("prune dropped an entry before its until")
	}
	s.prune(t0.Add(2 * time.Hour))
	if s.revoked("s1", "x", t0.Add(time.Hour)) || !s.revoked("s2", "bob", t0) {
		t.Error("prune: want the expired entry gone and the watermark kept")
	}
}

// The reconnection backoff starts over only after a connection that
// brought a heartbeat. A stream that ends before one is a failure: one
// that answers reset every time (a cursor another node finds in its
// future), or a proxy's empty answer, must be backed off from, not
// retried (and, on a reset, the snapshot reloaded) ten times a second.
func TestFollow_BacksOffFromStreamsThatBringNoHeartbeat(t *testing.T) {
	t.Parallel()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name  string
		write func(w http.ResponseWriter)
	}{
		{"reset every time", func(w http.ResponseWriter) {
			stream.WriteEvent(w, stream.EventReset, stream.CursorAt(now), stream.Reset{Reason: "cursor_in_future"})
		}},
		{"empty stream", func(http.ResponseWriter) {}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/.well-known/jwks.json":
					w.Header().Set("Content-Type", "application/json")
					io.WriteString(w, `{"keys":[]}`)
				case stream.SnapshotPath:
					w.Header().Set("Content-Type", "application/json")
					io.WriteString(w, `{"revocations":[],"watermarks":[],"cursor":"`+stream.CursorAt(now)+`"}`)
				case stream.StreamPath:
					w.Header().Set("Content-Type", "text/event-stream")
					w.WriteHeader(http.StatusOK)
					tc.write(w)
				}
			}))
			defer srv.Close()
			v := bare()
			v.base, v.hc, v.stream = srv.URL, srv.Client(), srv.Client()
			v.opts.IdleTimeout = time.Minute
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var waits []time.Duration
			v.wait = func(ctx context.Context, d time.Duration) bool {
				if waits = append(waits, d); len(waits) == 6 {
					cancel()
				}
				return ctx.Err() == nil
			}
			v.wg.Add(1)
			v.follow(ctx)
			// Doubling from 100 ms, each wait at least half its backoff: the
			// sixth at least 1.6 s.
			if got := waits[len(waits)-1]; got < 1600*time.Millisecond {
				t.Errorf("waits between connections = %v; want them to back off (the sixth at least 1.6s)", waits)
			}
		})
	}
}
