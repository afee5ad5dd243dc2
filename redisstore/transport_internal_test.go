package redisstore

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
)

// TestTransportWatch_Dial: every address the client dials is judged by
// the TLS configuration rueidis dials it with, not the URL's: a Sentinel
// is dialed without TLS under rediss:// (rueidis's SentinelOption has a
// TLS configuration of its own, which a URL never sets), and a Cluster's
// announced nodes with skip_verify as its seed. Each host is named once,
// with its risk, whatever its port; loopback and Unix sockets never.
func TestTransportWatch_Dial(t *testing.T) {
	verified := &tls.Config{}
	unverified := &tls.Config{InsecureSkipVerify: true}
	type dial struct {
		addr string
		tc   *tls.Config
	}
	for _, tc := range []struct {
		name  string
		dials []dial
		want  []string // "host risk", in order
	}{
		{"announced node in plaintext", []dial{{"10.0.0.7:6379", nil}}, []string{"10.0.0.7 plaintext"}},
		{"announced node, certificate not verified", []dial{{"10.0.0.7:6379", unverified}}, []string{"10.0.0.7 TLS certificate not verified"}},
		{"verified TLS", []dial{{"10.0.0.7:6379", verified}, {"[2001:db8::7]:6379", verified}}, nil},
		{"loopback and unix socket", []dial{{"127.0.0.1:6379", nil}, {"[::1]:6379", nil}, {"localhost.:6379", unverified}, {"/run/redis.sock", nil}}, nil},
		{"once per host, whatever the port or connection", []dial{{"10.0.0.7:6379", nil}, {"10.0.0.7:6380", nil}, {"10.0.0.7:6379", nil}, {"10.0.0.8:6379", unverified}},
			[]string{"10.0.0.7 plaintext", "10.0.0.8 TLS certificate not verified"}},
		{"sentinel in plaintext beside a verified master", []dial{{"sentinel.example:26379", nil}, {"master.example:6379", verified}}, []string{"sentinel.example plaintext"}},
		{"IPv6", []dial{{"[2001:db8::7]:6379", nil}}, []string{"2001:db8::7 plaintext"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			w := newTransportWatch(slog.New(slog.NewJSONHandler(&logs, nil)))
			refused := errors.New("refused")
			var dialed []string
			fn := w.dialer(func(_ context.Context, dst string, _ *net.Dialer, _ *tls.Config) (net.Conn, error) {
				dialed = append(dialed, dst)
				return nil, refused
			})
			for _, d := range tc.dials {
				if _, err := fn(context.Background(), d.addr, &net.Dialer{}, d.tc); !errors.Is(err, refused) {
					t.Fatalf("dial %s = %v; want the next dialer's error", d.addr, err)
				}
			}
			if len(dialed) != len(tc.dials) {
				t.Errorf("dialed %q; want every address passed on", dialed)
			}
			var got []string
			for line := range strings.Lines(logs.String()) {
				var r map[string]string
				if err := json.Unmarshal([]byte(line), &r); err != nil || r["level"] != "WARN" || r["msg"] != transportWarning {
					t.Errorf("log line %q; want only the transport warning", line)
					continue
				}
				got = append(got, r["host"]+" "+r["risk"])
			}
			if strings.Join(got, "|") != strings.Join(tc.want, "|") {
				t.Errorf("warnings = %q; want %q", got, tc.want)
			}
		})
	}
}
