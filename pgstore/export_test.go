package pgstore

// SetRevokeBatch sets how many sessions one statement of RevokeMatching
// revokes, so tests can cross batch boundaries with few sessions.
func SetRevokeBatch(s *Store, n int) { s.revokeBatch = n }

// SchemaOf is the schema s keeps its tables in.
func SchemaOf(s *Store) string { return s.schema }
