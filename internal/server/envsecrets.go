package server

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/sessiond/sessiond/internal/config"
)

// warnTypedEnvSecrets warns of secrets from the environment that look
// typed rather than random, as the configuration's rules warn of the same
// secrets in files (SD-JWT-012 for the KEK, SD-SSF-004 for a poll
// credential), which the validator cannot see: SESSIOND_KEK when no
// signing.kek_file wins over it, and each polling Shared Signals
// receiver's SESSIOND_SSF_<NAME>_POLL_AUTHORIZATION. Warnings, as theirs
// are; the values are never logged.
func warnTypedEnvSecrets(cfg config.Config, getenv func(string) string, log *slog.Logger) {
	if getenv == nil {
		getenv = os.Getenv
	}
	if v := getenv(config.EnvKEK); cfg.Signing.KEKFile == "" && v != "" && config.GuessableKEK(v) {
		log.Warn(config.EnvKEK+" decodes to a key that looks like a word, a phrase or a repeated pattern rather than random bytes: it is used as the AES-256 key sealing the signing keys, so a copy of the store lets it be guessed offline; rotate to a random KEK (openssl rand -base64 32; docs/operations.md, KEK rotation)",
			"rule", "SD-JWT-012")
	}
	for _, rc := range cfg.SSF.Receivers {
		if rc.Delivery != config.SSFDeliveryPoll {
			continue
		}
		name := pollAuthorizationEnv(rc)
		if v := getenv(name); v != "" && config.GuessableCredential(v) {
			// The variable is an attribute, not the message's start, so the
			// line is found by its msg in docs/operations.md.
			log.Warn("a Shared Signals poll credential from the environment looks like a word, a phrase or a repeated pattern rather than random: anyone who guesses it can read the transmitter's queue and acknowledge the SETs meant to end sessions; ask the transmitter for a random credential",
				"variable", name, "receiver", rc.Name, "rule", "SD-SSF-004")
		}
	}
}

// warnEnvSecretFiles warns of secret files pgx reads that store.dsn does
// not name and other users can read or change (config.EnvSecretFiles: a
// PostgreSQL store's client key and password file from a service file,
// PGSSLKEY/PGPASSFILE or pgx's defaults), as SD-SECRET-001 warns of those
// the configuration names: pgx reads them whatever their mode, where
// libpq would refuse them. Their contents are never read here (a service
// file's are, to find them, as pgx reads it).
func warnEnvSecretFiles(cfg config.Config, getenv func(string) string, log *slog.Logger) {
	if getenv == nil {
		getenv = os.Getenv
	}
	for _, f := range cfg.EnvSecretFiles(getenv) {
		if mode, who := config.SecretFileExposure(f.File); who != "" {
			log.Warn("a PostgreSQL client key or password file pgx reads is open to other users; make it readable by sessiond's user alone (chmod 0600)",
				"from", f.Setting, "file", f.File, "mode", fmt.Sprintf("%04o", mode), "who", who, "rule", "SD-SECRET-001")
		}
	}
}
