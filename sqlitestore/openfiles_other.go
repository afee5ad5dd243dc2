//go:build !unix

package sqlitestore

// openFileLimit cannot be read here; fileLimitHint then gives no number.
func openFileLimit() uint64 { return 0 }
