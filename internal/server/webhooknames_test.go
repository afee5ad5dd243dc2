package server

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/ssf"
)

// TestBuildWebhooks_SSFNames: a webhook named like a Shared Signals
// stream's deliveries ("ssf:<stream id>") is refused: the dispatcher looks
// an outbox entry's endpoint up by name, and such a webhook would take
// the stream's SETs. The validator's rule uses the same prefix.
func TestBuildWebhooks_SSFNames(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("whsec_LXkri46MJ3V78GgoVqoIyNa+w81bLdKn7e8M0yf2USc=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		ok   bool
	}{
		{"siem", true},
		{"ssf", true},
		{"ssf:3f2a", false},
		{ssf.EndpointPrefix, false},
	} {
		cfg := config.Default()
		cfg.Webhooks = []config.Webhook{{Name: c.name, URL: "https://hooks.example.com/x", SecretFile: secret, MaxAttempts: 3}}
		_, err := buildWebhooks(cfg)
		if c.ok && err != nil {
			t.Errorf("webhook %q: %v", c.name, err)
		}
		if !c.ok && (!errors.Is(err, sessiond.ErrInvalidArgument) || !strings.Contains(err.Error(), "Shared Signals")) {
			t.Errorf("webhook %q = %v; want refused as a Shared Signals name", c.name, err)
		}
		// The validator refuses exactly what serve refuses.
		doc := "webhooks:\n  - name: \"" + c.name + "\"\n    url: https://hooks.example.com/x\n    secret_file: " + secret + "\n"
		parsed, node, _ := config.Parse([]byte(doc), "t.yaml")
		flagged := false
		for _, f := range config.Validate(parsed, node, config.EnvProduction) {
			flagged = flagged || f.RuleID == "SD-WEBHOOK-003" && f.Path == "webhooks.0.name"
		}
		if flagged == c.ok {
			t.Errorf("webhook %q: the validator flags it %v; serve refuses it %v", c.name, flagged, !c.ok)
		}
	}
}

// TestBuildWebhooks_MaxPendingAge: webhooks[].max_pending_age reaches the
// dispatcher's endpoint; unset (0 in a struct built in Go), the
// dispatcher's default applies.
func TestBuildWebhooks_MaxPendingAge(t *testing.T) {
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("whsec_LXkri46MJ3V78GgoVqoIyNa+w81bLdKn7e8M0yf2USc=\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Webhooks = []config.Webhook{
		{Name: "set", URL: "https://hooks.example.com/x", SecretFile: secret, MaxAttempts: 3, MaxPendingAge: config.Duration(36 * time.Hour)},
		{Name: "unset", URL: "https://hooks.example.com/y", SecretFile: secret, MaxAttempts: 3},
	}
	eps, err := buildWebhooks(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if len(eps) != 2 || eps[0].MaxPendingAge != 36*time.Hour || eps[1].MaxPendingAge != 0 {
		t.Errorf("endpoints = %+v; want MaxPendingAge 36h, then 0 (the dispatcher's default)", eps)
	}
}
