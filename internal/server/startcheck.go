package server

import (
	"errors"
	"fmt"
	"os"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/config"
)

// CheckStart reads every file the configuration names, as Run reads them
// when it uses them (signing.kek_file and signing.old_kek_files, each
// webhook's secret_file, server.tls_cert_file and server.tls_key_file, each
// Shared Signals receiver's bearer_token_file and poll_authorization_file),
// and checks the secrets of the environment Run is given: apiKey
// (SESSIOND_API_KEY) and, without signing.kek_file, SESSIOND_KEK (read
// with getenv; nil means os.Getenv). It returns every problem, each naming
// the setting (and the file), in that order; none when Run can use them.
//
// It only reads, and opens no store: serve calls it, and Run calls it
// again before it opens the store, so that a configuration that cannot
// work is refused, with every problem listed, before anything is created
// or written (the store, the signing key ring, <data>/api-key). The
// files are read again where they are used; the HS256 key file, which the
// caller reads, is not checked here.
func CheckStart(cfg config.Config, apiKey sessiond.Secret, getenv func(string) string) []error {
	if getenv == nil {
		getenv = os.Getenv
	}
	var errs []error
	// First, and whatever --insecure-dev says: an empty data directory is
	// the working directory, where Run would create a new store.
	if err := config.CheckDataDir(cfg); err != nil {
		errs = append(errs, err)
	}
	if apiKey != "" {
		if err := apikey.CheckOperatorKey(apiKey); err != nil {
			errs = append(errs, err)
		}
	}
	_, _, kekErrs := signingKEKs(cfg, getenv)
	errs = append(errs, kekErrs...)
	_, hookErrs := webhookEndpoints(cfg)
	for _, err := range hookErrs {
		if !errors.Is(err, errNoSecretFile) {
			errs = append(errs, err)
		}
	}
	if s := cfg.Server; s.TLSCertFile != "" || s.TLSKeyFile != "" {
		if s.TLSCertFile == "" || s.TLSKeyFile == "" {
			errs = append(errs, errTLSPair)
		} else {
			_, tlsErrs := loadPair(s.TLSCertFile, s.TLSKeyFile)
			errs = append(errs, tlsErrs...)
		}
	}
	for i, rc := range cfg.SSF.Receivers {
		if _, err := receiverBearer(i, rc); err != nil {
			errs = append(errs, err)
		}
		if rc.Delivery == config.SSFDeliveryPoll {
			if _, err := pollAuthorization(rc, getenv); err != nil {
				errs = append(errs, fmt.Errorf("ssf.receivers.%d.poll_authorization_file: %w", i, err))
			}
		}
	}
	return errs
}

// StartError is Run's error when CheckStart finds problems: it matches
// ErrInvalidConfig, and Problems lists them all.
type StartError struct {
	Problems []error
}

func (e *StartError) Error() string {
	return fmt.Sprintf("%v: %v", ErrInvalidConfig, errors.Join(e.Problems...))
}

// Unwrap makes a StartError match ErrInvalidConfig and each problem.
func (e *StartError) Unwrap() []error {
	return append([]error{ErrInvalidConfig}, e.Problems...)
}
