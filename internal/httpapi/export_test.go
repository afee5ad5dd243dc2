package httpapi

import (
	"net/http"

	"github.com/sessiond/sessiond/apitype"
)

// Patterns returns the patterns h registered on its ServeMux, in order.
func Patterns(h http.Handler) []string { return h.(*server).patterns }

// ProblemFor is the error table as writeError applies it.
func ProblemFor(h http.Handler, err error) (status int, code, detail string) {
	return h.(*server).problemFor(err)
}

// ProblemCodes are every problem code the handler can answer.
func ProblemCodes() []string { return apitype.Codes() }

// Document is the embedded OpenAPI document.
var Document = openapiDoc

// FailureLimiter is the ability of a Browser handler to count refused
// credentials, which the gateway must have.
type FailureLimiter = failureLimiter
