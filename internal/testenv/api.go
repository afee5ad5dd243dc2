package testenv

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// CallAPI sends a request to a JSON API with http.DefaultClient: with the
// bearer key unless it is empty, and body as JSON unless it is empty. It
// decodes the answer into out unless out is nil (a body that is not JSON
// leaves out as it was) and returns the status. It fails tb when the
// request cannot be sent.
func CallAPI(tb testing.TB, method, url, key, body string, out any) int {
	tb.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req := NewRequest(tb, method, url, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	if out != nil {
		_ = json.NewDecoder(res.Body).Decode(out)
	}
	return res.StatusCode
}
