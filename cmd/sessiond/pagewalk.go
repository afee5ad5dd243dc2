package main

import "fmt"

// followed is the set of cursors a walk of pages has followed. A cursor
// names a position that only moves on, so one the server answers again,
// at once or after others (A, B, A…), would have the walk print the same
// pages for ever. One cursor a page: a walk of 100,000 sessions keeps 100.
type followed map[string]struct{}

// follow records cursor, or fails if the walk followed it before.
func (f followed) follow(cursor string) error {
	if _, ok := f[cursor]; ok {
		return fmt.Errorf("the server answered the same cursor %s again", quoted(cursor))
	}
	f[cursor] = struct{}{}
	return nil
}
