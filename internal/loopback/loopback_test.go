package loopback_test

import (
	"testing"

	"github.com/sessiond/sessiond/internal/loopback"
)

func TestHost(t *testing.T) {
	for _, tc := range []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"LocalHost.", true},
		{"127.0.0.1", true},
		{"127.8.9.10", true},
		{"::1", true},
		{"::ffff:127.0.0.1", true},
		{"localhost.example", false},
		{"localhost..", false},
		{"db.internal", false},
		{"192.0.2.2", false},
		{"::ffff:192.0.2.2", false},
		{"", false},
	} {
		if got := loopback.Host(tc.host); got != tc.want {
			t.Errorf("Host(%q) = %v; want %v", tc.host, got, tc.want)
		}
	}
}
