package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestApplyEnv(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		check   func(c Config) bool
		errs    []string // env var names expected in FieldErrors
	}{
		{
			name:    "long form",
			environ: []string{"SESSIOND_SERVER_LISTEN=0.0.0.0:9000"},
			check:   func(c Config) bool { return c.Server.Listen == "0.0.0.0:9000" },
		},
		{
			name:    "short forms",
			environ: []string{"SESSIOND_LISTEN=:8000", "SESSIOND_DATA=/var/lib/s"},
			check:   func(c Config) bool { return c.Server.Listen == ":8000" && c.Server.DataDir == "/var/lib/s" },
		},
		{
			name:    "long form wins over short",
			environ: []string{"SESSIOND_SERVER_LISTEN=long:1", "SESSIOND_LISTEN=short:2"},
			check:   func(c Config) bool { return c.Server.Listen == "long:1" },
		},
		{
			name:    "types",
			environ: []string{"SESSIOND_COOKIE_SECURE=false", "SESSIOND_LIFETIMES_IDLE=45m", "SESSIOND_LIMITS_MAX_SESSIONS=3", "SESSIOND_STORE_DSN=postgres://db/s", "SESSIOND_LIFETIMES_REFRESH=14d", "SESSIOND_REFRESH_CACHE_SIZE=0"},
			check: func(c Config) bool {
				return !c.Cookie.Secure && c.Lifetime.Idle == Duration(45*time.Minute) && c.Limits.MaxSessions == 3 &&
					c.Store.DSN == "postgres://db/s" && c.Lifetime.Refresh == Duration(14*24*time.Hour) && c.Refresh.CacheSize == 0
			},
		},
		{
			name:    "nested and top level",
			environ: []string{"SESSIOND_ANOMALY_RULES_IP_CHANGE_ACTION=revoke", "SESSIOND_STRATEGY=jwt", "SESSIOND_VERIFY_CACHE_SIZE=10"},
			check: func(c Config) bool {
				return c.Anomaly.Rules.IPChange.Action == "revoke" && c.Strategy == "jwt" && c.VerifyCacheSize == 10
			},
		},
		{
			name:    "string list",
			environ: []string{"SESSIOND_CSRF_TRUSTED_ORIGINS= https://a.example , https://b.example,"},
			check: func(c Config) bool {
				o := c.CSRF.TrustedOrigins
				return len(o) == 2 && o[0] == "https://a.example" && o[1] == "https://b.example"
			},
		},
		{
			name:    "trusted proxies",
			environ: []string{"SESSIOND_GATEWAY_TRUSTED_PROXIES=10.0.0.5, 2001:db8::/32,"},
			check: func(c Config) bool {
				p := c.Gateway.TrustedProxies
				return len(p) == 2 && p[0] == "10.0.0.5" && p[1] == "2001:db8::/32"
			},
		},
		{
			name:    "empty value clears a string",
			environ: []string{"SESSIOND_COOKIE_DOMAIN="},
			check:   func(c Config) bool { return c.Cookie.Domain == "" },
		},
		{
			name:    "secrets are not config",
			environ: []string{"SESSIOND_API_KEY=k", "SESSIOND_JWT_HS256_SECRET=s"},
			check:   func(c Config) bool { return c.JWT.HS256SecretFile == "" },
		},
		{
			name:    "other variables are ignored",
			environ: []string{"HOME=/root", "SESSIOND_TEST_REQUIRE=1", "SESSIOND_CONFIG=/etc/s.yaml", "NOEQUALS", "PATH=/bin"},
			check:   func(c Config) bool { return true },
		},
		{
			name:    "bad values",
			environ: []string{"SESSIOND_COOKIE_SECURE=yes please", "SESSIOND_LIFETIMES_IDLE=30", "SESSIOND_LIMITS_MAX_SESSIONS=many", "SESSIOND_PRESET=b2b"},
			check: func(c Config) bool {
				return c.Cookie.Secure && c.Lifetime.Idle == Duration(30*time.Minute) && c.Preset == "b2b"
			},
			errs: []string{"SESSIOND_COOKIE_SECURE", "SESSIOND_LIFETIMES_IDLE", "SESSIOND_LIMITS_MAX_SESSIONS"},
		},
		{
			name: "typos are errors",
			environ: []string{"SESSIOND_COOKIE_SECUR=false", "SESSIOND_STRATEGIE=jwt", "SESSIOND_WEBHOOKS_0_URL=http://x",
				"SESSIOND_API_KY=sdak_x", "SESSIOND_KEKK=k", "SESSIOND_JWT_HS256_SECRT=s"},
			check: func(c Config) bool { return c.Cookie.Secure && c.Strategy == "hybrid" },
			errs:  []string{"SESSIOND_COOKIE_SECUR", "SESSIOND_STRATEGIE", "SESSIOND_WEBHOOKS_0_URL", "SESSIOND_API_KY", "SESSIOND_KEKK", "SESSIOND_JWT_HS256_SECRT"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Default()
			err := ApplyEnv(&cfg, tt.environ)
			if !tt.check(cfg) {
				t.Errorf("ApplyEnv(%q) gave %+v", tt.environ, cfg)
			}
			var got []string
			if err != nil {
				var fes []*FieldError
				if !errorsAsAll(err, &fes) {
					t.Fatalf("ApplyEnv error is not a join of *FieldError: %v", err)
				}
				for _, fe := range fes {
					got = append(got, fe.Path)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.errs, ",") {
				t.Errorf("ApplyEnv errors for %v; want %v (err: %v)", got, tt.errs, err)
			}
		})
	}
}

func TestApplyEnv_Suggestion(t *testing.T) {
	cfg := Default()
	err := ApplyEnv(&cfg, []string{"SESSIOND_COOKIE_SECUR=false"})
	var fe *FieldError
	if !errors.As(err, &fe) || !strings.Contains(fe.Msg, "SESSIOND_COOKIE_SECURE") {
		t.Errorf("ApplyEnv(SESSIOND_COOKIE_SECUR) = %v; want a suggestion of SESSIOND_COOKIE_SECURE", err)
	}
}

// TestApplyEnv_WrongCase: a key's variable written in another case is not
// silently ignored (the environment tells SESSIOND_lifetimes_absolute from
// SESSIOND_LIFETIMES_ABSOLUTE, and nothing reads the first): it is an
// error naming the variable meant. A variable of another tool that merely
// shares the prefix is still left alone.
func TestApplyEnv_WrongCase(t *testing.T) {
	for name, want := range map[string]string{
		"SESSIOND_lifetimes_absolute": "SESSIOND_LIFETIMES_ABSOLUTE",
		"SESSIOND_Cookie_Secure":      "SESSIOND_COOKIE_SECURE",
		"sessiond_cookie_secure":      "SESSIOND_COOKIE_SECURE",
		"Sessiond_Api_Key":            "SESSIOND_API_KEY",
		"SESSIOND_cookie_secur":       "SESSIOND_COOKIE_SECURE",
		"SESSIOND_lifetimes_nope":     "no such key in lifetimes",
	} {
		cfg := Default()
		err := ApplyEnv(&cfg, []string{name + "=false"})
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Path != name || !strings.Contains(fe.Msg, want) {
			t.Errorf("ApplyEnv(%s) = %v; want an error naming %q", name, err, want)
		}
	}
	cfg := Default()
	if err := ApplyEnv(&cfg, []string{"sessiond_build_number=42", "SESSIOND_url=http://x"}); err != nil {
		t.Errorf("ApplyEnv(another tool's variables) = %v; want them left alone", err)
	}
}

func TestEnvName_Unique(t *testing.T) {
	seen := map[string]string{}
	for _, k := range Keys() {
		n := EnvName(k)
		if n == "" {
			if !strings.Contains(k, "[]") {
				t.Errorf("EnvName(%q) is empty", k)
			}
			continue
		}
		if other, ok := seen[n]; ok {
			t.Errorf("keys %q and %q share the variable %s", k, other, n)
		}
		seen[n] = k
	}
	for short := range envShort {
		if k, ok := seen[short]; ok {
			t.Errorf("short form %s collides with key %q", short, k)
		}
	}
	if got := EnvName("cookie.same_site"); got != "SESSIOND_COOKIE_SAME_SITE" {
		t.Errorf("EnvName(cookie.same_site) = %q", got)
	}
}

// SESSIOND_SSF_<NAME>_POLL_AUTHORIZATION is a receiver's poll credential,
// read by the server (docs/configuration.md), not a mistyped ssf key.
func TestApplyEnv_SSFPollAuthorization(t *testing.T) {
	cfg := Default()
	cfg.SSF.Receivers = []SSFReceiver{{Name: "idp-1", Issuer: "https://idp.example", Audience: "sessiond",
		JWKSURL: "https://idp.example/jwks", SubjectFormat: "email", Delivery: SSFDeliveryPoll, PollURL: "https://idp.example/poll"}}
	if err := ApplyEnv(&cfg, []string{"SESSIOND_SSF_IDP_1_POLL_AUTHORIZATION=Bearer poll-token"}); err != nil {
		t.Errorf("the documented SESSIOND_SSF_<NAME>_POLL_AUTHORIZATION is refused: %v", err)
	}
	// Without a name it is no such variable.
	if err := ApplyEnv(&cfg, []string{"SESSIOND_SSF_POLL_AUTHORIZATION=Bearer x"}); err == nil {
		t.Error("SESSIOND_SSF_POLL_AUTHORIZATION (no receiver name) was accepted")
	}
}
