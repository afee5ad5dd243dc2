package pgstore

import (
	"context"
	"strings"
	"testing"
	"time"
)

// New's errors end up in the output of `sessiond serve` ("open store: …")
// and so in the service log. A password the DSN does not delimit the way
// the operator meant (an unencoded '@': pgx ends the user info at the
// first one, so the rest becomes the host name; an unquoted space in a
// keyword DSN, which pgconn masks only up to the space) must not be
// printed in part either.
func TestNew_DSNPasswordNotInError(t *testing.T) {
	const tail = "Tail0fTheDbPassw0rd"
	for _, tc := range []struct{ name, dsn string }{
		{"url password with an unencoded @", "postgres://app:p@" + tail + "@127.0.0.1:5432/db?connect_timeout=2"},
		{"keyword password with an unquoted space", "host=127.0.0.1 user=app password=first " + tail + " dbname=db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			s, err := New(ctx, tc.dsn, Options{})
			if s != nil {
				s.Close()
			}
			if err == nil {
				t.Fatal("a DSN that does not say what was meant opened a store")
			}
			if strings.Contains(err.Error(), tail) {
				t.Errorf("New's error prints part of the password:\n%v", err)
			}
		})
	}
}
