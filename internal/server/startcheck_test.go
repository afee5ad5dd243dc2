package server_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
)

// TestRun_StartProblemsBeforeStore: Run reads every file the
// configuration names, and checks the API key, before it opens the store:
// it returns a StartError (ErrInvalidConfig) listing every problem, each
// naming its setting, and leaves the data directory as it was. A missing
// TLS certificate used to be found after the store, the signing key ring
// and <data>/api-key were made, and only the first problem was named.
func TestRun_StartProblemsBeforeStore(t *testing.T) {
	dir := t.TempDir()
	missing := func(name string) string { return filepath.Join(dir, name) }
	cfg := devConfig(t)
	cfg.Signing.KEKFile = missing("kek")
	cfg.Webhooks = []config.Webhook{{Name: "w", URL: "https://hooks.example.com/x", SecretFile: missing("whsec"), MaxAttempts: 8}}
	cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile = missing("cert.pem"), missing("key.pem")
	cfg.SSF.Receivers = []config.SSFReceiver{{Name: "idp", Issuer: "https://idp.example", Audience: "sessiond",
		JWKSURL: "https://idp.example/jwks", SubjectFormat: "email", Delivery: config.SSFDeliveryPoll,
		PollURL: "https://idp.example/poll", BearerTokenFile: missing("bearer"), PollAuthorizationFile: missing("poll")}}
	err := server.Run(context.Background(), server.Options{Config: cfg, APIKey: "short", InsecureDev: true,
		Getenv: func(string) string { return "" }})
	var se *server.StartError
	if !errors.As(err, &se) || !errors.Is(err, server.ErrInvalidConfig) {
		t.Fatalf("Run = %v; want a StartError matching ErrInvalidConfig", err)
	}
	var got []string
	for _, p := range se.Problems {
		got = append(got, p.Error())
	}
	for _, want := range []string{
		"apikey: SESSIOND_API_KEY: must be at least 32 characters",
		"signing.kek_file: open " + missing("kek") + ": no such file or directory",
		"webhooks[0].secret_file: open " + missing("whsec") + ": no such file or directory",
		"server.tls_cert_file: open " + missing("cert.pem") + ": no such file or directory",
		"server.tls_key_file: open " + missing("key.pem") + ": no such file or directory",
		"ssf.receivers.0.bearer_token_file: open " + missing("bearer") + ": no such file or directory",
		"ssf.receivers.0.poll_authorization_file: open " + missing("poll") + ": no such file or directory",
	} {
		if !strings.Contains(strings.Join(got, "\n"), want) {
			t.Errorf("Run's problems do not include %q:\n%s", want, strings.Join(got, "\n"))
		}
	}
	if entries, err := os.ReadDir(cfg.Server.DataDir); err != nil || len(entries) != 0 {
		t.Errorf("data directory after the refusal: %d entries (%v); want it empty", len(entries), err)
	}
	// The poll authorization from the environment is used instead of the
	// file, so the file is not read.
	env := func(name string) string {
		if name == "SESSIOND_SSF_IDP_POLL_AUTHORIZATION" {
			return "Bearer x"
		}
		return ""
	}
	for _, p := range server.CheckStart(cfg, "", env) {
		if strings.Contains(p.Error(), "poll_authorization_file") {
			t.Errorf("CheckStart with the poll authorization in the environment = %v", p)
		}
	}
}

// TestCheckStart_WebhookWithoutSecretFile: a webhook without secret_file
// is the validator's to report (SD-WEBHOOK-002); CheckStart, which serve
// runs beside it, adds no second, misleading "open : no such file" line.
func TestCheckStart_WebhookWithoutSecretFile(t *testing.T) {
	cfg := devConfig(t)
	cfg.Webhooks = []config.Webhook{{Name: "w", URL: "https://hooks.example.com/x", MaxAttempts: 8}}
	for _, p := range server.CheckStart(cfg, "", func(string) string { return "" }) {
		t.Errorf("CheckStart = %v; want nothing (the validator reports the missing secret_file)", p)
	}
}
