//go:build !unix

package server

// openFileLimit: unknown here (maxConns then uses its default).
func openFileLimit() uint64 { return 0 }
