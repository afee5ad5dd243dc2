package migration_test

import (
	"slices"
	"strings"
	"testing"
	"testing/fstest"

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
}
