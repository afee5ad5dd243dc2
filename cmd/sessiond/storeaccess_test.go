package main

import (
	"strings"
	"testing"
)

// The commands that open the store print "store: <DSN>" on stderr, and
// the drivers' errors after it. pgx, like libpq, ends a URL's user info at
// its last '@', so a password holding '#', '/', '?' or a stray '%' is a
// working DSN that url.Parse refuses: it must be hidden all the same, in
// sessiond's line and in the driver's error.
func TestStoreLine_HidesPasswords(t *testing.T) {
	for _, tc := range []struct{ driver, dsn, secret string }{
		{"postgres", "postgres://sessiond:Hunter2secret#x@127.0.0.1:1/sessiond", "Hunter2secret"},
		{"postgres", "postgres://sessiond:Hunter2secret/x@127.0.0.1:1/sessiond", "Hunter2secret"},
		{"postgres", "postgres://sessiond:Hunter2secret%zz@127.0.0.1:1/sessiond", "Hunter2secret"},
		{"redis", "redis://default:Hunter2secret?x@127.0.0.1:1/0", "Hunter2secret"},
		// store.driver left at sqlite: the SQLite store refuses the URL,
		// and the line naming it hides its password too.
		{"sqlite", "postgres://sessiond:Hunter2secret@127.0.0.1:1/sessiond", "Hunter2secret"},
		{"sqlite", "redis://default:Hunter2secret@127.0.0.1:1/0", "Hunter2secret"},
		// PostgreSQL's keyword/value form, which pgx reads as well.
		{"sqlite", "host=127.0.0.1 port=1 user=sessiond password=Hunter2secret dbname=sessiond", "Hunter2secret"},
	} {
		env := []string{"SESSIOND_STORE_DRIVER=" + tc.driver, "SESSIOND_STORE_DSN=" + tc.dsn, "SESSIOND_DATA=" + t.TempDir()}
		out, errOut, code := runInProcess(env, "migrate", "--check")
		if strings.Contains(out+errOut, tc.secret) {
			t.Errorf("migrate --check with DSN %q (exit %d) printed the password:\n%s%s", tc.dsn, code, out, errOut)
		}
	}
	for _, tc := range []struct{ dsn, want string }{
		{"postgres://sessiond:Hunter2secret@db/sessiond", "postgres://sessiond:xxxxx@db/sessiond"},
		{"postgres://sessiond:Hunter2#x@db/sessiond", "postgres://sessiond:xxxxx@db/sessiond"},
		{"postgres://sessiond:a@b@db/sessiond", "postgres://sessiond:xxxxx@db/sessiond"},
		// sslpassword (pgx: the passphrase of the client key) is a secret too.
		{"postgres://sessiond@db/sessiond?sslmode=verify-full&sslpassword=Hunter2secret", "postgres://sessiond@db/sessiond?sslmode=verify-full&sslpassword=xxxxx"},
		{"postgres://sessiond@db/sessiond?password=Hunter2secret", "postgres://sessiond@db/sessiond?password=xxxxx"},
		{"host=db user=sessiond password='Hunter 2' sslpassword=Hunter2secret", "host=db user=sessiond password=xxxxx sslpassword=xxxxx"},
		{"postgres://sessiond@db/sessiond", "postgres://sessiond@db/sessiond"},
		{"/var/lib/sessiond/sessiond.db", "/var/lib/sessiond/sessiond.db"},
	} {
		if got := redactDSN(tc.dsn); got != tc.want {
			t.Errorf("redactDSN(%q) = %q, want %q", tc.dsn, got, tc.want)
		}
	}
}
