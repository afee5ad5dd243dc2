// Package migration reads a store's embedded, versioned schema migrations
// (files named NNNN_description.sql). Each store applies them in its own
// way; the naming and ordering rules live here once.
package migration

import (
	"cmp"
	"fmt"
	"io/fs"
	"slices"
	"strconv"
	"strings"

	"github.com/sessiond/sessiond"
)

// Migration is one versioned schema change.
type Migration struct {
	Version int
	Name    string
	SQL     string
	// NoTransaction is set by NoTransactionMarker on the file's first
	// line: a statement that cannot run in a transaction block (CREATE
	// INDEX CONCURRENTLY). Only a store that knows how to run it outside
	// one may honour it; the others refuse it (RequireTransactional).
	NoTransaction bool
}

// NoTransactionMarker, as a migration file's first line, declares that it
// runs outside the migrations' transaction.
const NoTransactionMarker = "-- sessiond:no-transaction"

// Load returns the migrations in dir of fsys in version order. It fails on
// a name without a positive version prefix or on two files of one version.
func Load(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var out []Migration
	for _, e := range entries {
		prefix, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(prefix)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must start with a positive version and '_'", e.Name())
		}
		b, err := fs.ReadFile(fsys, dir+"/"+e.Name())
		if err != nil {
			return nil, err
		}
		first, _, _ := strings.Cut(string(b), "\n")
		out = append(out, Migration{Version: v, Name: e.Name(), SQL: string(b),
			NoTransaction: strings.TrimSpace(first) == NoTransactionMarker})
	}
	slices.SortFunc(out, func(a, b Migration) int { return cmp.Compare(a.Version, b.Version) })
	for i := 1; i < len(out); i++ {
		if out[i].Version == out[i-1].Version {
			return nil, fmt.Errorf("migrations %s and %s share version %d", out[i-1].Name, out[i].Name, out[i].Version)
		}
	}
	return out, nil
}

// RequireTransactional fails if any of all declares NoTransaction, for a
// store that applies every migration in its one transaction.
func RequireTransactional(all []Migration) error {
	for _, m := range all {
		if m.NoTransaction {
			return fmt.Errorf("migration %s: runs outside a transaction, which this store does not support", m.Name)
		}
	}
	return nil
}

// Batch returns the first migrations of pending (in version order) that
// run alike, all in one transaction or all outside one: a store applies
// them, then the next batch, so that versions are applied in order
// whichever way each runs.
func Batch(pending []Migration) []Migration {
	for i := 1; i < len(pending); i++ {
		if pending[i].NoTransaction != pending[0].NoTransaction {
			return pending[:i]
		}
	}
	return pending
}

// Pending returns the migrations of all (in version order, as Load returns
// them) whose version is not among applied, in order. It fails if applied
// holds a version newer than the last of all: a newer build migrated the
// schema, and this one must not run on it.
func Pending(all []Migration, applied []int) ([]Migration, error) {
	done := make(map[int]bool, len(applied))
	latest := 0
	if len(all) > 0 {
		latest = all[len(all)-1].Version
	}
	newest := 0
	for _, v := range applied {
		newest = max(newest, v)
		done[v] = true
	}
	if newest > latest {
		return nil, fmt.Errorf("schema version %d is newer than this build's %d", newest, latest)
	}
	var out []Migration
	for _, m := range all {
		if !done[m.Version] {
			out = append(out, m)
		}
	}
	return out, nil
}

// Current fails unless applied holds every migration of all, for a caller
// that must not change the schema itself (a CLI command of a newer build
// pointed at a store its servers still use). A schema behind this build
// fails with an error matching sessiond.ErrSchemaOutdated that names the
// pending migrations; a newer one fails as in Pending.
func Current(all []Migration, applied []int) error {
	pending, err := Pending(all, applied)
	if err != nil || len(pending) == 0 {
		return err
	}
	names := make([]string, len(pending))
	for i, m := range pending {
		names[i] = m.Name
	}
	return fmt.Errorf("%d migration(s) of this build not applied (%s): %w",
		len(pending), strings.Join(names, ", "), sessiond.ErrSchemaOutdated)
}
