package redisstore_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/redisclustertest"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/redisstore"
)

// A store reached over the network in plaintext (redis://), or over TLS
// whose certificate is not checked (rediss://…?skip_verify=true, which
// rueidis maps to InsecureSkipVerify), lets anyone on the path read and
// alter sessions, token hashes, API key hashes and the signing key ring.
// New says so in its log: 192.0.2.2 is this machine's non-loopback
// address, where nothing listens on the port, so New fails fast after the
// warning and the test needs no server.
func TestNew_WarnsOfUnverifiedTransport(t *testing.T) {
	const password = "S3cretRedisPassw0rd"
	for _, tc := range []struct {
		name, url, want string // want "": no warning
	}{
		{"plaintext", "redis://app:" + password + "@192.0.2.2:20512/0", "plaintext"},
		{"skip_verify", "rediss://app:" + password + "@192.0.2.2:20512/0?skip_verify=true", "TLS certificate not verified"},
		{"second address plaintext", "redis://:" + password + "@127.0.0.1:20512/0?addr=192.0.2.2:20513", "plaintext"},
		{"verified TLS", "rediss://app:" + password + "@192.0.2.2:20512/0", ""},
		{"skip_verify false", "rediss://app:" + password + "@192.0.2.2:20512/0?skip_verify=false", ""},
		{"loopback", "redis://app:" + password + "@127.0.0.1:20512/0", ""},
		{"loopback IPv6", "redis://app:" + password + "@[::1]:20712/0", ""},
		{"localhost, fully qualified", "redis://app:" + password + "@localhost.:20712/0", ""},
		{"unix socket", "unix:///tmp/zz_cryptoaudit_no.sock?password=" + password, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := redisstore.New(ctx, tc.url, redisstore.Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if s != nil {
				s.Close()
			}
			if err == nil {
				t.Fatal("New reached a server; the test needs nothing listening there")
			}
			testenv.CheckTransportWarning(t, logs.String(), password, "192.0.2.2", tc.want)
		})
	}
}

// A Redis Cluster seeded on loopback may announce its nodes at other
// hosts (CLUSTER SHARDS), and a Sentinel names its master at an address
// of its own; the client then connects there, and the URL says nothing
// about the connections that carry the sessions. New warns once for each
// host it connects to without verified TLS, however many connections it
// opens there, and not when they are on loopback. The other host is this
// machine at an address other than loopback.
func TestNew_WarnsOfAnnouncedNodes(t *testing.T) {
	host := testenv.HostAddr(t)
	for _, tc := range []struct {
		name    string
		url     func(t *testing.T) string
		cluster bool
		want    bool
	}{
		{"cluster announces another host", func(t *testing.T) string { return redisclustertest.StartAnnouncing(t, host).URL() }, true, true},
		{"cluster announces loopback", func(t *testing.T) string { return redisclustertest.StartAnnouncing(t, "").URL() }, true, false},
		{"sentinel names another host", func(t *testing.T) string { return redisclustertest.StartSentinel(t, host).URL() }, false, true},
		{"sentinel names loopback", func(t *testing.T) string { return redisclustertest.StartSentinel(t, "127.0.0.1").URL() }, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			url := tc.url(t)
			var logs testenv.SyncBuffer
			st, err := redisstore.New(context.Background(), url, redisstore.Options{
				Prefix: randomPrefix(), Logger: slog.New(slog.NewTextHandler(&logs, nil)),
			})
			if err != nil {
				t.Fatalf("New = %v", err)
			}
			defer st.Close()
			if redisstore.OnCluster(st) != tc.cluster {
				t.Fatalf("OnCluster = %v; want %v", !tc.cluster, tc.cluster)
			}
			// More connections to the node: the revocation feed's.
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := st.SubscribeRevocations(ctx, nil, nil); err != nil {
				t.Fatal(err)
			}
			if err := st.Ping(context.Background()); err != nil {
				t.Fatal(err)
			}
			var warned []string
			for line := range strings.Lines(logs.String()) {
				if strings.Contains(line, "level=WARN") && strings.Contains(line, "verified TLS") {
					warned = append(warned, line)
				}
			}
			switch {
			case !tc.want && len(warned) > 0:
				t.Errorf("warned of loopback:\n%s", strings.Join(warned, ""))
			case tc.want && (len(warned) != 1 || !strings.Contains(warned[0], "host="+host+" ") || !strings.Contains(warned[0], "risk=plaintext")):
				t.Errorf("warnings = %q; want one naming host=%s and risk=plaintext", warned, host)
			}
		})
	}
}
