//go:build unix

package server

import (
	"os"
	"syscall"
)

// openNoFollow makes writePendingKey refuse a symbolic link.
const openNoFollow = syscall.O_NOFOLLOW

// syncDir makes a rename in dir durable: a key file moved into place is
// not lost to a power cut after its key was stored.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
