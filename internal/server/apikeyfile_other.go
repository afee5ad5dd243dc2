//go:build !unix

package server

// openNoFollow: no such flag here; writeOwnerOnly's check of the opened
// file still refuses what is not a regular file.
const openNoFollow = 0
