package config

import "time"

// DPoP configures the DPoP proofs (RFC 9449) the session API checks for
// key-bound sessions (docs/bound-sessions.md).
type DPoP struct {
	// RequireNonce makes every proof carry a server nonce (DPoP-Nonce), so
	// a proof cannot be made in advance. Nodes on one store share the
	// nonces.
	RequireNonce bool `yaml:"require_nonce"`
	// NoncePeriod is how often the nonce changes; a nonce is accepted for
	// one to two periods.
	NoncePeriod Duration `yaml:"nonce_period"`
}

// Bounds of dpop.nonce_period: shorter makes clients retry often, longer
// lets a proof made ahead stay usable longer.
const (
	minNoncePeriod = 10 * time.Second
	maxNoncePeriod = time.Hour
)

// dpopRule checks the dpop section.
var dpopRule = Rule{
	ID: "SD-DPOP-001", Severity: SeverityError,
	Title:     "DPoP nonce period out of range",
	Rationale: "A server nonce bounds how far ahead a DPoP proof can be made (RFC 9449 §8): it must change often enough to matter, but not so often that clients keep retrying with use_dpop_nonce.",
	Fix:       "set dpop.nonce_period between 10s and 1h (default 5m)",
	Check: func(in Input) []Issue {
		p := in.Config.DPoP.NoncePeriod.Std()
		if p < minNoncePeriod || p > maxNoncePeriod {
			return []Issue{issue("dpop.nonce_period", "dpop.nonce_period %s is not between 10s and 1h", p)}
		}
		return nil
	},
}
