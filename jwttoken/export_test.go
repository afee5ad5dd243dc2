package jwttoken

// The reasons Verify gives, for tests that must fail if a token is rejected
// for another reason than the one under test (a jku test passing only
// because the signature is wrong would prove nothing).
var (
	ReasonExpired       = errExpired
	ReasonKind          = errKind
	ReasonEmpty         = errEmpty
	ReasonTooLarge      = errTooLarge
	ReasonCharset       = errCharset
	ReasonSegments      = errSegments
	ReasonMalformed     = errMalformed
	ReasonAlgorithm     = errAlgorithm
	ReasonSignature     = errSignature
	ReasonKeyHeader     = errKeyHeader
	ReasonCritHeader    = errCritHeader
	ReasonUnknownHeader = errUnknownHeader
	ReasonType          = errType
	ReasonNoKid         = errNoKid
	ReasonUnknownKid    = errUnknownKid
	ReasonKeyRetired    = errKeyRetired
	ReasonKeyAlg        = errKeyAlg
	ReasonIssuer        = errIssuer
	ReasonAudience      = errAudience
	ReasonClientID      = errClientID
	ReasonNotYet        = errNotYet
	ReasonIssuedFuture  = errIssuedFuture
	ReasonMissingClaim  = errMissingClaim
	ReasonExpBeforeIat  = errExpBeforeIat
	ReasonStrategy      = errStrategy
	ReasonExt           = errExt
)
