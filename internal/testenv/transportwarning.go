package testenv

import (
	"strings"
	"testing"
)

// CheckTransportWarning checks the text log of a store's New, pointed at
// host without verified TLS or with it: the log never holds secret (the
// DSN's password), and it has a warning naming host and want, or with
// want "" no warning at all. pgstore and redisstore warn alike.
func CheckTransportWarning(tb testing.TB, log, secret, host, want string) {
	tb.Helper()
	if strings.Contains(log, secret) {
		tb.Errorf("the log holds the password:\n%s", log)
	}
	warned := strings.Contains(log, "level=WARN")
	switch {
	case want == "" && warned:
		tb.Errorf("logged a warning, with no risk to warn of:\n%s", log)
	case want != "" && (!warned || !strings.Contains(log, want) || !strings.Contains(log, host)):
		tb.Errorf("no warning naming %s and %q; the log:\n%s", host, want, log)
	}
}
