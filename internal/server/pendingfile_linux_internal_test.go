//go:build linux

package server

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/internal/apikey"
	"github.com/sessiond/sessiond/memstore"
)

// TestSeedAPIKey_PendingFileKinds: what a start does with a pending key
// file that is not what a start leaves (a regular file of mode 0600 holding
// one live key): it never makes <data>/api-key readable by others, a
// symbolic link or a FIFO, never replaces a live api-key, moves one live
// pending file of two, and does not call a file whose key it could not read
// "not live" (an operator told so deletes it, with perhaps the only copy
// of the admin key).
func TestSeedAPIKey_PendingFileKinds(t *testing.T) {
	cases := []struct {
		name string
		// make makes the pending file(s) beside path and the store's keys;
		// it returns the key api-key must hold after the start ("": none)
		make func(t *testing.T, keys *apikey.Keys, path string) sessiond.Secret
		// adopted: the start moved a pending file over api-key
		adopted bool
		// left: how many pending files the start names as left, and a
		// word their reasons must hold
		left    int
		because string
		// link: api-key is a symbolic link the start must leave as it is
		link bool
	}{
		{name: "mode 0644", adopted: true, make: func(t *testing.T, keys *apikey.Keys, path string) sessiond.Secret {
			secret := liveSecret(t, keys, "generated")
			if err := os.Chmod(writePending(t, path, secret), 0o644); err != nil {
				t.Fatal(err)
			}
			return secret
		}},
		{name: "symbolic link to a live key", left: 1, because: "not a regular file", make: func(t *testing.T, keys *apikey.Keys, path string) sessiond.Secret {
			target := filepath.Join(t.TempDir(), "key")
			if err := os.WriteFile(target, []byte(liveSecret(t, keys, "generated")+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, path+".new-link"); err != nil {
				t.Fatal(err)
			}
			return ""
		}},
		{name: "FIFO", left: 1, because: "not a regular file", make: func(t *testing.T, keys *apikey.Keys, path string) sessiond.Secret {
			liveSecret(t, keys, "generated")
			if err := syscall.Mkfifo(path+".new-fifo", 0o600); err != nil {
				t.Fatal(err)
			}
			return ""
		}},
		{name: "live key and 1 MiB after it", left: 1, because: "not live", make: func(t *testing.T, keys *apikey.Keys, path string) sessiond.Secret {
			secret := liveSecret(t, keys, "generated")
			data := append([]byte(secret+"\n"), bytes.Repeat([]byte("k"), 1<<20)...)
			if err := os.WriteFile(path+".new-huge", data, 0o600); err != nil {
				t.Fatal(err)
			}
			return ""
		}},
		{name: "api-key live too", left: 1, because: "so is the key of", make: func(t *testing.T, keys *apikey.Keys, path string) sessiond.Secret {
			placed := liveSecret(t, keys, "env")
			if err := os.WriteFile(path, []byte(placed+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			writePending(t, path, liveSecret(t, keys, "generated"))
			return placed
		}},
		{name: "api-key a symbolic link", left: 1, because: "not moved into place", link: true, make: func(t *testing.T, keys *apikey.Keys, path string) sessiond.Secret {
			target := filepath.Join(t.TempDir(), "key")
			if err := os.WriteFile(target, []byte("sdak_an_earlier_key\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, path); err != nil {
				t.Fatal(err)
			}
			// writePendingKey refuses a link at path: as a start left it before
			if err := os.WriteFile(path+".new-1", []byte(liveSecret(t, keys, "generated")+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return ""
		}},
		{name: "two live pending files", adopted: true, left: 1, because: "so is the key of", make: func(t *testing.T, keys *apikey.Keys, path string) sessiond.Secret {
			first, second := liveSecret(t, keys, "generated"), liveSecret(t, keys, "env")
			if err := os.WriteFile(path+".new-1", []byte(first+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path+".new-2", []byte(second+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			return first // the first by name
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			meta := memstore.New()
			node := newFirstStartNode(t, meta)
			path := filepath.Join(node.cfg.Server.DataDir, APIKeyFile)
			want := tc.make(t, apikey.New(meta, nil, time.Second), path)

			node.seed(ctx)
			if node.err != nil {
				t.Fatalf("seedAPIKey = %v; want nil", node.err)
			}
			if got := node.res.adopted != ""; got != tc.adopted {
				t.Errorf("seedAPIKey adopted %q; want a pending file adopted: %v", node.res.adopted, tc.adopted)
			}
			if len(node.res.left) != tc.left {
				t.Errorf("pending files left = %+v; want %d", node.res.left, tc.left)
			}
			for _, l := range node.res.left {
				if !strings.Contains(l.why, tc.because) {
					t.Errorf("pending file %s left because %q; want %q in it", l.file, l.why, tc.because)
				}
			}
			fi, err := os.Lstat(path)
			switch {
			case tc.link:
				if err != nil || fi.Mode()&os.ModeSymlink == 0 {
					t.Errorf("api-key, a symbolic link before the start: %v, %v; want it left as it was", fi, err)
				}
			case want == "" && err == nil:
				t.Errorf("api-key after the start: %v; want none", fi.Mode())
			case want == "":
			case err != nil:
				t.Fatalf("api-key after the start: %v; want it to hold the live key", err)
			case fi.Mode() != 0o600:
				t.Errorf("api-key after the start: mode %v; want -rw------- (a regular file of this user's only)", fi.Mode())
			default:
				if raw, err := os.ReadFile(path); err != nil || strings.TrimSpace(string(raw)) != string(want) {
					t.Errorf("api-key after the start holds another key than the one expected (%v)", err)
				}
			}
		})
	}
}

// liveSecret adds a live admin key named name to keys and returns it.
func liveSecret(t *testing.T, keys *apikey.Keys, name string) sessiond.Secret {
	t.Helper()
	secret, err := apikey.NewSecret()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Ensure(t.Context(), name, secret); err != nil {
		t.Fatal(err)
	}
	return secret
}

// TestSeedAPIKey_PendingRemovedBeforeMove: a pending file removed between
// the store's taking its key and the move (an operator deleting the files
// the start's WARN names, too early) fails the start, saying the key is
// stored: it is in no file, and api-key does not hold it.
func TestSeedAPIKey_PendingRemovedBeforeMove(t *testing.T) {
	meta := memstore.New()
	var node *firstStartNode
	race := &seedAfterMeta{MetaStore: meta, after: func(context.Context) {
		found, _ := filepath.Glob(filepath.Join(node.cfg.Server.DataDir, APIKeyFile) + ".new-*")
		for _, f := range found {
			if err := os.Remove(f); err != nil {
				t.Error(err)
			}
		}
	}}
	node = newFirstStartNode(t, race)
	node.seed(t.Context())
	if node.err == nil || !strings.Contains(node.err.Error(), "is stored and live") {
		t.Errorf("seedAPIKey whose pending file was removed before the move = %+v, %v; want an error saying the key is stored", node.res, node.err)
	}
}
