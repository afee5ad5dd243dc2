package verifier

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
)

// openDocument GETs one JSON document from the server (the snapshot or
// the JWKS) and returns its body for the caller to read and close. Both
// documents are fetched and checked the same way; what names the document
// in errors. The request leaves Accept-Encoding to the transport, which
// asks for gzip and decompresses (unless DisableCompression is set).
func (v *Verifier) openDocument(ctx context.Context, what, path string, auth bool, types ...string) (io.ReadCloser, error) {
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
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("verifier: %s: status %d", what, resp.StatusCode)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); !slices.Contains(types, mt) {
		resp.Body.Close()
		return nil, fmt.Errorf("verifier: %s: content type %q is not JSON", what, mt)
	}
	return resp.Body, nil
}

// fetchDocument is openDocument reading the whole body, at most limit
// bytes.
func (v *Verifier) fetchDocument(ctx context.Context, what, path string, auth bool, limit int, types ...string) ([]byte, error) {
	rc, err := v.openDocument(ctx, what, path, auth, types...)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	body, err := io.ReadAll(io.LimitReader(rc, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("verifier: %s: %w", what, err)
	}
	if len(body) > limit {
		return nil, fmt.Errorf("verifier: %s: over %d bytes", what, limit)
	}
	return body, nil
}
