package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// WriteFile writes text to the file name in dir, readable by its owner
// only as secrets and configuration files are, and returns its path. It
// fails tb if the file cannot be written.
func WriteFile(tb testing.TB, dir, name, text string) string {
	tb.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}
