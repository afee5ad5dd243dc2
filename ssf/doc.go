// Package ssf makes sessiond a receiver of the OpenID Shared Signals
// Framework: an identity provider pushes Security Event Tokens (SETs,
// RFC 8417) by HTTP POST (RFC 8935), or sessiond polls them (RFC 8936,
// Poller), and the Receiver ends the sessions they name.
//
// A Receiver is an http.Handler for one transmitter. It verifies each SET
// with go-jose (typ secevent+jwt, an RS256/ES256/EdDSA signature by a key
// of the transmitter's JWKS, iss, aud, the iat window, exp and nbf when
// present, a jti seen only once), maps its subject identifier (RFC 9493)
// to a sessiond subject, and revokes through the Manager: CAEP
// session-revoked naming a session ends that session, every other
// supported event ends all the subject's sessions. Every SET received
// becomes one event of type EventSETReceived, but for refused pushes
// beyond a bound per minute (counted in the next one); the token's text
// is never logged.
//
// A Transmitter makes sessiond a transmitter too: streams managed by API
// key, SETs for its revocations pushed or polled, each stream created,
// changed (its configuration or status) or deleted an event
// (EventStreamCreated, EventStreamUpdated, EventStreamDeleted).
package ssf
