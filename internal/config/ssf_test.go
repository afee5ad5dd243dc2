package config

import "testing"

// TestValidate_SSFPrivateEndpoints: SD-SSF-003 warns of
// ssf.transmitter.allow_private_endpoints outside development only.
func TestValidate_SSFPrivateEndpoints(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  string // the --env flag; "" takes the file's
		want bool
	}{
		{"production", "ssf:\n  transmitter:\n    allow_private_endpoints: true\n", "", true},
		{"production, off", "ssf:\n  transmitter:\n    allow_private_endpoints: false\n", "", false},
		{"default", "environment: production\n", "", false},
		{"development", "environment: development\nssf:\n  transmitter:\n    allow_private_endpoints: true\n", "", false},
		{"development file checked as production", "environment: development\nssf:\n  transmitter:\n    allow_private_endpoints: true\n", EnvProduction, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, doc, err := Parse([]byte(tc.yaml), "t.yaml")
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			var got *Finding
			fs := Validate(cfg, doc, tc.env)
			for i, f := range fs {
				if f.RuleID == "SD-SSF-003" {
					got = &fs[i]
				}
			}
			switch {
			case got == nil && tc.want:
				t.Fatalf("Validate has no SD-SSF-003; findings: %+v", fs)
			case got != nil && !tc.want:
				t.Fatalf("Validate = %+v; want no SD-SSF-003", *got)
			case got != nil && (got.Severity != SeverityWarning || got.Path != "ssf.transmitter.allow_private_endpoints" || got.Line == 0):
				t.Errorf("SD-SSF-003 = %s at %s line %d; want a warning at the line of ssf.transmitter.allow_private_endpoints", got.Severity, got.Path, got.Line)
			}
		})
	}
}

// TestApplyEnv_SSFAllowPrivateEndpoints: the key has its variable.
func TestApplyEnv_SSFAllowPrivateEndpoints(t *testing.T) {
	cfg := Default()
	if cfg.SSF.Transmitter.AllowPrivateEndpoints {
		t.Fatal("allow_private_endpoints is on by default")
	}
	if err := ApplyEnv(&cfg, []string{"SESSIOND_SSF_TRANSMITTER_ALLOW_PRIVATE_ENDPOINTS=true"}); err != nil {
		t.Fatal(err)
	}
	if !cfg.SSF.Transmitter.AllowPrivateEndpoints {
		t.Error("SESSIOND_SSF_TRANSMITTER_ALLOW_PRIVATE_ENDPOINTS=true not applied")
	}
}
