package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/server"
	"github.com/sessiond/sessiond/jwttoken/signing"
	"github.com/sessiond/sessiond/sqlitestore"
)

// storeHelp is appended to the help of every command that opens the store
// itself (keys, apikey, migrate) rather than asking a running server.
const storeHelp = `
These commands open the store directly, the one the server's configuration
names: --config FILE (or SESSIOND_CONFIG), then SESSIOND_STORE_DRIVER,
SESSIOND_STORE_DSN, SESSIOND_STORE_NAMESPACE and --data (or SESSIOND_DATA;
the SQLite default is ./sessiond-data/sessiond.db; an empty data directory,
the working directory, is refused: SD-SERVER-009). The store opened is
printed on stderr, and so are its warnings (on Redis: a change its
replicas did not take within store.revocation_wait).

They refuse to create a store: a SQLite file that does not exist, or a
PostgreSQL schema or Redis prefix no server has initialised (no signing
keys and no API keys), is an error unless --create is given, so a wrong
working directory or a missing variable cannot silently give you keys no
server uses. The memory driver is refused: a memory store lives only
inside one process.

Only migrate (and serve, unless store.migrate is manual) apply schema
migrations. The other commands refuse a SQLite or PostgreSQL schema that
lacks some of this build's migrations, so that a newer CLI cannot migrate
a store under servers of an older build (which then refuse to start on
it); with --create they create or migrate it.`

// errNoStore: the configured store does not exist and --create was not given.
var errNoStore = errors.New("no store")

// describeStore names the configured store without any password.
func describeStore(cfg config.Config) string {
	switch cfg.Store.Driver {
	case "sqlite", "":
		// A file path is shown as it is; another store's DSN, which the
		// SQLite store refuses (a URL, or PostgreSQL's host=… password=…),
		// without its password.
		return "sqlite " + redactDSN(sqlitePath(cfg))
	case "postgres":
		s := "postgres " + redactDSN(cfg.Store.DSN)
		if cfg.Store.Namespace != "" {
			s += " schema " + cfg.Store.Namespace
		}
		return s
	case "redis":
		s := "redis " + redactDSN(cfg.Store.DSN)
		if cfg.Store.Namespace != "" {
			s += " prefix " + cfg.Store.Namespace
		}
		return s
	}
	return cfg.Store.Driver
}

func sqlitePath(cfg config.Config) string {
	if cfg.Store.DSN != "" {
		return cfg.Store.DSN
	}
	return filepath.Join(cfg.Server.DataDir, "sessiond.db")
}

// keywordPassword is any password=… (sslpassword too) in a keyword DSN or
// a query that did not parse.
var keywordPassword = regexp.MustCompile(`(?i)(\w*password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// urlPassword is the password of a URL that url.Parse refuses: pgx, like
// libpq, ends the user info at the last '@', so a password holding '#', '?',
// '/' or a stray '%' is a working DSN that does not parse here.
var urlPassword = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*://[^:/@]*:)(.*)@`)

// redactDSN hides a password in a URL (user:pw@, ?password=,
// ?sslpassword=) or in a keyword DSN (password=…).
func redactDSN(dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.Scheme != "" {
		q := u.Query()
		changed := false
		for k := range q {
			if strings.HasSuffix(strings.ToLower(k), "password") {
				q.Set(k, "xxxxx")
				changed = true
			}
		}
		if changed {
			u.RawQuery = q.Encode()
		}
		return u.Redacted()
	}
	dsn = urlPassword.ReplaceAllString(dsn, "${1}xxxxx@")
	return keywordPassword.ReplaceAllString(dsn, "${1}xxxxx")
}

// withMeta opens the configured store for a command that manages shared
// documents (signing keys, API keys) directly, without a running server.
// Unless create is set, it refuses a store that does not exist yet. The
// store's warnings go to stderr, a line each: on Redis, a change that
// replicas did not take in time (store.revocation_wait) holds on the
// master only, and a failover would undo it.
func (a *app) withMeta(ctx context.Context, create bool, fn func(cfg config.Config, meta sessiond.MetaStore) error) error {
	cfg, _, err := a.loadConfig()
	if err != nil {
		return err
	}
	store, err := a.openExisting(ctx, cfg, create, create, newWarnings(a.stderr))
	if err != nil {
		return err
	}
	defer store.Close()
	meta, ok := store.(sessiond.MetaStore)
	if !ok {
		return fmt.Errorf("store %s keeps no shared documents: %w", cfg.Store.Driver, sessiond.ErrUnsupported)
	}
	if !create {
		if err := servedBefore(ctx, meta); errors.Is(err, sessiond.ErrNotFound) {
			return fmt.Errorf("%w: %s holds no sessiond data (no signing keys, no API keys); start `sessiond serve` on it once, "+
				"check --config/SESSIOND_STORE_*, or pass --create", errNoStore, describeStore(cfg))
		} else if err != nil {
			return err
		}
	}
	return fn(cfg, meta)
}

// servedBefore returns nil when meta is a store a server has used,
// sessiond.ErrNotFound when not: it holds signing keys or API keys. Every
// start ensures an API key, but a strategy database deployment keeps no
// signing keys (unless its SSF transmitter signs): they alone would call
// its store one nobody used, and refuse apikey there.
func servedBefore(ctx context.Context, meta sessiond.MetaStore) error {
	for _, doc := range []string{signing.DocName, apikey.DocName} {
		if _, _, err := meta.GetMeta(ctx, doc); !errors.Is(err, sessiond.ErrNotFound) {
			return err
		}
	}
	return sessiond.ErrNotFound
}

// openExisting opens the configured store and says which on stderr. An
// empty server.data_dir is refused (the working directory: SD-SERVER-009).
// A SQLite file must exist unless create; memory is never accepted. Unless
// migrate, a SQL schema behind this build is refused, not migrated.
func (a *app) openExisting(ctx context.Context, cfg config.Config, create, migrate bool, log *slog.Logger) (sessiond.Store, error) {
	// Whatever the driver: serve refuses it too, so no server uses a store
	// reached through it.
	if err := config.CheckDataDir(cfg); err != nil {
		return nil, err
	}
	switch cfg.Store.Driver {
	case "memory":
		return nil, errors.New("store.driver is memory: a memory store lives only inside one server process, " +
			"so nothing done here would reach a server")
	case "sqlite", "":
		// Another store's DSN (a URL, host=… password=…) is left to the
		// store, which refuses it without naming it: it may hold a password.
		if path := sqlitePath(cfg); sqlitestore.CheckPath(path) == nil {
			if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) && !create {
				return nil, fmt.Errorf("%w: %s does not exist; run where the server's data directory is "+
					"(--data, SESSIOND_DATA, --config), or pass --create", errNoStore, redactDSN(path))
			}
		}
	}
	fmt.Fprintln(a.stderr, "store:", describeStore(cfg))
	store, err := server.OpenStore(ctx, cfg, log, server.OpenMode{MustExist: !create, NoMigrate: !migrate})
	if errors.Is(err, sessiond.ErrSchemaOutdated) {
		return nil, fmt.Errorf("%w: an older sessiond made it; run `sessiond migrate` with this build as a step of the upgrade "+
			"(a server older than a migration refuses to start on the migrated schema), or use the build your servers run", err)
	}
	if errors.Is(err, sessiond.ErrNotFound) {
		// A PostgreSQL schema without sessiond's tables (a mistyped
		// namespace): not created, as a SQLite file is not.
		return nil, fmt.Errorf("%w: %s holds no sessiond tables; check --config/SESSIOND_STORE_*, or pass --create", errNoStore, describeStore(cfg))
	}
	return store, err
}
