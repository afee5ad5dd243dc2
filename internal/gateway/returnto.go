package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sessiond/sessiond/httpsession"
)

// ErrBadReturnTo: a return_to that is not a same-origin relative path.
var ErrBadReturnTo = errors.New("gateway: return_to must be a same-origin relative path")

// MaxReturnToBytes bounds a return_to.
const MaxReturnToBytes = 2048

// CleanReturnTo checks that s is a path on this origin, such as
// "/orders?page=2", and returns it unchanged; anything a browser could
// resolve to another origin fails with ErrBadReturnTo: an absolute URL or
// any scheme ("https:", "javascript:"), a network-path reference
// ("//evil.example"), a backslash ("/\evil.example", which browsers read as
// "//"), control characters and whitespace (browsers drop tabs and
// newlines, so "/\t/evil.example" becomes "//evil.example"), and each of
// these percent-encoded, once or several times ("/%2F%2Fevil.example",
// "/%252F%252Fevil.example", "/%5Cevil.example", "%0a"), and any dot
// segment in the path ("." or "..", "%2e" in any case counting as a dot).
// A browser resolves dot segments before it follows a redirect, so
// "/.//evil.example" or "/x/..//evil.example" lands on the path
// "//evil.example", which any route redirecting to its own path (a
// trailing-slash or canonical-path redirect) sends on as a network-path
// reference to another origin. Refusing every dot segment, rather than
// resolving them as a browser would and checking the result, costs
// nothing: browsers resolve them before sending a request, so neither
// check's original path nor a page's location.pathname has one.
func CleanReturnTo(s string) (string, error) {
	if s == "" || len(s) > MaxReturnToBytes {
		return "", fmt.Errorf("%w: empty or longer than %d bytes", ErrBadReturnTo, MaxReturnToBytes)
	}
	for cur, round := s, 0; ; round++ {
		if err := checkReturnTo(cur); err != nil {
			return "", err
		}
		next, err := url.PathUnescape(cur)
		if err != nil {
			return "", fmt.Errorf("%w: bad percent-encoding", ErrBadReturnTo)
		}
		if next == cur {
			break
		}
		if round == 4 {
			return "", fmt.Errorf("%w: encoded too many times", ErrBadReturnTo)
		}
		cur = next
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") {
		return "", fmt.Errorf("%w: not a relative path", ErrBadReturnTo)
	}
	return s, nil
}

// checkReturnTo is one round of CleanReturnTo on a (possibly decoded) form.
func checkReturnTo(s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: not UTF-8", ErrBadReturnTo)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }) {
		return fmt.Errorf("%w: control character or whitespace", ErrBadReturnTo)
	}
	if strings.ContainsRune(s, '\\') {
		return fmt.Errorf("%w: backslash", ErrBadReturnTo)
	}
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") {
		return fmt.Errorf("%w: must start with a single /", ErrBadReturnTo)
	}
	path := s
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	for seg := range strings.SplitSeq(path, "/") {
		// The WHATWG URL parser's single- and double-dot segments.
		if seg = strings.ReplaceAll(strings.ToLower(seg), "%2e", "."); seg == "." || seg == ".." {
			return fmt.Errorf("%w: dot segment", ErrBadReturnTo)
		}
	}
	return nil
}

// ReturnTo is CleanReturnTo for this gateway: it also refuses a path
// into the gateway's own routes. The login route trusts a navigation that
// Sec-Fetch-Site says comes from this origin, and the refresh page
// navigates to its return_to from this origin, for any visitor a
// cross-site link sends there: a return_to of <prefix>/login?code=<the
// attacker's code> would log the visitor into the attacker's account
// (login CSRF). No page of the app is under the prefix, so nothing is
// lost. The path is compared once decoded, without dot segments, empty
// segments or ";" parameters, and in any case, as a proxy in front may
// read it.
func (g *Gateway) ReturnTo(s string) (string, error) {
	s, err := CleanReturnTo(s)
	if err != nil {
		return "", err
	}
	if underPrefix(s, g.prefix) {
		return "", fmt.Errorf("%w: it points into the gateway's own routes (%s)", ErrBadReturnTo, g.prefix)
	}
	return s, nil
}

// underPrefix reports whether return_to s (as CleanReturnTo accepts it)
// names prefix or a path below it.
func underPrefix(s, prefix string) bool {
	p := s
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	for range 5 { // CleanReturnTo allows four rounds of encoding
		next, err := url.PathUnescape(p)
		if err != nil || next == p {
			break
		}
		p = next
	}
	var segs []string
	for _, seg := range strings.Split(p, "/") {
		if i := strings.IndexByte(seg, ';'); i >= 0 {
			seg = seg[:i]
		}
		switch seg {
		case "", ".":
		case "..":
			if len(segs) > 0 {
				segs = segs[:len(segs)-1]
			}
		default:
			segs = append(segs, seg)
		}
	}
	clean := strings.ToLower("/" + strings.Join(segs, "/"))
	prefix = strings.ToLower(strings.TrimSuffix(prefix, "/"))
	return clean == prefix || strings.HasPrefix(clean, prefix+"/")
}

// returnToParam reads a request's return_to values: none gives def, one
// must pass ReturnTo. Anything else is answered with a 400 problem and ok
// is false.
func (g *Gateway) returnToParam(w http.ResponseWriter, values []string, def string) (returnTo string, ok bool) {
	switch len(values) {
	case 0:
		return def, true
	case 1:
		to, err := g.ReturnTo(values[0])
		if err != nil {
			httpsession.WriteProblem(w, http.StatusBadRequest, "invalid_return_to", "Bad request", "return_to must be a same-origin relative path outside the gateway's routes")
			return "", false
		}
		return to, true
	default:
		httpsession.WriteProblem(w, http.StatusBadRequest, "invalid_return_to", "Bad request", "return_to must be given at most once")
		return "", false
	}
}
