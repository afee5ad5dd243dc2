// Package sessiondtest holds test kits for sessiond, imported only by
// _test.go files (like net/http/httptest): the Store conformance suite every
// backend runs, and a fake Clock.
package sessiondtest
