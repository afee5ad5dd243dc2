package main

import (
	"errors"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
)

func (a *app) serveCmd() *cobra.Command {
	var insecureDev bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the session server (embedded SQLite in ./sessiond-data by default)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, doc, err := a.loadConfig()
			if err != nil {
				return err
			}
			log, closeLog := server.NewLogger(a.stderr, cfg.Log)
			defer closeLog() // after Run: every line of a graceful stop is written
			secret, err := a.hmacSecret(cfg)
			if err != nil {
				return err
			}
			var findings []config.Finding
			err = server.Run(cmd.Context(), server.Options{
				Config:      cfg,
				Doc:         doc,
				APIKey:      sessiond.Secret(a.getenv("SESSIOND_API_KEY")),
				HMACSecret:  secret,
				InsecureDev: insecureDev,
				Logger:      log,
				Version:     currentBuild().Version,
				Findings:    func(f []config.Finding) { findings = f },
			})
			if errors.Is(err, server.ErrInvalidConfig) {
				_ = closeLog() // the findings' log lines first, then the report
				file := a.configPath
				if file == "" {
					file = "(defaults)"
				}
				_ = config.Report(a.stderr, "text", file, findings)
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&insecureDev, "insecure-dev", false,
		"start despite configuration errors (loopback listen address only; every finding is logged)")
	return cmd
}

func (a *app) configCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with configuration files"}
	cmd.AddCommand(&cobra.Command{
		Use:   "validate FILE [--env development|production] [--format text|json|sarif]",
		Short: "Report what is unsafe in a configuration file (exit 0 ok, 1 errors, 2 unreadable)",
		// The validator parses its own flags so its exit codes stay exact.
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, arg := range args {
				if arg == "-h" || arg == "--help" {
					return cmd.Help()
				}
			}
			if code := config.RunValidate(args, a.stdout, a.stderr); code != 0 {
				return exitError{code}
			}
			return nil
		},
	})
	return cmd
}

func (a *app) migrateCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply the store's schema migrations and exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := a.loadConfig()
			if err != nil {
				return err
			}
			store, err := server.OpenStore(cmd.Context(), cfg, slog.New(slog.NewTextHandler(a.stderr, nil)))
			if err != nil {
				return err
			}
			defer store.Close()
			_, err = a.stdout.Write([]byte("migrations applied (" + cfg.Store.Driver + ")\n"))
			return err
		},
	}
}
