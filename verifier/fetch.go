package verifier

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
)

// fetchDocument GETs one JSON document from the server (the snapshot or
// the JWKS) and returns its body, at most limit bytes. Both documents are
// fetched and checked the same way; what names the document in errors.
func (v *Verifier) fetchDocument(ctx context.Context, what, path string, auth bool, limit int, types ...string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.base+path, nil)
	if err != nil {
		return nil, fmt.Errorf("verifier: %s: %w", what, err)
	}
	if auth {
		req.Header.Set("Authorization", "Bearer "+string(v.opts.APIKey))
	}
	req.Header.Set("Accept", "application/json")
	resp, err := v.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("verifier: %s: %w", what, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("verifier: %s: status %d", what, resp.StatusCode)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); !slices.Contains(types, mt) {
		return nil, fmt.Errorf("verifier: %s: content type %q is not JSON", what, mt)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("verifier: %s: %w", what, err)
	}
	if len(body) > limit {
		return nil, fmt.Errorf("verifier: %s: over %d bytes", what, limit)
	}
	return body, nil
}
