package config_test

import (
	"fmt"
	"os"

	"github.com/sessiond/sessiond/internal/config"
)

func ExampleValidate() {
	src := []byte(`cookie:
  secure: false
  samesite: strict
lifetimes:
  access: 15m
`)
	cfg, doc, err := config.Parse(src, "sessiond.yaml")
	if doc == nil {
		fmt.Println(err) // not YAML
		return
	}
	// Field errors (the misspelt samesite) are also findings.
	findings := config.Validate(cfg, doc, config.EnvProduction)
	for _, f := range findings {
		fmt.Printf("%d:%d %s %s %s\n", f.Line, f.Column, f.Severity, f.RuleID, f.Path)
	}
	// Output:
	// 1:1 info SD-JWT-009 signing.kek_file
	// 2:11 error SD-COOKIE-002 cookie.secure
	// 2:11 error SD-COOKIE-007 cookie.secure
	// 2:11 error SD-COOKIE-008 cookie.secure
	// 3:3 error SD-SCHEMA-001 cookie.samesite
}

func ExampleRunValidate() {
	code := config.RunValidate([]string{"--format", "text", "testdata/validate/good.yaml"}, os.Stdout, os.Stderr)
	fmt.Println("exit", code)
	// Output:
	// testdata/validate/good.yaml: 0 errors, 0 warnings, 0 infos
	// exit 0
}

func ExampleApplyEnv() {
	cfg := config.Default()
	err := config.ApplyEnv(&cfg, []string{"SESSIOND_LISTEN=127.0.0.1:9000", "SESSIOND_COOKIE_SAME_SITE=strict", "SESSIOND_LIFETIMES_IDLE=soon"})
	fmt.Println(cfg.Server.Listen, cfg.Cookie.SameSite)
	fmt.Println(err)
	// Output:
	// 127.0.0.1:9000 strict
	// SESSIOND_LIFETIMES_IDLE: lifetimes.idle: invalid duration "soon" (want e.g. 15m, 8h or 30d)
}
