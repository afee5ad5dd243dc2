package webhook_test

import (
	"bufio"
	"bytes"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessiondtest"
	"github.com/sessiond/sessiond/webhook"
)

// TestDispatcher_ReceiverReasonPhraseBounded: the status line's reason
// phrase is the receiver's free text (Go's client accepts response headers
// up to 10 MB by default); it must not reach the delivery's LastError,
// stored in the outbox on every attempt, or the log line whole.
func TestDispatcher_ReceiverReasonPhraseBounded(t *testing.T) {
	for _, tc := range []struct {
		phrase int
		want   string // in LastError
	}{
		{8 << 10, "receiver answered 500 Internal Server Error"},
		{1 << 20, "exceeded"}, // past the transport's header limit: the request fails
	} {
		t.Run(strconv.Itoa(tc.phrase), func(t *testing.T) { reasonPhrase(t, tc.phrase, tc.want) })
	}
}

func reasonPhrase(t *testing.T, phrase int, want string) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				req, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				req.Body.Close()
				w := bufio.NewWriter(c)
				w.WriteString("HTTP/1.1 500 ")
				w.WriteString(strings.Repeat("A", phrase))
				w.WriteString("\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
				w.Flush()
			}()
		}
	}()
	clock := sessiondtest.NewClock(t0)
	ob := newOutbox(t)
	var logs bytes.Buffer
	d := newDispatcher(t, webhook.Options{Outbox: ob, Clock: clock, Logger: slog.New(slog.NewTextHandler(&logs, nil)),
		Endpoints: []webhook.Endpoint{endpoint("siem", "http://"+ln.Addr().String()+"/hook")}})
	record(t, d, event(sessiond.EventSessionRevoked))
	deliverDue(t, d)
	p := list(t, ob, sessiond.DeliveryPending)
	if len(p) != 1 {
		t.Fatalf("pending = %d; want 1", len(p))
	}
	if got := p[0].LastError; !strings.Contains(got, want) || len(got) > 256 {
		t.Errorf("LastError stored in the outbox is %d bytes (%.80q…); want it to hold %q and be short", len(got), got, want)
	}
	if n := logs.Len(); n > 64<<10 {
		t.Errorf("one failed attempt wrote %d bytes of log; want it bounded", n)
	}
}
