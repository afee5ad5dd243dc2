//go:build !(linux || darwin || freebsd)

package sqlitestore

// fileSystem cannot ask this OS; diskHint then says nothing.
func fileSystem(string) (free uint64, readOnly, ok bool) { return 0, false, false }
