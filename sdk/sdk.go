// Package sdk serves sessiond.js, the dependency-free browser client of
// sessiond cookie sessions (auto-refresh, one refresh at a time across tabs,
// logout). Mount Handler at /sdk/sessiond.js; docs/browser.md has the API.
package sdk

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"time"
)

//go:embed sessiond.js
var script []byte

// etag is a strong validator of the embedded script.
var etag = func() string {
	sum := sha256.Sum256(script)
	return `"` + hex.EncodeToString(sum[:12]) + `"`
}()

// Source returns the ES module's text.
func Source() []byte { return bytes.Clone(script) }

// Handler serves the ES module to GET and HEAD with Content-Type
// text/javascript; charset=utf-8, an ETag and a five-minute cache (a new
// release reaches browsers within minutes; If-None-Match makes the
// revalidation cheap). Other methods get 405.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		h.Set("Cache-Control", "public, max-age=300")
		h.Set("X-Content-Type-Options", "nosniff")
		// A public file, no credentials: any origin may import the module.
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("ETag", etag)
		http.ServeContent(w, r, "sessiond.js", time.Time{}, bytes.NewReader(script))
	})
}
