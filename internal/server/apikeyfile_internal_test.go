package server

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/memstore"
)

// TestSeedAPIKey_FileMode: the generated admin key is written to
// <data>/api-key readable by its owner only, also over a file already
// there with a looser mode (the key file of an earlier store, copied
// under umask 022), which os.WriteFile kept.
func TestSeedAPIKey_FileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no mode bits on Windows")
	}
	cases := []struct {
		name     string
		existing os.FileMode // 0: no file
	}{
		{"no file", 0},
		{"file of mode 0644", 0o644},
		{"file of mode 0666", 0o666},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.Server.DataDir = t.TempDir()
			path := filepath.Join(cfg.Server.DataDir, APIKeyFile)
			if tc.existing != 0 {
				if err := os.WriteFile(path, []byte("sdak_old_key_of_an_earlier_store_and_longer_than_the_new_one_is\n"), tc.existing); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(path, tc.existing); err != nil {
					t.Fatal(err)
				}
			}
			keys := apikey.New(memstore.New(), nil, time.Second)
			res, err := seedAPIKey(t.Context(), cfg, "", keys)
			file := res.file
			if err != nil {
				t.Fatalf("seedAPIKey() = %v; want nil", err)
			}
			if abs, _ := filepath.Abs(path); file != abs {
				t.Errorf("seedAPIKey() wrote %q; want %q", file, abs)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if perm := fi.Mode().Perm(); perm != 0o600 {
				t.Errorf("api-key file mode = %v; want -rw-------", perm)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := keys.Authenticate(t.Context(), sessiond.Secret(strings.TrimSpace(string(b)))); err != nil {
				t.Errorf("the key in the file (%d bytes) does not authenticate: %v; want the generated key alone", len(b), err)
			}
		})
	}
}
