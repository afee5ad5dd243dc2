//go:build unix

package config

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestValidate_SecretFileModes: SD-SECRET-001 warns of each secret file
// (the TLS private key, the HS256 key, the KEKs, the webhook keys, the
// Shared Signals credentials, the generated API key in server.data_dir,
// a PostgreSQL DSN's client key and password file)
// whose mode lets another user than its owner read or change it, naming
// the setting, the file and its mode and never its content, as PostgreSQL
// judges its server key: a file root owns may be read by its group (a
// service's group, or systemd's credentials, which grant the service an
// ACL that shows as group read), one the server's user owns only by it.
// The mode is the file's a symbolic link leads to (Kubernetes mounts a
// Secret's keys as links into ..data). A missing file is not reported
// (CI lacks production secrets; serve reports it).
func TestValidate_SecretFileModes(t *testing.T) {
	root := os.Getuid() == 0 // the test's files are the test's user's
	const secret = "zz-secret-content-never-quoted-4f9c"
	settings := []struct {
		path string                   // the finding's path
		yaml func(file string) string // the setting naming file
		name string                   // the file's name, when the setting names a directory
	}{
		{"server.tls_key_file", func(f string) string { return "server:\n  tls_key_file: " + f + "\n" }, ""},
		{"jwt.hs256_secret_file", func(f string) string { return "jwt:\n  hs256_secret_file: " + f + "\n" }, ""},
		{"signing.kek_file", func(f string) string { return "signing:\n  kek_file: " + f + "\n" }, ""},
		{"signing.old_kek_files.1", func(f string) string { return "signing:\n  old_kek_files: [/nonexistent/zz-kek, " + f + "]\n" }, ""},
		{"webhooks.0.secret_file", func(f string) string {
			return "webhooks:\n  - {url: \"https://h.example/in\", secret_file: " + f + "}\n"
		}, ""},
		{"ssf.receivers.0.bearer_token_file", func(f string) string {
			return "ssf:\n  receivers:\n    - {name: idp, path: /ssf/idp, bearer_token_file: " + f + "}\n"
		}, ""},
		{"ssf.receivers.0.poll_authorization_file", func(f string) string {
			return "ssf:\n  receivers:\n    - {name: idp, delivery: poll, poll_authorization_file: " + f + "}\n"
		}, ""},
		{"server.data_dir", func(d string) string { return "server:\n  data_dir: " + d + "\n" }, APIKeyFile},
		// pgx reads a client key and a password file whatever their mode,
		// where libpq refuses them.
		{"store.dsn", func(f string) string {
			return "store:\n  driver: postgres\n  dsn: \"postgres://db.example/app?sslmode=verify-full&sslkey=" + f + "\"\n"
		}, ""},
		{"store.dsn", func(f string) string {
			return "store:\n  driver: postgres\n  dsn: \"host=db.example passfile='" + f + "' dbname=app\"\n"
		}, ""},
	}
	for _, m := range []struct {
		name  string
		mode  os.FileMode
		link  bool   // the setting names a symbolic link to the file
		chown bool   // the file is given to nobody (65534); only as root
		want  string // the message's end; "" for no finding
	}{
		{"owner only", 0o600, false, false, ""},
		{"owner read only", 0o400, false, false, ""},
		{"world-readable", 0o644, false, false, "mode 0644: every user can read it"},
		{"world-readable through a link", 0o644, true, false, "mode 0644: every user can read it"},
		{"others may write", 0o602, false, false, "mode 0602: every user can change it"},
		{"group may write", 0o660, false, false, "mode 0660: its group can change it"},
		{"group-readable", 0o640, false, false, map[bool]string{false: "mode 0640: its group can read it", true: ""}[root]},
		{"group-readable and owned by another user than root", 0o640, false, true, "mode 0640: its group can read it"},
		{"group-readable and writable", 0o664, false, false, "mode 0664: its group can change it, every user can read it"},
	} {
		for _, s := range settings {
			t.Run(m.name+"/"+s.path, func(t *testing.T) {
				// path is the file as the setting names it (in
				// server.data_dir for the API key), a symbolic link to
				// the file written when m.link.
				dir := t.TempDir()
				path, named := filepath.Join(dir, "secret"), ""
				if s.name != "" {
					path, named = filepath.Join(dir, s.name), dir
				}
				file := path
				if m.link {
					file = filepath.Join(t.TempDir(), "target")
					if err := os.Symlink(file, path); err != nil {
						t.Fatal(err)
					}
				}
				if named == "" {
					named = path
				}
				if err := os.WriteFile(file, []byte(secret), 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(file, m.mode); err != nil {
					t.Fatal(err)
				}
				if m.chown {
					if !root {
						t.Skip("only root can give a file away; the test's own files are another user's than root already")
					}
					if err := os.Chown(file, 65534, 65534); err != nil {
						t.Fatal(err)
					}
				}
				severity := SeverityWarning
				if m.want == "" {
					severity = ""
				}
				wantFinding(t, s.yaml(named), "", "SD-SECRET-001", s.path, severity, path+" has "+m.want+"\x00")
				cfg, doc, _ := Parse([]byte(s.yaml(named)), "t.yaml")
				for _, f := range Validate(cfg, doc, "") {
					if strings.Contains(f.Message, secret) {
						t.Errorf("%s quotes the file's content: %s", f.RuleID, f.Message)
					}
				}
			})
		}
	}
	t.Run("missing", func(t *testing.T) {
		wantFinding(t, "signing:\n  kek_file: /nonexistent/zz-kek\n", "", "SD-SECRET-001", "signing.kek_file", "", "")
	})
}

// TestExposure: the words of SD-SECRET-001 for each mode, whoever owns the
// file (the tests above can only make files of the user running them: as
// root the group's read is always excused). What every user may do its
// group may too, so the group is named only for more than that: a 0644
// file is "every user can read it" whether sessiond's user or root owns
// it, as the docs say.
func TestExposure(t *testing.T) {
	for _, tc := range []struct {
		mode fs.FileMode
		uid  uint32
		want string
	}{
		{0o600, 1000, ""},
		{0o400, 1000, ""},
		{0o700, 1000, ""}, // execute gives no access to the content
		{0o611, 1000, ""},
		{0o640, 1000, "its group can read it"},
		{0o640, 0, ""},
		{0o440, 0, ""}, // systemd's credentials, a Kubernetes Secret with fsGroup
		{0o644, 1000, "every user can read it"},
		{0o644, 0, "every user can read it"},
		{0o604, 1000, "every user can read it"},
		{0o660, 1000, "its group can change it"},
		{0o660, 0, "its group can change it"},
		{0o620, 0, "its group can change it"},
		{0o664, 1000, "its group can change it, every user can read it"},
		{0o664, 0, "its group can change it, every user can read it"},
		{0o646, 1000, "every user can change it"},
		{0o666, 1000, "every user can change it"},
		{0o602, 0, "every user can change it"},
		{0o642, 0, "every user can change it"},
	} {
		fi := fakeFileInfo{mode: tc.mode, sys: &syscall.Stat_t{Uid: tc.uid}}
		if got := exposure(fi); got != tc.want {
			t.Errorf("exposure(%04o, uid %d) = %q; want %q", tc.mode, tc.uid, got, tc.want)
		}
	}
}

type fakeFileInfo struct {
	mode fs.FileMode
	sys  any
}

func (f fakeFileInfo) Name() string       { return "secret" }
func (f fakeFileInfo) Size() int64        { return 32 }
func (f fakeFileInfo) Mode() fs.FileMode  { return f.mode }
func (f fakeFileInfo) ModTime() time.Time { return time.Time{} }
func (f fakeFileInfo) IsDir() bool        { return false }
func (f fakeFileInfo) Sys() any           { return f.sys }
