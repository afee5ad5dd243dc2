package server

import (
	"testing"

	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/gateway"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/redisstore"
)

// The gateway's login codes are written per login and wait only when
// spent, through redisstore's PutRevokingMeta; the gateway finds it by
// this interface, so a rename on either side must not build.
var _ gateway.RevokingMetaStore = (*redisstore.Store)(nil)

// TestRevokingMeta: the Redis store makes the writes of the documents
// that revoke wait for a replica, by name (redisstore.RevokingMeta); a
// document renamed here without it would silently stop waiting, and one
// written per request must not start.
func TestRevokingMeta(t *testing.T) {
	tests := []struct {
		doc  string
		want bool
	}{
		{watermarkDoc, true},
		{apikey.DocName, true},
		{signing.DocName, true},
		{DeploymentDoc, false},
		{NonceSecretDoc, false},
		{DBSCKeyDoc, false},
		{"gateway.login_codes.0", false},
	}
	for _, tt := range tests {
		if got := redisstore.RevokingMeta(tt.doc); got != tt.want {
			t.Errorf("redisstore.RevokingMeta(%q) = %v; want %v", tt.doc, got, tt.want)
		}
	}
}
