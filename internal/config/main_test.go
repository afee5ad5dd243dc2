package config

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// TestMain gives the secret files of the validator corpus the modes the
// golden files expect (SD-SECRET-001 reports a secret file other users can
// read): a checkout makes them 0644 under umask 022 and 0600 under 077.
// Every one is its owner's alone but world-readable.secret, which
// secrets-mode.yaml names for the rule to fire on.
func TestMain(m *testing.M) {
	files, err := filepath.Glob("testdata/validate/secrets/*")
	if err != nil || len(files) == 0 {
		fmt.Fprintln(os.Stderr, "no secrets in testdata/validate/secrets:", err)
		os.Exit(1)
	}
	for _, f := range files {
		mode := os.FileMode(0o600)
		if filepath.Base(f) == "world-readable.secret" {
			mode = 0o644
		}
		if err := os.Chmod(f, mode); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	os.Exit(m.Run())
}
