package client

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/apitype"
)

// FuzzResponseError: any answer becomes an *Error that keeps the status,
// always has a title, reads the problem code (or the RFC 6749 error) of a
// JSON body and matches the sentinel the code stands for; a body it cannot
// read leaves the code empty, never half a document.
func FuzzResponseError(f *testing.F) {
	f.Add(401, "application/problem+json", "", `{"type":"about:blank","title":"Unauthorized","status":401,"code":"unauthorized","detail":"x"}`)
	f.Add(400, "application/json", "", `{"error":"invalid_client","error_description":"bad"}`)
	f.Add(429, "application/problem+json; charset=utf-8", "3", `{"code":"too_many_requests"}`)
	f.Add(503, "text/html", "+5", `<html>`)
	f.Add(404, "application/problem+json", "", `{"code":"not_found","title":`)
	f.Add(400, "Application/Problem+JSON", "-1", `{"code":"x","code":"y"}`)
	f.Fuzz(func(t *testing.T, status int, ctype, retry, body string) {
		if status < 100 || status > 999 {
			return
		}
		h := http.Header{}
		h.Set("Content-Type", ctype)
		h.Set("Retry-After", retry)
		e := responseError(&http.Response{StatusCode: status, Header: h, Body: io.NopCloser(strings.NewReader(body))})
		if e.Status != status || e.Title == "" && http.StatusText(status) != "" || e.RetryAfter < 0 {
			t.Fatalf("responseError = %+v", e)
		}
		_ = e.Error()
		if e.Code == "" {
			if e.Is(ErrUnauthorized) || e.Is(ErrRateLimited) {
				t.Fatalf("no code, yet matches a code's error: %+v", e)
			}
			return
		}
		if !strings.Contains(body, e.Code) && !strings.Contains(body, `\u`) && !strings.Contains(body, `\`) {
			t.Fatalf("code %q is not in the body %q", e.Code, body)
		}
		if want := apitype.Sentinel(e.Code); want != nil && !errors.Is(e, want) {
			t.Fatalf("code %q does not match its sentinel %v", e.Code, want)
		}
	})
}
