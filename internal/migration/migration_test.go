package migration_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/migration"
)

func TestLoad(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0002_b.sql": {Data: []byte("B")},
		"m/0001_a.sql": {Data: []byte("A")},
		"m/0010_c.sql": {Data: []byte("C")},
	}
	ms, err := migration.Load(fsys, "m")
	if err != nil || len(ms) != 3 || ms[0].Version != 1 || ms[1].Version != 2 || ms[2].Version != 10 || ms[2].SQL != "C" {
		t.Fatalf("Load = %+v, %v; want 1, 2, 10 in order", ms, err)
	}
	for name, bad := range map[string]fstest.MapFS{
		"no version":  {"m/init.sql": {Data: []byte("x")}},
		"zero":        {"m/0000_x.sql": {Data: []byte("x")}},
		"duplicate":   {"m/0001_a.sql": {Data: []byte("a")}, "m/1_b.sql": {Data: []byte("b")}},
		"missing dir": {},
	} {
		if _, err := migration.Load(bad, "m"); err == nil {
			t.Errorf("%s: Load = nil error", name)
		}
	}
}

func TestLoad_NoTransaction(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0001_a.sql": {Data: []byte("CREATE TABLE a (x int);")},
		"m/0002_b.sql": {Data: []byte(migration.NoTransactionMarker + "\n-- why\nCREATE INDEX CONCURRENTLY IF NOT EXISTS b ON a (x);")},
		"m/0003_c.sql": {Data: []byte(migration.NoTransactionMarker + "\r\nCREATE INDEX CONCURRENTLY IF NOT EXISTS c ON a (x);")},
		// The marker counts only on the first line.
		"m/0004_d.sql": {Data: []byte("-- why\n" + migration.NoTransactionMarker + "\nCREATE INDEX d ON a (x);")},
	}
	ms, err := migration.Load(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	want := []bool{false, true, true, false}
	for i, m := range ms {
		if m.NoTransaction != want[i] {
			t.Errorf("Load: %s NoTransaction = %v; want %v", m.Name, m.NoTransaction, want[i])
		}
	}
	if err := migration.RequireTransactional(ms); err == nil || !strings.Contains(err.Error(), "0002_b.sql") {
		t.Errorf("RequireTransactional = %v; want an error naming 0002_b.sql", err)
	}
	if err := migration.RequireTransactional(ms[:1]); err != nil {
		t.Errorf("RequireTransactional(transactional only) = %v; want nil", err)
	}
}

func TestBatch(t *testing.T) {
	tx := func(v int) migration.Migration { return migration.Migration{Version: v} }
	out := func(v int) migration.Migration { return migration.Migration{Version: v, NoTransaction: true} }
	for _, c := range []struct {
		name    string
		pending []migration.Migration
		want    []int
	}{
		{"None", nil, nil},
		{"AllInTransaction", []migration.Migration{tx(1), tx(2)}, []int{1, 2}},
		{"TransactionThenOutside", []migration.Migration{tx(1), tx(2), out(3), tx(4)}, []int{1, 2}},
		{"OutsideFirst", []migration.Migration{out(3), out(4), tx(5), out(6)}, []int{3, 4}},
		{"OutsideThenTransaction", []migration.Migration{out(3), tx(4)}, []int{3}},
	} {
		var got []int
		for _, m := range migration.Batch(c.pending) {
			got = append(got, m.Version)
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: Batch = %v; want %v", c.name, got, c.want)
		}
	}
}

func TestPending(t *testing.T) {
	all := []migration.Migration{{Version: 1, Name: "0001_a.sql"}, {Version: 2, Name: "0002_b.sql"}, {Version: 10, Name: "0010_c.sql"}}
	for _, c := range []struct {
		name    string
		applied []int
		want    []int
	}{
		{"Fresh", nil, []int{1, 2, 10}},
		{"Some", []int{1}, []int{2, 10}},
		{"Gap", []int{2, 1}, []int{10}},
		{"UpToDate", []int{10, 2, 1}, nil},
		{"UnknownOlder", []int{1, 2, 5, 10}, nil},
	} {
		got, err := migration.Pending(all, c.applied)
		var versions []int
		for _, m := range got {
			versions = append(versions, m.Version)
		}
		if err != nil || !slices.Equal(versions, c.want) {
			t.Errorf("%s: Pending(%v) = %v, %v; want %v, nil", c.name, c.applied, versions, err, c.want)
		}
	}
	if _, err := migration.Pending(all, []int{1, 11}); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("Pending(applied 11 of 10) = %v; want an error saying the schema is newer", err)
	}
	// The error names the schema's version, the newest applied, not the
	// first one past this build's: the operator needs a build of that one.
	if _, err := migration.Pending(all, []int{1, 2, 10, 11, 12}); err == nil || !strings.Contains(err.Error(), "schema version 12 is newer than this build's 10") {
		t.Errorf("Pending(applied 11 and 12 of 10) = %v; want it to name version 12", err)
	}
}

func TestCurrent(t *testing.T) {
	all := []migration.Migration{{Version: 1, Name: "0001_a.sql"}, {Version: 2, Name: "0002_b.sql"}, {Version: 10, Name: "0010_c.sql"}}
	for _, c := range []struct {
		name     string
		applied  []int
		outdated bool     // the error matches sessiond.ErrSchemaOutdated
		names    []string // pending migrations the error must name
		err      string   // another error, by a part of its text
	}{
		{name: "UpToDate", applied: []int{10, 2, 1}},
		{name: "UnknownOlder", applied: []int{1, 2, 5, 10}},
		{name: "Fresh", outdated: true, names: []string{"0001_a.sql", "0002_b.sql", "0010_c.sql"}},
		{name: "OneBehind", applied: []int{1, 2}, outdated: true, names: []string{"0010_c.sql"}},
		{name: "Gap", applied: []int{1, 10}, outdated: true, names: []string{"0002_b.sql"}},
		{name: "Newer", applied: []int{1, 2, 10, 11}, err: "newer"},
	} {
		err := migration.Current(all, c.applied)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) || errors.Is(err, sessiond.ErrSchemaOutdated) {
				t.Errorf("%s: Current(%v) = %v; want an error saying %q, not ErrSchemaOutdated", c.name, c.applied, err, c.err)
			}
		case c.outdated:
			if !errors.Is(err, sessiond.ErrSchemaOutdated) {
				t.Errorf("%s: Current(%v) = %v; want ErrSchemaOutdated", c.name, c.applied, err)
				continue
			}
			for _, n := range c.names {
				if !strings.Contains(err.Error(), n) {
					t.Errorf("%s: Current(%v) = %v; want it to name %s", c.name, c.applied, err, n)
				}
			}
		case err != nil:
			t.Errorf("%s: Current(%v) = %v; want nil", c.name, c.applied, err)
		}
	}
}
