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
// by that user alone. Execute bits give no access to the content. What
// every user may do its group may too: the group is named only when it may
// do more, so the words for a mode do not depend on who owns the file.
func exposure(fi fs.FileInfo) string {
	group := (fi.Mode().Perm() & 0o060) >> 3
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Uid == 0 {
		group &^= 0o4
	}
	others := fi.Mode().Perm() & 0o006
	g, gw := access(group)
	o, ow := access(others)
	var parts []string
	if g > o {
		parts = append(parts, "its group "+gw)
	}
	if o > 0 {
		parts = append(parts, "every user "+ow)
	}
	return strings.Join(parts, ", ")
}

// access ranks the read and write bits of one class (0o6 at most), with
// its words: 0 none, 1 read, 2 write (a writer can put its own key in
// place).
func access(bits fs.FileMode) (int, string) {
	switch {
	case bits&0o2 != 0:
		return 2, "can change it"
	case bits&0o4 != 0:
		return 1, "can read it"
	}
	return 0, ""
}
