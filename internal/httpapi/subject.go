package httpapi

import "github.com/sessiond/sessiond/internal/subject"

// cleanSubject is the one form a subject takes at the HTTP boundary
// (subject.Normalize): NFC, refused when not valid UTF-8 or holding C1
// controls or bidirectional formatting characters. The library checks the
// rest (length, C0 controls).
func cleanSubject(field, s string) (string, error) { return subject.Normalize(field, s) }
