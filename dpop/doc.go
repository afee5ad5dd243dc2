// Package dpop verifies DPoP proofs (RFC 9449): a short JWT a client signs
// with its own key for each request, so that an access token bound to that
// key (cnf.jkt) is useless to whoever copies the token without the key.
//
// Every signature check goes through go-jose; this package only adds the
// RFC 9449 rules around it: typ dpop+jwt, an asymmetric algorithm from an
// allow-list, a public jwk in the header, the bound key (cnf.jkt), htm, htu,
// ath, iat, server nonces and jti replay, checked in this order.
package dpop
