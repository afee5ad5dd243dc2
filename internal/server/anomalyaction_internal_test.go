package server

import (
	"testing"

	"github.com/sessiond/sessiond/internal/config"
)

// TestBuildAnomaly_Actions: serve builds the detectors with the actions
// SD-ANOMALY-001 accepts and refuses any other, as the validator does;
// "off" once disabled a rule here (under --insecure-dev, which starts
// despite errors) though the validator and the docs refuse it. No action
// (also an error) leaves the rule without effect, as it always did.
func TestBuildAnomaly_Actions(t *testing.T) {
	for _, c := range []struct {
		action string
		ok     bool
	}{
		{"log", true}, {"alert", true}, {"step_up", true}, {"revoke", true},
		{"", true}, {"off", false}, {"block", false},
	} {
		t.Run(c.action, func(t *testing.T) {
			cfg := config.Default()
			cfg.Anomaly.Rules.IPChange.Action = c.action
			_, err := buildAnomaly(cfg)
			if (err == nil) != c.ok {
				t.Errorf("buildAnomaly(ip_change %q) = %v; want ok %v", c.action, err, c.ok)
			}
		})
	}
}
