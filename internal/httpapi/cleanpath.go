package httpapi

import (
	"net/http"
	"path"
	"strings"
)

// CleanPath is net/http's (unexported) canonical form of a request path,
// the one ServeMux routes and redirects to: rooted, dot segments and
// repeated slashes removed, a trailing slash kept. Given an escaped path
// (URL.EscapedPath, as ServeMux gives it), it keeps its escapes. It
// allocates only for a path it changes.
func CleanPath(p string) string {
	if alreadyClean(p) {
		return p // every routed request: path.Clean would only copy it
	}
	return cleanPathFull(p)
}

// cleanPathFull is CleanPath without its shortcut for a clean path.
func cleanPathFull(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		if len(p) == len(np)+1 && strings.HasPrefix(p, np) {
			return p
		}
		np += "/"
	}
	return np
}

// alreadyClean reports whether CleanPath would return p as it is: rooted,
// and no segment empty (but a trailing one), "." or "..".
func alreadyClean(p string) bool {
	if p == "" || p[0] != '/' {
		return false
	}
	for rest := p[1:]; ; {
		i := strings.IndexByte(rest, '/')
		if i < 0 {
			return rest != "." && rest != ".."
		}
		if seg := rest[:i]; seg == "" || seg == "." || seg == ".." {
			return false
		}
		rest = rest[i+1:]
	}
}

// cleanLocation returns where a request whose path ServeMux would clean
// (a "//", a dot segment) is redirected: the clean escaped path, as the
// client spelled it, and the query. ServeMux's own redirect puts the
// escaped path in URL.Path and so escapes it again ("%2F" became "%252F"):
// followed, it named another resource. CONNECT and "*" are not redirected,
// as ServeMux does not redirect them.
func cleanLocation(r *http.Request) (string, bool) {
	if r.Method == http.MethodConnect || r.RequestURI == "*" {
		return "", false
	}
	p := r.URL.EscapedPath()
	c := CleanPath(p)
	if c == p {
		return "", false
	}
	if r.URL.RawQuery != "" {
		c += "?" + r.URL.RawQuery
	}
	return c, true
}
