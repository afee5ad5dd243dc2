package server

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/memstore"
	"github.com/sessiond/sessiond/pgstore"
	"github.com/sessiond/sessiond/redisstore"
	"github.com/sessiond/sessiond/sqlitestore"
)

// OpenMode is how a caller of OpenStore may treat the store it opens.
type OpenMode struct {
	// MustExist: a PostgreSQL schema, or a SQLite file, without sessiond's
	// tables (or missing) is refused (sessiond.ErrNotFound) instead of
	// created. Redis creates nothing on open.
	MustExist bool
	// NoMigrate: a SQL schema behind this build is refused
	// (sessiond.ErrSchemaOutdated) instead of migrated. Redis has no schema.
	NoMigrate bool
}

// OpenStore opens the backend cfg names. This switch is the one place that
// picks a store.
func OpenStore(ctx context.Context, cfg config.Config, log *slog.Logger, mode OpenMode) (sessiond.Store, error) {
	switch cfg.Store.Driver {
	case "memory":
		log.Warn("store driver memory: every session is lost when the process exits")
		return memstore.New(), nil
	case "sqlite", "":
		path := cfg.Store.DSN
		if path == "" {
			path = filepath.Join(cfg.Server.DataDir, "sessiond.db")
		}
		if s := cfg.Store.Synchronous; s != "" && s != config.SynchronousNormal && s != config.SynchronousFull {
			return nil, fmt.Errorf("store.synchronous %q: want normal or full: %w", s, sessiond.ErrInvalidArgument)
		}
		// sqlitestore.New makes the file's directory, mode 0700, unless
		// MustExist or NoMigrate: then it creates nothing.
		return sqlitestore.New(ctx, path, sqliteOptions(cfg, log, mode))
	case "postgres":
		return pgstore.New(ctx, cfg.Store.DSN, pgstore.Options{Schema: cfg.Store.Namespace, Logger: log, WriteGroups: cfg.Store.WriteGroups,
			MustExist: mode.MustExist, NoMigrate: mode.NoMigrate})
	case "redis":
		replicas, ok := cfg.Store.RevocationReplicasOption()
		if !ok {
			return nil, fmt.Errorf("store.revocation_replicas %q: want auto, 0 or a positive number: %w", cfg.Store.RevocationReplicas, sessiond.ErrInvalidArgument)
		}
		return redisstore.New(ctx, cfg.Store.DSN, redisstore.Options{Prefix: cfg.Store.Namespace, Logger: log,
			ClientCache: cfg.Store.ClientCache.Std(), RevocationReplicas: replicas, RevocationWait: cfg.Store.RevocationWait.Std()})
	}
	return nil, fmt.Errorf("store.driver %q: want memory, sqlite, postgres or redis: %w", cfg.Store.Driver, sessiond.ErrInvalidArgument)
}

// sqliteOptions are the SQLite store's options from cfg and mode.
func sqliteOptions(cfg config.Config, log *slog.Logger, mode OpenMode) sqlitestore.Options {
	return sqlitestore.Options{Logger: log, MustExist: mode.MustExist, NoMigrate: mode.NoMigrate,
		FullSync: cfg.Store.Synchronous == config.SynchronousFull}
}
