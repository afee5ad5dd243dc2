package config

import "testing"

// TestValidate_RevocationStreamsPerAPIKey: the bound on a key's open
// revocation streams on a node is a count: 0 turns it off, a negative one
// is refused.
func TestValidate_RevocationStreamsPerAPIKey(t *testing.T) {
	const path = "rate_limit.revocation_streams_per_api_key"
	cases := []struct {
		name     string
		yaml     string
		severity Severity // "": the finding must be absent
		msg      string
	}{
		{"default", "", "", ""},
		{"one", "rate_limit: {revocation_streams_per_api_key: 1}\n", "", ""},
		{"off", "rate_limit: {revocation_streams_per_api_key: 0}\n", "", ""},
		{"negative", "rate_limit: {revocation_streams_per_api_key: -1}\n", SeverityError, "-1 is negative"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantFinding(t, c.yaml, "", "SD-RATE-001", path, c.severity, c.msg)
			wantFinding(t, c.yaml, "", "SD-SCHEMA-001", path, "", "")
		})
	}
}

// TestRevocationStreamsPerAPIKey_DefaultAndEnv: the default bound is 1000,
// and the environment overrides it like any scalar key.
func TestRevocationStreamsPerAPIKey_DefaultAndEnv(t *testing.T) {
	cfg := Default()
	if got := cfg.RateLimit.RevocationStreamsPerAPIKey; got != 1000 {
		t.Errorf("default rate_limit.revocation_streams_per_api_key = %d; want 1000", got)
	}
	if err := ApplyEnv(&cfg, []string{"SESSIOND_RATE_LIMIT_REVOCATION_STREAMS_PER_API_KEY=5"}); err != nil {
		t.Fatal(err)
	}
	if got := cfg.RateLimit.RevocationStreamsPerAPIKey; got != 5 {
		t.Errorf("rate_limit.revocation_streams_per_api_key from the environment = %d; want 5", got)
	}
}
