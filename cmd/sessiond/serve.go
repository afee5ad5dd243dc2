package main

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/jwttoken/signing"
)

func (a *app) serveCmd() *cobra.Command {
	var insecureDev bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the session server (embedded SQLite in ./sessiond-data by default)",
		Long: "Run the session server (embedded SQLite in ./sessiond-data by default).\n\n" +
			"Configuration: defaults, then --config FILE (or SESSIOND_CONFIG), then SESSIOND_* variables, then\n" +
			"--listen/--data. Secrets come only from the environment or files: SESSIOND_API_KEY (else a key is\n" +
			"created in <data>/api-key) and SESSIOND_JWT_HS256_SECRET (or jwt.hs256_secret_file).\n\n" +
			"A configuration with errors is reported in full (every problem of the file, of the files it names\n" +
			"and of the environment at once, before the store is opened) and serve exits with status 78\n" +
			"(EX_CONFIG), whatever the problem: a secret, KEK or TLS file missing, unreadable or malformed\n" +
			"included, and a SESSIOND_API_KEY under 32 characters. It exits 78 as well when the store refuses\n" +
			"store.dsn or store.namespace (a DSN that does not parse, or another driver's scheme), when\n" +
			"SESSIOND_API_KEY names a revoked key, when no key-encryption key it is given opens the stored\n" +
			"signing key ring, or when its HS256 secret is one the other nodes replaced; 1 when it fails to\n" +
			"start for another reason (the store does not answer, say).\n\n" +
			"SIGTERM or SIGINT stops it: still serving, not ready, for server.shutdown_delay (a second signal\n" +
			"ends the delay), then a graceful stop within server.shutdown_timeout, exit 0; a further signal\n" +
			"after the delay, or while the store still opens, stops at once, exit 1. SIGHUP is ignored (there is\n" +
			"no configuration reload), with a WARN line; a closed or full stderr loses log lines, counted, never\n" +
			"requests.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// A log reader that went away (a shipper restarted, `| head`)
			// must not kill the auth service: with SIGPIPE notified, a
			// write to the broken stderr fails with EPIPE instead, and the
			// log counts the lines lost.
			pipe := make(chan os.Signal, 1)
			signal.Notify(pipe, syscall.SIGPIPE)
			defer signal.Stop(pipe)
			// SIGHUP (a terminal closed, a supervisor's "reload") would
			// otherwise end the process without the graceful stop.
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			cfg, doc, secret, err := a.serveConfig()
			if err != nil {
				return err
			}
			log, logOut := server.NewLogOutput(a.stderr, cfg.Log)
			closeLog := logOut.Close
			defer closeLog()                // after Run: every line of a graceful stop is written
			defer ignoreHangups(log, hup)() // before closeLog: its lines are written
			var findings []config.Finding
			err = server.Run(cmd.Context(), server.Options{
				Config:       cfg,
				Doc:          doc,
				APIKey:       sessiond.Secret(a.getenv("SESSIOND_API_KEY")),
				HMACSecret:   secret,
				InsecureDev:  insecureDev,
				Logger:       log,
				LogLinesLost: logOut.Dropped,
				Version:      currentBuild().Version,
				Findings:     func(f []config.Finding) { findings = f },
				Getenv:       a.getenv, // SESSIOND_KEK, as serveConfig checked it
				GCHeadroom:   a.getenv("GOGC") == "",
				// Taken once the store is open: a further signal during
				// the open (a migration's wait) stops the process at once.
				Again:     a.again,
				TakeAgain: func() { a.takeAgain() },
			})
			if errors.Is(err, server.ErrInvalidConfig) {
				_ = closeLog() // the findings' log lines first, then the report
				file := cmp.Or(a.configPath, a.getenv("SESSIOND_CONFIG"), "(defaults)")
				_ = config.Report(a.stderr, "text", file, findings)
				var se *server.StartError // a file changed since serveConfig read it
				if errors.As(err, &se) {
					a.notStarting(file, se.Problems)
				} else {
					fmt.Fprintln(a.stderr, "sessiond:", clean(err.Error()))
				}
				return exitError{exitConfig}
			}
			if msg := configFailure(err); msg != "" {
				_ = closeLog() // the report is the last line
				fmt.Fprintln(a.stderr, "sessiond:", clean(msg))
				return exitError{exitConfig}
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&insecureDev, "insecure-dev", false,
		"start despite configuration errors (loopback listen and admin_listen addresses only; every finding is logged)")
	return cmd
}

// ignoreHangups logs each SIGHUP on hup as ignored until the returned
// function is called. serve has no configuration to reload, and stopping
// an auth service because its terminal closed or a supervisor sent its
// reload signal would be worse than carrying on: SIGTERM stops it.
func ignoreHangups(log *slog.Logger, hup <-chan os.Signal) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-hup:
				log.Warn("SIGHUP ignored: serve has no configuration reload; restart it (SIGTERM, then start) to apply a change")
			case <-quit:
				return
			}
		}
	}()
	return func() {
		close(quit)
		<-done
	}
}

// configFailure returns the report of err when serve failed to start on
// what only a change of its settings fixes, so that it exits 78 and is not
// restarted in a loop (systemd's RestartPreventExitStatus=78); "" for a
// failure a restart may fix (the store does not answer, say).
func configFailure(err error) string {
	switch {
	case errors.Is(err, apikey.ErrKeyRevoked):
		return "SESSIOND_API_KEY: " + err.Error() + " (set SESSIOND_API_KEY to a key that was never revoked, or unset it)"
	case errors.Is(err, signing.ErrSecretSuperseded):
		return err.Error()
	case errors.Is(err, server.ErrStoreSettings):
		return err.Error()
	case errors.Is(err, signing.ErrKEKRequired):
		return err.Error() + " (give this node that key-encryption key: signing.kek_file or SESSIOND_KEK, " +
			"or signing.old_kek_files while a KEK is rotated or introduced)"
	}
	return ""
}
