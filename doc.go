// Package sessiond is the shared vocabulary of sessiond: sessions, tokens,
// the Store a backend implements, the errors every layer agrees on, and the
// Manager that creates, verifies, refreshes, rotates and revokes sessions
// under one of three strategies (database, jwt, hybrid).
//
// The package imports only the standard library. Token formats, JWT signing
// and storage live in their own packages (opaquetoken, jwttoken, memstore,
// sqlitestore, pgstore, redisstore) and are handed to New through Options.
// Package setup wires them from a store alone (setup.New): start there.
package sessiond
