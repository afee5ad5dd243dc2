package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/config"
	"github.com/sessiond/sessiond/internal/testenv"
)

// TestApp_HMACSecretFile: jwt.hs256_secret_file is read as a secret file:
// a directory or a file over config.MaxSecretFileSize is refused with an
// error naming the file and never quoting it (the FIFO case is in
// secretfile_unix_test.go).
func TestApp_HMACSecretFile(t *testing.T) {
	dir := t.TempDir()
	const mark = "do-not-print-me-"
	key := strings.Repeat("k", 32)
	for _, tc := range []struct {
		name    string
		path    string
		want    string // the secret, when read
		wantErr error  // nil: any error will do when want is ""
	}{
		{name: "file", path: testenv.WriteFile(t, dir, "ok", key+"\r\n"), want: key},
		{name: "file at the size bound", path: testenv.WriteFile(t, dir, "bound", strings.Repeat("b", config.MaxSecretFileSize)),
			want: strings.Repeat("b", config.MaxSecretFileSize)},
		{name: "file over the size bound", path: testenv.WriteFile(t, dir, "big", strings.Repeat(mark, config.MaxSecretFileSize/len(mark)+1)),
			wantErr: config.ErrSecretTooLarge},
		{name: "directory", path: dir, wantErr: config.ErrSecretNotRegular},
		{name: "missing file", path: filepath.Join(dir, "nope")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.JWT.Algorithm, cfg.JWT.HS256SecretFile = "HS256", tc.path
			got, err := (&app{}).hmacSecret(cfg)
			if tc.want != "" {
				if err != nil || string(got) != tc.want {
					t.Fatalf("hmacSecret = %d bytes, %v; want the %d bytes of the file", len(got), err, len(tc.want))
				}
				return
			}
			if err == nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("hmacSecret = %d bytes, %v; want error %v", len(got), err, tc.wantErr)
			}
			if msg := err.Error(); !strings.Contains(msg, tc.path) || !strings.Contains(msg, "jwt.hs256_secret_file") || strings.Contains(msg, mark) {
				t.Errorf("hmacSecret error %.300q; want one naming jwt.hs256_secret_file and %s, never the content", msg, tc.path)
			}
		})
	}
}
