// Package apitype holds the JSON shapes of sessiond's HTTP API and its
// problem codes, written once and imported by both ends: the server
// (internal/httpapi) and the Go client (client). A change here is a change
// to the wire format, which the OpenAPI document and its tests pin down.
package apitype
