package config

import "testing"

// TestParse_RevocationReplicasNumber: store.revocation_replicas is "auto"
// or a number of replicas, and the documented `revocation_replicas: 0`
// (never wait) or `revocation_replicas: 1` is a YAML integer. The loader
// refused it (SD-SCHEMA-002 "expected a string"), so serve would not start
// with the documented value unless it was quoted.
func TestParse_RevocationReplicasNumber(t *testing.T) {
	for _, tt := range []struct {
		value string
		want  int // RevocationReplicasOption
	}{
		{"0", -1},
		{"1", 1},
		{"2", 2},
		{`"0"`, -1},
		{`"3"`, 3},
		{"auto", 0},
		{"", 0},
	} {
		t.Run(tt.value, func(t *testing.T) {
			yaml := "store:\n  driver: redis\n  dsn: redis://db:6379/0\n  revocation_replicas: " + tt.value + "\n"
			cfg, doc, err := Parse([]byte(yaml), "t.yaml")
			if err != nil || doc == nil {
				t.Fatalf("Parse(revocation_replicas: %s) = %v", tt.value, err)
			}
			for _, f := range Validate(cfg, doc, EnvProduction) {
				if f.Path == "store.revocation_replicas" {
					t.Errorf("Validate(revocation_replicas: %s) = %s %s %q; want no finding", tt.value, f.RuleID, f.Severity, f.Message)
				}
			}
			if n, ok := cfg.Store.RevocationReplicasOption(); !ok || n != tt.want {
				t.Errorf("RevocationReplicasOption() = %d, %v; want %d, true", n, ok, tt.want)
			}
		})
	}
}
