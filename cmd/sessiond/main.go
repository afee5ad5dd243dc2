// Command sessiond is the session server and its operator's CLI. This
// package only wires: the work is in internal/server, internal/config,
// client and the store packages.
package main

import (
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Environ()))
}
