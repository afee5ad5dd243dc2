//go:build unix

package server

import "os"

// syncDir makes a rename in dir durable: writeOwnerOnly's key file is not
// lost to a power cut after its key was stored.
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
