package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
)

// exitError carries a specific exit code through cobra.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

// app holds what every command shares: its streams, environment and the
// global flags.
type app struct {
	stdout, stderr io.Writer
	environ        []string
	configPath     string
	listen         string
	dataDir        string
}

func (a *app) getenv(name string) string {
	for _, kv := range a.environ {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v
		}
	}
	return ""
}

// run executes the CLI and returns the process exit code: 0 success, 1 a
// failure (or validation errors), 2 a usage error.
func run(args []string, stdout, stderr io.Writer, environ []string) int {
	a := &app{stdout: stdout, stderr: stderr, environ: environ}
	root := &cobra.Command{
		Use:           "sessiond",
		Short:         "Session management and token lifecycle: server and operator CLI",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       currentBuild().String(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetArgs(args)
	pf := root.PersistentFlags()
	pf.StringVar(&a.configPath, "config", "", "YAML configuration file (env SESSIOND_CONFIG)")
	pf.StringVar(&a.listen, "listen", "", "listen address, overrides server.listen")
	pf.StringVar(&a.dataDir, "data", "", "data directory, overrides server.data_dir")
	root.AddCommand(a.serveCmd(), a.configCmd(), a.sessionsCmd(), a.keysCmd(), a.apikeyCmd(), a.migrateCmd(),
		a.eventsCmd(), a.incidentCmd(), a.benchCmd(), a.versionCmd())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var ee exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	fmt.Fprintln(stderr, "sessiond:", err)
	if isUsage(err) {
		return 2
	}
	return 1
}

func isUsage(err error) bool {
	msg := err.Error()
	for _, s := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least",
		"flag needs an argument", "invalid argument", "required flag"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// loadConfig builds the effective configuration: defaults, then the file,
// then SESSIOND_* variables, then flags.
func (a *app) loadConfig() (config.Config, *config.Document, error) {
	cfg := config.Default()
	var doc *config.Document
	path := a.configPath
	if path == "" {
		path = a.getenv("SESSIOND_CONFIG")
	}
	if path != "" {
		c, d, err := config.Load(path)
		if err != nil {
			return cfg, nil, err
		}
		cfg, doc = c, d
	}
	if err := config.ApplyEnv(&cfg, a.environ); err != nil {
		return cfg, doc, err
	}
	if a.listen != "" {
		cfg.Server.Listen = a.listen
	}
	if a.dataDir != "" {
		cfg.Server.DataDir = a.dataDir
	}
	return cfg, doc, nil
}

// hmacSecret reads the HS256 secret from SESSIOND_JWT_HS256_SECRET or
// jwt.hs256_secret_file; secrets are never inline in the config.
func (a *app) hmacSecret(cfg config.Config) ([]byte, error) {
	if cfg.JWT.Algorithm != "HS256" {
		return nil, nil
	}
	if s := a.getenv("SESSIOND_JWT_HS256_SECRET"); s != "" {
		return []byte(s), nil
	}
	if cfg.JWT.HS256SecretFile == "" {
		return nil, fmt.Errorf("HS256 needs jwt.hs256_secret_file or SESSIOND_JWT_HS256_SECRET: %w", sessiond.ErrInvalidArgument)
	}
	b, err := os.ReadFile(cfg.JWT.HS256SecretFile)
	if err != nil {
		return nil, err
	}
	return []byte(strings.TrimRight(string(b), "\r\n")), nil
}

func (a *app) apiKeyFile(cfg config.Config) string {
	return filepath.Join(cfg.Server.DataDir, "api-key")
}
