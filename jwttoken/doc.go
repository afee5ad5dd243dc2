// Package jwttoken issues and verifies sessiond's JWT access and refresh
// tokens (RFC 9068 access tokens, rt+jwt refresh tokens) with a rotating key
// ring, publishes the ring's public keys as a JWKS, and validates strictly
// per RFC 8725. Signing and verification use github.com/golang-jwt/jwt/v5;
// go-jose is used only for its JSON Web Key encoding.
package jwttoken
