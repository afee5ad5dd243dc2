package config

import (
	"testing"
)

// TestValidate_WebhookDuplicatesAndAttempts: two webhooks that would each
// get the same event at the same URL are reported (every such event went
// out twice), max_attempts has an upper bound as well as a lower one, and
// max_pending_age is kept between an hour and 90 days.
func TestValidate_WebhookDuplicatesAndAttempts(t *testing.T) {
	const secret = "secret_file: testdata/validate/secrets/webhook.whsec"
	hook := func(more string) string { return "  - {" + secret + ", " + more + "}\n" }
	cases := []struct {
		name     string
		hooks    string
		rule     string
		path     string
		severity Severity // "": the finding must be absent
		msg      string
	}{
		{"same url, no names", hook("url: \"https://h.example/in\"") + hook("url: \"https://h.example/in\""),
			"SD-WEBHOOK-005", "webhooks.1.url", SeverityWarning, "webhook 1 sends to the url of webhook 0"},
		{"same url, host in capitals", hook("url: \"https://h.example/in\"") + hook("url: \"HTTPS://H.EXAMPLE/in\"") + hook("url: \"https://h.example/in\""),
			"SD-WEBHOOK-005", "webhooks.1.url", SeverityWarning, "twice"},
		{"same url, named, overlapping events", hook("url: \"https://h.example/in\", name: a, events: [session.revoked]") + hook("url: \"https://h.example/in\", name: b"),
			"SD-WEBHOOK-005", "webhooks.1.url", SeverityWarning, "session.revoked"},
		{"same url, disjoint events", hook("url: \"https://h.example/in\", events: [session.revoked]") + hook("url: \"https://h.example/in\", events: [session.created]"),
			"SD-WEBHOOK-005", "webhooks.1.url", "", ""},
		{"other path", hook("url: \"https://h.example/in\"") + hook("url: \"https://h.example/In\""),
			"SD-WEBHOOK-005", "webhooks.1.url", "", ""},
		{"max attempts at the cap", hook("url: \"https://h.example/in\", max_attempts: 1000"),
			"SD-WEBHOOK-003", "webhooks.0.max_attempts", "", ""},
		{"max attempts over the cap", hook("url: \"https://h.example/in\", max_attempts: 1001"),
			"SD-WEBHOOK-003", "webhooks.0.max_attempts", SeverityError, "over 1000"},
		{"max attempts huge", hook("url: \"https://h.example/in\", max_attempts: 4611686018427387904"),
			"SD-WEBHOOK-003", "webhooks.0.max_attempts", SeverityError, "over 1000"},
		{"max pending age default", hook("url: \"https://h.example/in\""),
			"SD-WEBHOOK-007", "webhooks.0.max_pending_age", "", ""},
		{"max pending age at the floor", hook("url: \"https://h.example/in\", max_pending_age: 1h"),
			"SD-WEBHOOK-007", "webhooks.0.max_pending_age", "", ""},
		{"max pending age at the cap", hook("url: \"https://h.example/in\", max_pending_age: 2160h"),
			"SD-WEBHOOK-007", "webhooks.0.max_pending_age", "", ""},
		{"max pending age below the floor", hook("url: \"https://h.example/in\", max_pending_age: 59m"),
			"SD-WEBHOOK-007", "webhooks.0.max_pending_age", SeverityError, "between 1h and 2160h"},
		{"max pending age over the cap", hook("url: \"https://h.example/in\", max_pending_age: 2161h"),
			"SD-WEBHOOK-007", "webhooks.0.max_pending_age", SeverityError, "between 1h and 2160h"},
		{"max pending age negative", hook("url: \"https://h.example/in\", max_pending_age: -1h"),
			"SD-SCHEMA-002", "webhooks.0.max_pending_age", SeverityError, "must not be negative"},
		{"max pending age in days", hook("url: \"https://h.example/in\", max_pending_age: 30d"),
			"SD-WEBHOOK-007", "webhooks.0.max_pending_age", "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantFinding(t, "webhooks:\n"+c.hooks, "", c.rule, c.path, c.severity, c.msg)
		})
	}
}
