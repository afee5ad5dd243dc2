package apikey

import (
	"fmt"
	"slices"
	"strings"

	"github.com/sessiond/sessiond"
)

// Scope is one permission of an API key. Every route of the HTTP API
// requires exactly one; admin grants all of them.
type Scope string

const (
	// ScopeVerify: verify access tokens (POST /v1/sessions/verify,
	// /oauth2/introspect) and follow revocations (GET
	// /v1/revocations/stream and /snapshot, which name the session and
	// subject of every revocation). What a resource server needs, and all.
	ScopeVerify Scope = "verify"
	// ScopeSessionsRead: read sessions (GET /v1/sessions/{id}, a
	// subject's list).
	ScopeSessionsRead Scope = "sessions:read"
	// ScopeSessionsWrite: create, refresh, rotate and revoke sessions,
	// which issues and ends tokens for any subject.
	ScopeSessionsWrite Scope = "sessions:write"
	// ScopeEventsRead: read the security event log (GET /v1/events).
	ScopeEventsRead Scope = "events:read"
	// ScopeSSF: manage Shared Signals streams and poll their SETs (the
	// /v1/ssf/ routes of the transmitter); a key sees only the streams it
	// created, an admin key all of them.
	ScopeSSF Scope = "ssf"
	// ScopeAdmin: everything, including API keys, signing keys, the
	// kill switch (POST /v1/revocations) and webhook deliveries.
	ScopeAdmin Scope = "admin"
)

// Scopes lists every scope, least powerful first.
var Scopes = []Scope{ScopeVerify, ScopeSessionsRead, ScopeSessionsWrite, ScopeEventsRead, ScopeSSF, ScopeAdmin}

// DefaultScopes are those of a key created without any: least privilege,
// verification only. The first key a server generates and SESSIOND_API_KEY
// are admin.
var DefaultScopes = []Scope{ScopeVerify}

// ParseScopes reads scope names, given separately or comma-separated
// ("verify,sessions:read"). Unknown names are an error; duplicates are
// dropped; the result is in the order of Scopes.
func ParseScopes(names ...string) ([]Scope, error) {
	var out []Scope
	for _, n := range names {
		for part := range strings.SplitSeq(n, ",") {
			if part = strings.TrimSpace(part); part != "" {
				out = append(out, Scope(part))
			}
		}
	}
	return cleanScopes(out)
}

// ExactScopes reads scope names each given exactly, as the API's JSON
// array declares them (an enum): "verify,admin" or " admin " is not a
// scope there, although ParseScopes, for a command line, reads them.
func ExactScopes(names ...string) ([]Scope, error) {
	out := make([]Scope, len(names))
	for i, n := range names {
		out[i] = Scope(n)
	}
	return cleanScopes(out)
}

// cleanScopes checks scopes and returns them sorted and unique.
func cleanScopes(scopes []Scope) ([]Scope, error) {
	if len(scopes) == 0 {
		return nil, fmt.Errorf("apikey: %w", &sessiond.ArgumentError{Field: "scopes", Msg: "at least one is required"})
	}
	var out []Scope
	for _, s := range Scopes {
		if slices.Contains(scopes, s) {
			out = append(out, s)
		}
	}
	for _, s := range scopes {
		if !slices.Contains(Scopes, s) {
			return nil, fmt.Errorf("apikey: %w", &sessiond.ArgumentError{Field: "scopes",
				Msg: fmt.Sprintf("unknown scope %q; known: %s", cut(string(s), 32), Join(Scopes))})
		}
	}
	return out, nil
}

// Join writes scopes as a comma-separated list.
func Join(scopes []Scope) string {
	parts := make([]string, len(scopes))
	for i, s := range scopes {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}

func cut(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
