package pgstore

import (
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
)

func TestTransportRisk(t *testing.T) {
	t.Setenv("PGSSLMODE", "")
	const both = "plaintext, or TLS with its certificate not verified (sslmode allow or prefer, the default)"
	for _, tc := range []struct {
		dsn  string
		want string // "" : none
	}{
		{"postgres://app@127.0.0.1:5432/db?sslmode=disable", ""},
		{"postgres://app@localhost/db", ""},
		// The fully qualified spelling is the same name (RFC 6761 §6.3).
		{"postgres://app@localhost./db?sslmode=disable", ""},
		{"host=LocalHost. dbname=db sslmode=disable", ""},
		{"postgres://app@[::ffff:127.0.0.1]:5432/db?sslmode=disable", ""},
		{"postgres://app@[::1]:5432/db?sslmode=disable", ""},
		{"host=/var/run/postgresql dbname=db sslmode=disable", ""},
		{"postgres://app@db.internal/db?sslmode=verify-full", ""},
		{"postgres://app@db.internal/db?sslmode=verify-ca", ""},
		{"postgres://app@db.internal/db?sslmode=disable", "plaintext"},
		{"postgres://app@db.internal/db?sslmode=allow", both},
		{"postgres://app@db.internal/db?sslmode=prefer", both},
		{"postgres://app@db.internal/db", both},
		{"postgres://app@db.internal/db?sslmode=require", "TLS certificate not verified"},
		// A second host on the network counts as the first does.
		{"postgres://app@127.0.0.1,db.internal/db?sslmode=disable", "plaintext"},
	} {
		cfg, err := pgxpool.ParseConfig(tc.dsn)
		if err != nil {
			t.Fatalf("%s: %v", tc.dsn, err)
		}
		host, risk := transportRisk(cfg.ConnConfig)
		if tc.want == "" {
			if risk != "" {
				t.Errorf("%s: risk %q at %s; want none", tc.dsn, risk, host)
			}
			continue
		}
		if risk != tc.want || host != "db.internal" {
			t.Errorf("%s: risk %q at %q; want %q at db.internal", tc.dsn, risk, host, tc.want)
		}
	}
}
