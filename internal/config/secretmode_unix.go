//go:build unix

package config

import (
	"io/fs"
	"strings"
	"syscall"
)

// exposure says who besides its owner may read or change the secret file
// fi describes ("every user can read it"), "" when no one. It judges as
// PostgreSQL judges its server key: a file root owns may be read by its
// group (root hands a service's group the key; systemd's credentials grant
// the service an ACL, which shows as group read), one any other user owns
// by that user alone. Execute bits give no access to the content.
func exposure(fi fs.FileInfo) string {
	group := fi.Mode().Perm() & 0o060
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid == 0 {
		group &^= 0o040
	}
	others := fi.Mode().Perm() & 0o006
	var parts []string
	for _, w := range []struct {
		who  string
		bits fs.FileMode
	}{{"its group", group >> 3}, {"every user", others}} {
		switch {
		case w.bits&0o2 != 0:
			parts = append(parts, w.who+" can change it")
		case w.bits&0o4 != 0:
			parts = append(parts, w.who+" can read it")
		}
	}
	return strings.Join(parts, ", ")
}
