package migration_test

import (
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
