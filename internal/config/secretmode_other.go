//go:build !unix

package config

import "io/fs"

// exposure: no mode bits here (Windows: access is the ACL's), so nothing
// is reported.
func exposure(fs.FileInfo) string { return "" }
