//go:build unix

package server

import (
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/testenv"
)

// TestSecretFiles_FIFO: a FIFO as an SSF receiver's bearer_token_file or
// poll_authorization_file, or as a webhook's secret_file, is refused at
// once, naming it, instead of blocking serve at start until something
// writes to it.
func TestSecretFiles_FIFO(t *testing.T) {
	fifo := testenv.FIFO(t)
	noEnv := func(string) string { return "" }
	receiver := config.SSFReceiver{Name: "idp", Issuer: "https://idp.example", Audience: "sessiond",
		JWKSURL: "https://idp.example/jwks", SubjectFormat: "email", Path: "/ssf/idp"}
	for _, tc := range []struct {
		name, prefix string // prefix: what the error says before the file name
		read         func() error
	}{
		{"ssf.receivers.0.bearer_token_file", "ssf.receivers.0.bearer_token_file: ", func() error {
			cfg := config.Default()
			rc := receiver
			rc.BearerTokenFile = fifo
			cfg.SSF.Receivers = []config.SSFReceiver{rc}
			_, err := mountSSF(cfg, nil, nil, nil, nil, nil, slog.New(slog.DiscardHandler), noEnv, nil)
			return err
		}},
		{"ssf.receivers.0.poll_authorization_file", "", func() error { // mountSSF adds the path
			rc := receiver
			rc.Delivery, rc.PollAuthorizationFile = config.SSFDeliveryPoll, fifo
			_, err := pollAuthorization(rc, noEnv)
			return err
		}},
		{"webhooks.0.secret_file", "webhooks[0].secret_file: ", func() error {
			cfg := config.Default()
			cfg.Webhooks = []config.Webhook{{Name: "w", URL: "https://hooks.example.com/x", SecretFile: fifo, MaxAttempts: 8}}
			_, err := buildWebhooks(cfg)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			testenv.NotBlockedOn(t, fifo, func() { err = tc.read() })
			want := tc.prefix + fifo + ": not a regular file (a named pipe)"
			if !errors.Is(err, config.ErrSecretNotRegular) || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("read = %v; want ErrSecretNotRegular: %s", err, want)
			}
		})
	}
}
