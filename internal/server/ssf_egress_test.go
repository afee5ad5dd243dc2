package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
)

// TestSSF_PrivateEndpoints: serve guards push streams against non-public
// endpoints in production, unless ssf.transmitter.allow_private_endpoints;
// development allows them, as it allows http.
func TestSSF_PrivateEndpoints(t *testing.T) {
	tests := []struct {
		name  string
		env   string
		allow bool
		want  int
	}{
		{"production", config.EnvProduction, false, http.StatusBadRequest},
		{"production with allow_private_endpoints", config.EnvProduction, true, http.StatusCreated},
		{"development", config.EnvDevelopment, false, http.StatusCreated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := devConfig(t)
			cfg.Environment = tc.env
			cfg.SSF.Transmitter = config.SSFTransmitter{Enabled: true, Issuer: "https://sessiond.example.com", AllowPrivateEndpoints: tc.allow}
			n := start(t, server.Options{Config: cfg})
			var problem struct {
				Detail string `json:"detail"`
			}
			code := apiCall(t, http.MethodPost, "http://"+n.addr+"/v1/ssf/streams",
				`{"delivery":{"method":"urn:ietf:rfc:8935","endpoint_url":"https://127.0.0.1:8443/ssf"}}`, &problem)
			if code != tc.want {
				t.Fatalf("create a push stream to 127.0.0.1 = %d %q; want %d", code, problem.Detail, tc.want)
			}
			if code == http.StatusBadRequest && !strings.Contains(problem.Detail, "non-public address (loopback)") {
				t.Errorf("refusal detail = %q; want it to name the loopback address class", problem.Detail)
			}
		})
	}
}
