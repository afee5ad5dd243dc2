package sessiondtest

import (
	"os"
	"testing"
)

// RequireEnv returns the environment variable name, which holds the address
// of a server the test needs (SESSIOND_TEST_POSTGRES_URL,
// SESSIOND_TEST_REDIS_URL…). When it is not set the test is skipped, or
// fails if SESSIOND_TEST_REQUIRE=1 (as in CI), so a missing server cannot
// pass for a green run there. example is a value to suggest in the message.
func RequireEnv(tb testing.TB, name, example string) string {
	tb.Helper()
	v := os.Getenv(name)
	if v != "" {
		return v
	}
	msg := name + " is not set; set it (e.g. " + example + ") to run this test"
	if os.Getenv("SESSIOND_TEST_REQUIRE") == "1" {
		tb.Fatal(msg + " (SESSIOND_TEST_REQUIRE=1)")
	}
	tb.Skip(msg)
	return ""
}
